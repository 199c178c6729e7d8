/**
 * Round-trip benchmark for the ttrpc-ts client, shaped like shimbench-go's
 * `rtt` mode: `-c` callers share one connection and call task v2 Connect (or
 * State) `-n` times per repetition. Prints one JSON line per repetition and a
 * summary line with medians.
 *
 * Usage: `rtt.ts --address <socket> [-c 1] [-n 20000] [--reps 7] [--warmup 2000]
 *         [--rpc connect|state] [--api typed|raw] [--namespace bench]`
 *
 * @module
 */

import { Client, createClient } from "../mod.ts";
import { Task } from "./gen/task_min_pb.ts";

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const address = arg("--address", "");
const c = Number(arg("-c", "1"));
const n = Number(arg("-n", "20000"));
const reps = Number(arg("--reps", "7"));
const warmup = Number(arg("--warmup", "2000"));
const rpc = arg("--rpc", "connect");
const api = arg("--api", "typed");
const namespace = arg("--namespace", "bench");
if (!address) throw new Error("rtt: --address is required");

const client = await Client.dial(address, {
  metadata: { "containerd-namespace-ttrpc": namespace },
});
const task = createClient(Task, client);
const id = `rtt-${process.pid}`;
const idBytes = new TextEncoder().encode(id);
const rawReq = new Uint8Array([0x0a, idBytes.length, ...idBytes]);
const method = rpc === "state" ? "State" : "Connect";

const call: () => Promise<unknown> = api === "raw"
  ? () => client.call("containerd.task.v2.Task", method, rawReq)
  : rpc === "state"
  ? () => task.state({ id })
  : () => task.connect({ id });

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

for (let i = 0; i < warmup; i++) await call();

const results: Array<Record<string, number>> = [];
const per = Math.floor(n / c);
for (let rep = 0; rep < reps; rep++) {
  const lat = new Float64Array(per * c);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, async (_, g) => {
    for (let j = 0; j < per; j++) {
      const t = performance.now();
      await call();
      lat[g * per + j] = performance.now() - t;
    }
  }));
  const elapsed = performance.now() - t0;
  lat.sort();
  const r = {
    rep,
    rtt_p50_us: +(pct(lat, 0.5) * 1000).toFixed(1),
    rtt_p99_us: +(pct(lat, 0.99) * 1000).toFixed(1),
    calls_per_s: Math.round((per * c) / (elapsed / 1000)),
  };
  results.push(r);
  console.log(JSON.stringify({ mode: "rtt", c, api, rpc, ...r }));
}
const median = (k: string) => {
  const v = results.map((r) => r[k]).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)];
};
console.log(JSON.stringify({
  mode: "rtt-summary",
  c,
  api,
  rpc,
  rtt_p50_us_median: median("rtt_p50_us"),
  rtt_p99_us_median: median("rtt_p99_us"),
  calls_per_s_median: median("calls_per_s"),
}));
client.close();
