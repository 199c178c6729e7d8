const t00 = performance.now();
const { TaskManager } = await import("../../../src/task/manager.ts");
const tImp = performance.now() - t00;
import { readFileSync } from "node:fs";
const W = "/tmp/shimkit-bench-prof/life";
const tmpl = JSON.parse(readFileSync("/tmp/shimkit-bench-prof/tmpl.json", "utf8"));
const phases: string[] = [];
let t1 = performance.now();
const tm = await TaskManager.open({ state: W + "/cstate", root: W + "/croot", onPhase: (n, ms) => phases.push(`${n}=${ms.toFixed(1)}`) });
const tOpen = performance.now() - t1;
for (let i = 0; i < 3; i++) {
  phases.length = 0;
  const id = `cold-${process.pid}-${i}`;
  const spec = structuredClone(tmpl); spec.process.args = ["/bin/true"]; spec.process.terminal = false; spec.root = { path: W + "/rootfs", readonly: true }; spec.linux.cgroupsPath = `/shimkit-bench-lib/${id}`;
  const t0 = performance.now();
  const task = await tm.create({ namespace: "bench", id, runtime: "io.containerd.runc.v2", runtimeOptions: { root: W + "/runc" }, spec });
  await task.start(); await task.wait(); await tm.delete("bench", id);
  console.log(`run ${i}: ${(performance.now() - t0).toFixed(1)} ms`, phases.join(" "));
}
await tm.close();
console.log(`import ${tImp.toFixed(1)} ms, open ${tOpen.toFixed(1)} ms`);
