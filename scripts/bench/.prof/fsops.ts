import * as fsp from "node:fs/promises";
import { readFileSync, statSync } from "node:fs";
const f = "/tmp/shimkit-bench-prof/tmpl.json";
for (let k = 0; k < 2; k++) {
  let t = performance.now();
  for (let i = 0; i < 1000; i++) await fsp.readFile(f, "utf8");
  const a = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < 1000; i++) await fsp.stat(f);
  const b = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < 1000; i++) readFileSync(f, "utf8");
  const c = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < 1000; i++) statSync(f);
  const d = (performance.now() - t) / 1000;
  console.log(`async readFile ${(a*1000).toFixed(0)}µs  async stat ${(b*1000).toFixed(0)}µs  readFileSync ${(c*1000).toFixed(0)}µs  statSync ${(d*1000).toFixed(0)}µs`);
}
