/**
 * TTRPC round trips against a real `containerd-shim-runc-v2`: our client
 * (ttrpc-ts `createClient(Task v2)`) vs shimbench-go's Go client (`rtt -target
 * shim`), alternating runs on the same machine and shim binary.
 *
 * Our side starts one shim holding a running busybox `sleep` container (the
 * same setup as the Go peer, which starts its own), then measures task v2
 * `Connect`:
 *   - sequential: 1 caller, 1 connection, `--n` calls per repetition;
 *   - concurrent: `--c` callers on ONE connection, `--nc` calls per repetition.
 * Per repetition: p50/p99 of per-call latency and calls/s; the result is the
 * median over repetitions (all rounds). Targets: sequential p50 ≤ 0.90× Go,
 * concurrent throughput ≥ 1.3× Go.
 *
 * `--conn native` (default) connects with `src/platform/ttrpc_conn.ts`
 * `dialConn` + `new Client(conn)`: the runtime's own unix socket on Deno
 * (`Deno.connect`) and Bun (`Bun.connect`), ttrpc-ts's `node:net` dial elsewhere. `--conn node` uses ttrpc-ts's
 * `Client.dial` (`node:net`) on every runtime. `--conn both` opens one
 * connection of each kind to the same shim and alternates them within every
 * round (an in-process A/B, far less noisy than comparing two launches).
 *
 * `--floor true` (default) also measures, in the same rounds and on the same
 * shim, the least a client on this runtime can do per call (`ttrpc_floor.ts`:
 * one pre-encoded request, replies matched by stream id, no protobuf). Its
 * ratio to Go is the best any JavaScript client could show against this shim
 * on this machine; ttrpc-ts / floor is what the library itself costs.
 *
 * Usage (root): `bun scripts/bench/ttrpc.ts` or `deno run -A scripts/bench/ttrpc.ts`
 *   [--n 20000] [--nc 40000] [--c 8] [--reps 7] [--warmup 2000] [--rounds 2] [--rpc connect|state]
 *   [--conn native|node|both] [--go true] [--floor true]
 *
 * @module
 */

import { loadavg } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Client, createClient, parseAddress } from "../../vendor/ttrpc-ts/mod.ts";
import { dialConn } from "../../src/platform/ttrpc_conn.ts";
import { ConnectRequestSchema, StateRequestSchema, Task } from "../../src/gen/containerd/task/v2/task_pb.ts";
import { OptionsSchema } from "../../src/gen/containerd/runc/v1/runc_pb.ts";
import {
  buildGoPeer,
  type Cleanup,
  emit,
  fmtSpread,
  fmtVerdict,
  machineFacts,
  missingPrerequisite,
  note,
  parseFlags,
  percentile,
  prepareRootfs,
  printTable,
  procMemKb,
  rmdirCgroupParents,
  round,
  runGoPeer,
  serveEventsSink,
  spread,
  startRawShim,
  stopPid,
  targetMet,
  tempDir,
  waitGone,
  withCleanup,
  writeBundle,
} from "./_lib.ts";
import { connectFloor } from "./ttrpc_floor.ts";

const NS = "shimkit-bench";
const GO_NS = "shimkit-bench-go";

const flags = parseFlags({
  n: 20000,
  nc: 40000,
  c: 8,
  reps: 7,
  warmup: 2000,
  rounds: 2,
  rpc: "connect",
  conn: "native",
  go: true,
  floor: true,
});
/** How our client connects: `dialConn` (native) or ttrpc-ts's `Client.dial` (node). */
type ConnKind = "native" | "node";
const CONNS: ConnKind[] = flags.conn === "both"
  ? ["native", "node"]
  : flags.conn === "native" || flags.conn === "node"
  ? [flags.conn]
  : [];
if (CONNS.length === 0) throw new Error(`--conn "${flags.conn}": want native, node or both`);
/** What our side measures: ttrpc-ts on each connection kind, then the hand-rolled floor (`ttrpc_floor.ts`). */
type Side = ConnKind | "floor";
const SIDES: Side[] = flags.floor ? [...CONNS, "floor"] : [...CONNS];

/** How the progress notes name a side. */
function sideName(kind: Side): string {
  return kind === "floor" ? "floor (hand-rolled)" : `ttrpc-ts (${kind})`;
}

/** ttrpc-ts's sequential p50 and concurrent calls/s over the floor's. */
function floorRatios(
  ours: { seq: Rep[]; con: Rep[] },
  floor: { seq: Rep[]; con: Rep[] },
  s: (reps: Rep[], k: keyof Rep) => { median: number },
): { p50: number; rate: number } {
  return {
    p50: s(ours.seq, "p50").median / s(floor.seq, "p50").median,
    rate: s(ours.con, "rate").median / s(floor.con, "rate").median,
  };
}

