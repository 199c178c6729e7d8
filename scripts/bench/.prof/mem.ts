import { readFileSync } from "node:fs";
const hwm = () => /VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1];
const a = hwm();
await import("../../../src/task/manager.ts");
const b = hwm();
await import("../../../src/shim/loader.ts");
console.log(`bare ${a} KiB, after importing manager ${b} KiB, + loader ${hwm()} KiB`);
