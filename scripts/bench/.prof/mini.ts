import * as net from "node:net";
import { Client } from "/work/main/vendor/ttrpc-ts/mod.ts";
import { encodeRequestPrefix, requestSize, writeRequestFrame } from "/work/main/vendor/ttrpc-ts/src/envelope.ts";
const sock = process.argv[2];
const style = process.argv[3] ?? "promise";
const N = 20000;
function pct(a: Float64Array, q: number) { return a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)]; }
const md = new Uint8Array(0);
const prefix = encodeRequestPrefix("containerd.task.v2.Task", "Connect");
const payload = new Uint8Array([0x0a, 1, 0x61]);
const size = requestSize(prefix, payload, 0, md);
const s = net.createConnection(sock);
await new Promise((r) => s.once("connect", r));
let pending: (() => void) | null = null;
let id = 1;
s.on("data", (_c: Uint8Array) => { const p = pending; pending = null; p?.(); });
function call(): Promise<void> {
  const f = writeRequestFrame(id, 0, size, prefix, payload, 0, md); id += 2;
  return new Promise<void>((r) => { pending = r; if (style === "micro") queueMicrotask(() => s.write(f)); else s.write(f); });
}
for (let rep = 0; rep < 3; rep++) {
  const lat = new Float64Array(N);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) { const t = performance.now(); await call(); lat[i] = performance.now() - t; }
  const el = performance.now() - t0; lat.sort();
  console.log(style, "p50us", (pct(lat, 0.5) * 1000).toFixed(1), "rate", Math.round(N / el * 1000));
}
s.destroy();