/** One repetition's figures. */
interface Rep {
  p50: number;
  p99: number;
  rate: number;
}

/** Runs `callers` loops of `per` calls each; returns per-call latencies (µs) and calls/s. */
async function measure(call: () => Promise<unknown>, callers: number, total: number): Promise<Rep> {
  const per = Math.floor(total / callers);
  const lat = new Float64Array(per * callers);
  const t0 = performance.now();
  const loops: Promise<void>[] = [];
  for (let g = 0; g < callers; g++) {
    loops.push((async () => {
      const base = g * per;
      for (let j = 0; j < per; j++) {
        const t = performance.now();
        await call();
        lat[base + j] = performance.now() - t;
      }
    })());
  }
  await Promise.all(loops);
  const elapsed = performance.now() - t0;
  lat.sort();
  return {
    p50: percentile(lat, 0.5) * 1000,
    p99: percentile(lat, 0.99) * 1000,
    rate: (per * callers) / (elapsed / 1000),
  };
}

/** Our side: one shim with a running sleep container, measured `reps` times for each shape. */
async function ours(c: Cleanup, work: string, template: string, rootfs: string, reps: number) {
  const id = `rtt-ts-${process.pid}`;
  const bundle = join(work, "bundles", NS, id);
  await writeBundle({ template, dir: bundle, args: ["sleep", "100000"], rootfs, namespace: NS, id });
  const address = join(work, "containerd.sock");
  await serveEventsSink(c, `${address}.ttrpc`);
  const shim = await startRawShim(c, {
    bundle,
    namespace: NS,
    id,
    address,
    ttrpcAddress: `${address}.ttrpc`,
  });
  const clientOptions = { metadata: { "containerd-namespace-ttrpc": NS } };
  const clients = new Map<ConnKind, Client>();
  for (const kind of CONNS) {
    clients.set(
      kind,
      kind === "node"
        ? await Client.dial(shim.address, clientOptions)
        : new Client(await dialConn(shim.address), clientOptions),
    );
  }
  const client = clients.get(CONNS[0])!;
  const task = createClient(Task, client);
  const { shimPid } = await task.connect({ id });
  c.add(`stop shim ${shimPid}`, async () => {
    if (!client.closed) {
      await task.kill({ id, signal: 9, all: true }).catch(() => {});
      await task.wait({ id }).catch(() => {});
      await task.delete({ id }).catch(() => {});
      await task.shutdown({ id }).catch(() => {});
    }
    for (const cl of clients.values()) cl.close();
    if (!(await waitGone(shimPid, 5000))) await stopPid(shimPid, "SIGKILL");
  });
  const options = {
    typeUrl: "containerd.runc.v1.Options",
    value: toBinary(OptionsSchema, create(OptionsSchema, { root: join(work, "runc") })),
  };
  await task.create({ id, bundle, options });
  await task.start({ id });

  const calls = new Map<Side, () => Promise<unknown>>();
  for (const [kind, cl] of clients) {
    const t = createClient(Task, cl);
    const call: () => Promise<unknown> = flags.rpc === "state"
      ? () => t.state({ id })
      : () => t.connect({ id });
    for (let i = 0; i < flags.warmup; i++) await call();
    calls.set(kind, call);
  }
  if (flags.floor) {
    const floor = await connectFloor(parseAddress(shim.address).path, {
      service: Task.typeName,
      method: flags.rpc === "state" ? "State" : "Connect",
      payload: flags.rpc === "state"
        ? toBinary(StateRequestSchema, create(StateRequestSchema, { id }))
        : toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { id })),
      metadata: clientOptions.metadata,
    });
    c.add("close floor client", () => floor.close());
    const call = () => floor.call();
    for (let i = 0; i < flags.warmup; i++) await call();
    calls.set("floor", call);
  }
  return {
    shimPid,
    async run(kind: Side, callers: number, total: number): Promise<Rep[]> {
      const call = calls.get(kind)!;
      const out: Rep[] = [];
      for (let r = 0; r < reps; r++) {
        const rep = await measure(call, callers, total);
        out.push(rep);
        emit({
          mode: "rtt",
          side: kind === "floor" ? "floor" : "ttrpc-ts",
          conn: kind === "floor" ? undefined : kind,
          rpc: flags.rpc,
          c: callers,
          rep: r,
          rtt_p50_us: round(rep.p50, 1),
          rtt_p99_us: round(rep.p99, 1),
          calls_per_s: Math.round(rep.rate),
        });
      }
      return out;
    },
  };
}

