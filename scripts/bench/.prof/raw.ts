import { spawn } from "node:child_process";
import * as net from "node:net";
const bin = "/tmp/shimkit-bench-prof/shimbench-go";
const mode = process.argv[2] ?? "node";
async function server(sock: string) {
  const p = spawn(bin, ["rawping-server", "-socket", sock], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((r) => p.stdout!.once("data", () => r()));
  return p;
}
function pct(a: Float64Array, q: number) { return a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)]; }
const N = 20000;
for (let rep = 0; rep < 3; rep++) {
  const sock = `/tmp/shimkit-bench-prof/raw-${process.pid}-${rep}.sock`;
  const p = await server(sock);
  const lat = new Float64Array(N);
  const one = new Uint8Array([1]);
  let t0 = 0;
  if (mode === "node") {
    const s = net.createConnection(sock);
    await new Promise((r) => s.once("connect", r));
    let i = -1; let done!: () => void; const fin = new Promise<void>((r) => done = r);
    let t = 0;
    s.on("data", () => { if (i >= 0) lat[i] = performance.now() - t; i++; if (i === N) { done(); return; } t = performance.now(); s.write(one); });
    t0 = performance.now(); t = t0; i = 0; s.write(one);
    // first reply increments
    i = -1; 
    await fin; s.destroy();
  } else {
    // @ts-ignore
    const c = await Deno.connect({ transport: "unix", path: sock });
    const buf = new Uint8Array(1);
    t0 = performance.now();
    for (let i = 0; i < N; i++) { const t = performance.now(); await c.write(one); await c.read(buf); lat[i] = performance.now() - t; }
    c.close();
  }
  const el = performance.now() - t0;
  p.kill();
  lat.sort();
  console.log(mode, "p50us", (pct(lat, 0.5) * 1000).toFixed(1), "p99us", (pct(lat, 0.99) * 1000).toFixed(1), "rate", Math.round(N / el * 1000));
}
