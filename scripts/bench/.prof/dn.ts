import { encodeRequestPrefix, requestSize, writeRequestFrame } from "../../../vendor/ttrpc-ts/src/envelope.ts";
const sock = process.argv[2];
const N = 20000;
function pct(a: Float64Array, q: number) { return a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)]; }
const payload = new Uint8Array([0x0a, 1, 0x61]);
const prefix = encodeRequestPrefix("containerd.task.v2.Task", "Connect");
const md = new Uint8Array(0);
const size = requestSize(prefix, payload, 0, md);
// @ts-ignore
const c = await Deno.connect({ transport: "unix", path: sock });
const buf = new Uint8Array(65536);
let p: any = null;
(async () => { for (;;) { const n = await c.read(buf); if (n === null) break; const q = p; p = null; q?.(); } })();
let id = 1;
const call = () => new Promise<void>((r) => { p = r; c.write(writeRequestFrame(id, 0, size, prefix, payload, 0, md)); id += 2; });
for (let i = 0; i < 2000; i++) await call();
const r: number[] = [];
for (let rep = 0; rep < 3; rep++) {
  const lat = new Float64Array(N);
  for (let i = 0; i < N; i++) { const t = performance.now(); await call(); lat[i] = performance.now() - t; }
  lat.sort(); r.push(pct(lat, 0.5) * 1000);
}
console.log("E deno-native".padEnd(14), r.map((x) => x.toFixed(1)).join(" "));
c.close();