/** The Go side: one `shimbench-go rtt -target shim` run (its own shim + sleep container). */
async function goRun(
  bin: string,
  work: string,
  callers: number,
  total: number,
  reps: number,
): Promise<Rep[]> {
  const rows = await runGoPeer(bin, [
    "rtt",
    "-target",
    "shim",
    "-rpc",
    String(flags.rpc),
    "-c",
    String(callers),
    "-n",
    String(total),
    "-reps",
    String(reps),
    "-warmup",
    String(flags.warmup),
    "-work",
    work,
    "-namespace",
    GO_NS,
  ]);
  const out: Rep[] = [];
  for (const r of rows.filter((r) => r.mode === "rtt")) {
    out.push({ p50: Number(r.rtt_p50_us), p99: Number(r.rtt_p99_us), rate: Number(r.calls_per_s) });
    emit({
      mode: "rtt",
      side: "go",
      rpc: flags.rpc,
      c: callers,
      rep: r.rep,
      rtt_p50_us: r.rtt_p50_us,
      rtt_p99_us: r.rtt_p99_us,
      calls_per_s: r.calls_per_s,
    });
  }
  return out;
}

await withCleanup(async (c) => {
  const missing = missingPrerequisite();
  if (missing) {
    console.log(`ttrpc bench skipped: ${missing}`);
    return;
  }
  const facts = await machineFacts();
  emit({ mode: "machine", ...facts });
  const work = await tempDir(c, "shimkit-bench-ttrpc-");
  c.add("rmdir cgroup parents", async () => {
    await rmdirCgroupParents(NS);
    await rmdirCgroupParents(GO_NS);
  });
  note("preparing busybox rootfs");
  const { rootfs, template } = await prepareRootfs(work);
  note("building the Go peer");
  const peer = flags.go ? await buildGoPeer(c) : { reason: "disabled (--go false)" };
  if (peer.reason) note(`Go peer unavailable: ${peer.reason}`);

  const side = await ours(c, work, template, rootfs, flags.reps);
  const ts = new Map(SIDES.map((k) => [k, { seq: [] as Rep[], con: [] as Rep[] }]));
  const res = { goSeq: [] as Rep[], goCon: [] as Rep[] };
  let goError: string | undefined = peer.reason;
  const runGo = async (callers: number, total: number, into: Rep[]) => {
    if (!peer.bin || goError) return;
    try {
      into.push(...await goRun(peer.bin, work, callers, total, flags.reps));
    } catch (e) {
      goError = `run failed: ${(e as Error).message.slice(0, 300)}`;
      note(`Go peer failed: ${goError}`);
    }
  };
  for (let round_ = 0; round_ < flags.rounds; round_++) {
    const order = round_ % 2 === 0 ? SIDES : [...SIDES].reverse();
    const tag = `round ${round_ + 1}/${flags.rounds}`;
    for (const kind of order) {
      note(`${tag}: ${sideName(kind)} sequential`);
      ts.get(kind)!.seq.push(...await side.run(kind, 1, flags.n));
    }
    note(`${tag}: Go sequential`);
    await runGo(1, flags.n, res.goSeq);
    for (const kind of order) {
      note(`${tag}: ${sideName(kind)} ${flags.c} callers`);
      ts.get(kind)!.con.push(...await side.run(kind, flags.c, flags.nc));
    }
    note(`${tag}: Go ${flags.c} callers`);
    await runGo(flags.c, flags.nc, res.goCon);
  }
  const shimMem = procMemKb(side.shimPid);
  const selfMem = procMemKb("self");

  const s = (reps: Rep[], k: keyof Rep) => spread(reps.map((r) => r[k]));
  const label = (kind: Side) =>
    kind === "floor" ? "floor" : CONNS.length > 1 ? `ttrpc-ts (${kind})` : "ttrpc-ts";
  const rows: Array<[string, string, Rep[]]> = [];
  for (const kind of SIDES) rows.push([label(kind), "1 caller, 1 conn", ts.get(kind)!.seq]);
  rows.push(["Go ttrpc", "1 caller, 1 conn", res.goSeq]);
  for (const kind of SIDES) rows.push([label(kind), `${flags.c} callers, 1 conn`, ts.get(kind)!.con]);
  rows.push(["Go ttrpc", `${flags.c} callers, 1 conn`, res.goCon]);
  console.log(
    `\n## TTRPC ${flags.rpc === "state" ? "State" : "Connect"} round trips on containerd-shim-runc-v2 ` +
      `(${facts.runtime}, --conn ${flags.conn}, ${facts.cpus} vCPU, median over reps (min–max))\n`,
  );
  printTable(
    ["client", "shape", "reps", "p50 µs", "p99 µs", "calls/s"],
    rows.map(([who, shape, reps]) =>
      reps.length === 0 ? [who, shape, 0, "n/a", "n/a", "n/a"] : [
        who,
        shape,
        reps.length,
        fmtSpread(s(reps, "p50"), 1),
        fmtSpread(s(reps, "p99"), 1),
        fmtSpread(s(reps, "rate"), 0),
      ]
    ),
  );
  /** Medians of one side and its ratios to Go. */
  const summarize = (kind: Side) => {
    const { seq, con } = ts.get(kind)!;
    const p50Ratio = s(seq, "p50").median / s(res.goSeq, "p50").median;
    const seqRateRatio = s(seq, "rate").median / s(res.goSeq, "rate").median;
    const conRateRatio = s(con, "rate").median / s(res.goCon, "rate").median;
    return {
      p50Ratio,
      seqRateRatio,
      conRateRatio,
      json: {
        ts_seq_p50_us: round(s(seq, "p50").median, 1),
        ts_seq_p99_us: round(s(seq, "p99").median, 1),
        ts_seq_calls_per_s: Math.round(s(seq, "rate").median),
        ts_con_p50_us: round(s(con, "p50").median, 1),
        ts_con_p99_us: round(s(con, "p99").median, 1),
        ts_con_calls_per_s: Math.round(s(con, "rate").median),
        ratio_seq_p50: round(p50Ratio, 3),
        ratio_seq_calls_per_s: round(seqRateRatio, 3),
        ratio_con_calls_per_s: round(conRateRatio, 3),
        target_seq_p50_met: targetMet(p50Ratio, "<=", 0.9),
        target_con_rate_met: targetMet(conRateRatio, ">=", 1.3),
      },
    };
  };
  const sums = new Map(SIDES.map((k) => [k, summarize(k)]));
  for (const kind of SIDES) {
    const { p50Ratio, seqRateRatio, conRateRatio } = sums.get(kind)!;
    console.log("");
    // The floor is no product: its ratios show what any client could reach here, not a target.
    const verdict = (r: number, op: "<=" | ">=", t: number) =>
      kind === "floor" ? (Number.isFinite(r) ? `${r.toFixed(2)}×` : "n/a") : fmtVerdict(r, op, t);
    printTable([`ratio ${label(kind)} / Go`, "value"], [
      ["sequential p50 RTT", verdict(p50Ratio, "<=", 0.9)],
      ["sequential calls/s", Number.isFinite(seqRateRatio) ? `${seqRateRatio.toFixed(2)}×` : "n/a"],
      [`${flags.c}-caller calls/s`, verdict(conRateRatio, ">=", 1.3)],
    ]);
  }
  const floorSums = flags.floor ? floorRatios(ts.get(CONNS[0])!, ts.get("floor")!, s) : undefined;
  if (floorSums) {
    console.log("");
    printTable([`ratio ${label(CONNS[0])} / floor`, "value"], [
      ["sequential p50 RTT", `${floorSums.p50.toFixed(2)}×`],
      [`${flags.c}-caller calls/s`, `${floorSums.rate.toFixed(2)}×`],
    ]);
  }
  if (goError) console.log(`\nGo peer unavailable: ${goError}`);
  console.log(
    `\nshim peak RSS after the runs: ${shimMem.hwmKb} KiB; this client's peak RSS: ${selfMem.hwmKb} KiB`,
  );
  emit({
    mode: "rtt-summary",
    runtime: facts.runtime,
    conn: flags.conn,
    rpc: flags.rpc,
    n: flags.n,
    nc: flags.nc,
    c: flags.c,
    reps_per_round: flags.reps,
    rounds: flags.rounds,
    // The top-level ttrpc-ts figures are the first kind's (native for --conn both); by_conn has each.
    ...sums.get(CONNS[0])!.json,
    go_seq_p50_us: round(s(res.goSeq, "p50").median, 1),
    go_seq_p99_us: round(s(res.goSeq, "p99").median, 1),
    go_seq_calls_per_s: Math.round(s(res.goSeq, "rate").median),
    go_con_p50_us: round(s(res.goCon, "p50").median, 1),
    go_con_p99_us: round(s(res.goCon, "p99").median, 1),
    go_con_calls_per_s: Math.round(s(res.goCon, "rate").median),
    by_conn: CONNS.length > 1 ? Object.fromEntries(CONNS.map((k) => [k, sums.get(k)!.json])) : undefined,
    floor: flags.floor ? sums.get("floor")!.json : undefined,
    ratio_ts_to_floor_seq_p50: floorSums ? round(floorSums.p50, 3) : undefined,
    ratio_ts_to_floor_con_calls_per_s: floorSums ? round(floorSums.rate, 3) : undefined,
    go_peer: goError ?? "ok",
    load1_start: facts.load1,
    load1_end: round(loadavg()[0], 2),
    shim_hwm_kb: shimMem.hwmKb,
    client_hwm_kb: selfMem.hwmKb,
  });
});
