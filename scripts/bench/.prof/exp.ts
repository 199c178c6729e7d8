import * as net from "node:net";
import { Client, FrameDecoder, decodeResponse, type Conn } from "../../../vendor/ttrpc-ts/mod.ts";
import { encodeRequestPrefix, requestSize, writeRequestFrame } from "../../../vendor/ttrpc-ts/src/envelope.ts";
const sock = process.argv[2];
const N = 20000;
function pct(a: Float64Array, q: number) { return a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)]; }
const payload = new Uint8Array([0x0a, 1, 0x61]);
async function bench(name: string, call: () => Promise<unknown>) {
  for (let i = 0; i < 2000; i++) await call();
  const r: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const lat = new Float64Array(N);
    for (let i = 0; i < N; i++) { const t = performance.now(); await call(); lat[i] = performance.now() - t; }
    lat.sort(); r.push(pct(lat, 0.5) * 1000);
  }
  console.log(name.padEnd(14), r.map((x) => x.toFixed(1)).join(" "));
}
async function connect() { const s = net.createConnection(sock); await new Promise((r) => s.once("connect", r)); return s; }
const variant = process.argv[3];
if (variant === "A") {
  const c = await Client.dial(sock);
  await bench("A client.call", () => c.call("containerd.task.v2.Task", "Connect", payload));
  c.close();
} else if (variant === "B") {
  const s = await connect();
  const conn: Conn = { start(h) { s.on("data", (d: Uint8Array) => h.data(d)); s.on("close", () => h.close()); }, write(b) { s.write(b); }, close() { s.destroy(); }, destroy() { s.destroy(); } };
  const c = new Client(conn);
  await bench("B directConn", () => c.call("containerd.task.v2.Task", "Connect", payload));
  c.close();
} else if (variant === "C") {
  const s = await connect();
  const dec = new FrameDecoder();
  const prefix = encodeRequestPrefix("containerd.task.v2.Task", "Connect");
  const md = new Uint8Array(0);
  const size = requestSize(prefix, payload, 0, md);
  let id = 1; const pend = new Map<number, (v: Uint8Array) => void>();
  s.on("data", (d: Uint8Array) => { for (const f of dec.push(d)) { const p = pend.get(f.streamId); pend.delete(f.streamId); p?.(decodeResponse(f.data).payload); } });
  await bench("C mini+dec", () => new Promise((r) => { const i = id; id += 2; pend.set(i, r); s.write(writeRequestFrame(i, 0, size, prefix, payload, 0, md)); }));
  s.destroy();
} else if (variant === "D") {
  const s = await connect();
  const prefix = encodeRequestPrefix("containerd.task.v2.Task", "Connect");
  const md = new Uint8Array(0);
  const size = requestSize(prefix, payload, 0, md);
  let id = 1; let p: any;
  s.on("data", (d: Uint8Array) => { const q = p; p = null; q(d); });
  await bench("D mini", () => new Promise((r) => { p = r; s.write(writeRequestFrame(id, 0, size, prefix, payload, 0, md)); id += 2; }));
  s.destroy();
}
