import { spawnSync, execFile } from "node:child_process";
const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
const cmd = process.argv[2];
const w: number[] = [];
for (let i = 0; i < 21; i++) { const t = performance.now(); spawnSync(cmd, ["version"], { stdio: "ignore" }); w.push(performance.now() - t); }
console.log("shimkit version wall ms", med(w).toFixed(2));
const m: number[] = [];
for (let i = 0; i < 21; i++) { const t = performance.now(); await new Promise((r) => execFile("mkfifo", ["-m", "0600", `/tmp/shimkit-bench-prof/ff${i}`], r)); m.push(performance.now() - t); }
console.log("mkfifo via execFile ms", med(m).toFixed(2));
const c: number[] = [];
for (let i = 0; i < 21; i++) { const t = performance.now(); spawnSync("ctr", ["--address", "/nonexistent", "--help"], { stdio: "ignore" }); c.push(performance.now() - t); }
console.log("ctr --help wall ms", med(c).toFixed(2));
