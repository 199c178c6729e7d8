/**
 * Container lifecycle: `shimkit run --rm` against `ctr run --rm` through a
 * containerd this script starts (temp dirs, CRI disabled), and the library's
 * per-phase timings (TaskManager `onPhase`) against shimbench-go's direct
 * driver (`lifecycle` mode). Same busybox rootfs, `/bin/true`, alternating runs.
 *
 * Part A (whole process): `shimkit --state S --root R -n NS run --rm --readonly
 * --rootfs ROOTFS --runtime-option root=RUNC ID /bin/true` vs `ctr --address A
 * -n NS run --rm --fifo-dir F --runc-root RUNC --read-only --rootfs ROOTFS ID
 * /bin/true`, alternating, `--runs` measured runs after `--warmup`.
 * Target: shimkit ≤ 0.80× ctr (medians).
 *
 * Part B (library phases): TaskManager create → start → wait → delete in this
 * process, with `onPhase`, alternating in `--rounds` with `shimbench-go
 * lifecycle -args /bin/true` (stdio null, events sink on, same rootfs and spec
 * template). Target: each phase and the RPC path (shim start … Shutdown
 * reply) ≤ 1.05× Go (medians).
 *
 * Usage (root): `bun scripts/bench/lifecycle.ts` or `deno run -A scripts/bench/lifecycle.ts`
 *   [--runs 15] [--warmup 2] [--rounds 4] [--shimkit PATH] [--go true] [--cli true] [--lib true]
 * (`--runs` is per side for part A and per side and round for part B.)
 *
 * @module
 */

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { TaskManager } from "../../src/task/manager.ts";
import {
  benchSpec,
  buildGoPeer,
  buildShimkit,
  type Cleanup,
  emit,
  fmtSpread,
  fmtVerdict,
  machineFacts,
  missingPrerequisite,
  note,
  parseFlags,
  peakRssOf,
  prepareRootfs,
  printTable,
  procMemKb,
  rmdirCgroupParents,
  round,
  runGoPeer,
  spread,
  startContainerd,
  targetMet,
  tempDir,
  timeProcess,
  withCleanup,
} from "./_lib.ts";

const NS_CLI = "shimkit-bench-cli";
const NS_CTR = "shimkit-bench-ctr";
const NS_LIB = "shimkit-bench-lib";
const NS_GO = "shimkit-bench-go";

const flags = parseFlags({ runs: 15, warmup: 2, rounds: 4, shimkit: "", go: true, cli: true, lib: true });

/** Our phase names → shimbench-go's keys; the RPC path is their sum. */
const PHASES: Array<[string, string]> = [
  ["shimStart", "shim_start_ms"],
  ["connect", "connect_ms"],
  ["create", "create_ms"],
  ["start", "start_ms"],
  ["wait", "wait_ms"],
  ["delete", "delete_ms"],
  ["shutdown", "shutdown_rpc_ms"],
];

/** Part A: whole processes, alternating. */
async function partA(c: Cleanup, work: string, shimkit: string, rootfs: string) {
  const ctrd = await startContainerd(c, join(work, "ctrd"));
  const state = join(work, "cli", "state");
  const root = join(work, "cli", "root");
  const runcCli = join(work, "cli", "runc");
  const runcCtr = join(work, "ctrd", "runc");
  const fifo = join(work, "ctrd", "fifo");
  const sk = (id: string) => [
    "--state",
    state,
    "--root",
    root,
    "-n",
    NS_CLI,
    "run",
    "--rm",
    "--readonly",
    "--rootfs",
    rootfs,
    "--runtime-option",
    `root=${runcCli}`,
    id,
    "/bin/true",
  ];
  const ctr = (id: string) => [
    "--address",
    ctrd.address,
    "-n",
    NS_CTR,
    "run",
    "--rm",
    "--fifo-dir",
    fifo,
    "--runc-root",
    runcCtr,
    "--read-only",
    "--rootfs",
    rootfs,
    id,
    "/bin/true",
  ];
  const times = { shimkit: [] as number[], ctr: [] as number[] };
  const total = flags.warmup + flags.runs;
  for (let i = 0; i < total; i++) {
    const warm = i < flags.warmup;
    // Alternate which goes first so neither always follows the other.
    const order: Array<"shimkit" | "ctr"> = i % 2 === 0 ? ["shimkit", "ctr"] : ["ctr", "shimkit"];
    for (const who of order) {
      const id = `${who}-${i}`;
      const r = who === "shimkit" ? await timeProcess(shimkit, sk(id)) : await timeProcess("ctr", ctr(id));
      if (r.code !== 0) throw new Error(`${who} run ${i} exited ${r.code}: ${r.stderr}`);
      emit({ mode: "run-rm", who, run: i, warmup: warm, wall_ms: round(r.ms, 3) });
      if (!warm) times[who].push(r.ms);
    }
  }
  // Process start-up reference: `shimkit version` (no I/O) and `ctr version` (one gRPC call to containerd).
  const startup = { shimkit: [] as number[], ctr: [] as number[] };
  for (let i = 0; i < 11; i++) {
    startup.shimkit.push((await timeProcess(shimkit, ["version"])).ms);
    startup.ctr.push((await timeProcess("ctr", ["--address", ctrd.address, "version"])).ms);
  }
  note("peak RSS pass (3 runs each under /usr/bin/time)");
  const rss = { shimkit: [] as number[], ctr: [] as number[] };
  for (let i = 0; i < 3; i++) {
    rss.shimkit.push(await peakRssOf(shimkit, sk(`shimkit-rss-${i}`)));
    rss.ctr.push(await peakRssOf("ctr", ctr(`ctr-rss-${i}`)));
  }
  const ctrdMem = procMemKb(ctrd.pid);
  await ctrd.stop();
  return { times, rss, ctrdMem, startup };
}

/** Part B, our side: `n` library lifecycles with phase timings. */
async function libRuns(
  tm: TaskManager,
  phases: Map<string, number>,
  spec: (id: string) => Record<string, unknown>,
  runc: string,
  n: number,
  tag: string,
) {
  const out: Array<Record<string, number>> = [];
  for (let i = 0; i < n; i++) {
    const id = `lib-${tag}-${i}`;
    phases.clear();
    const t0 = performance.now();
    const task = await tm.create({
      namespace: NS_LIB,
      id,
      runtime: "io.containerd.runc.v2",
      runtimeOptions: { root: runc },
      spec: spec(id),
    });
    await task.start();
    const exit = await task.wait();
    await tm.delete(NS_LIB, id);
    const total = performance.now() - t0;
    if (exit.exitStatus !== 0) throw new Error(`library run ${id}: /bin/true exited ${exit.exitStatus}`);
    const r: Record<string, number> = { total_ms: total };
    for (const [k, v] of phases) r[`${k}_ms`] = v;
    r.rpc_path_ms = PHASES.reduce((s, [k]) => s + (phases.get(k) ?? 0), 0);
    out.push(r);
  }
  return out;
}

await withCleanup(async (c) => {
  const missing = missingPrerequisite();
  if (missing) {
    console.log(`lifecycle bench skipped: ${missing}`);
    return;
  }
  const facts = await machineFacts();
  emit({ mode: "machine", ...facts });
  const work = await tempDir(c, "shimkit-bench-life-");
  c.add("rmdir cgroup parents", async () => {
    for (const ns of [NS_CLI, NS_CTR, NS_LIB, NS_GO]) await rmdirCgroupParents(ns);
  });
  note("preparing busybox rootfs");
  const { rootfs, template } = await prepareRootfs(work);
  const tmpl = JSON.parse(await (await import("node:fs/promises")).readFile(template, "utf8"));

  // ---------------------------------------------------------------- part A
  let a: Awaited<ReturnType<typeof partA>> | undefined;
  let aError: string | undefined;
  if (flags.cli) {
    let shimkit = flags.shimkit;
    if (!shimkit) {
      note("building the shimkit executable");
      await mkdir(join(work, "bin"));
      shimkit = await buildShimkit(join(work, "bin"));
    }
    note(`part A: ${flags.warmup}+${flags.runs} alternating runs of shimkit run --rm / ctr run --rm`);
    try {
      a = await partA(c, work, shimkit, rootfs);
    } catch (e) {
      aError = (e as Error).message;
      note(`part A failed: ${aError}`);
    }
  }

  // ---------------------------------------------------------------- part B
  const lib: Array<Record<string, number>> = [];
  const go: Array<Record<string, number>> = [];
  let goError: string | undefined;
  let libHwm = -1;
  if (flags.lib) {
    note("building the Go peer");
    const peer = flags.go ? await buildGoPeer(c) : { reason: "disabled (--go false)" };
    goError = peer.reason;
    const phases = new Map<string, number>();
    const tm = await TaskManager.open({
      state: join(work, "lib", "state"),
      root: join(work, "lib", "root"),
      onPhase: (name, ms) => phases.set(name, (phases.get(name) ?? 0) + ms),
    });
    c.add("close task manager", () => tm.close());
    const runc = join(work, "lib", "runc");
    const spec = (id: string) => benchSpec(tmpl, { args: ["/bin/true"], rootfs, namespace: NS_LIB, id });
    const goWork = join(work, "go");
    await mkdir(goWork);
    for (let r = 0; r < flags.rounds; r++) {
      note(`part B round ${r + 1}/${flags.rounds}: library`);
      if (flags.warmup > 0) await libRuns(tm, phases, spec, runc, flags.warmup, `w${r}`);
      for (const row of await libRuns(tm, phases, spec, runc, flags.runs, `r${r}`)) {
        lib.push(row);
        emit({ mode: "lifecycle", side: "shimkit-lib", round: r, ...roundAll(row) });
      }
      if (peer.bin && !goError) {
        note(`part B round ${r + 1}/${flags.rounds}: Go driver`);
        try {
          const rows = await runGoPeer(peer.bin, [
            "lifecycle",
            "-n",
            String(flags.runs),
            "-warmup",
            String(flags.warmup),
            "-args",
            "/bin/true",
            "-work",
            goWork,
            "-namespace",
            NS_GO,
          ]);
          for (const row of rows.filter((x) => x.mode === "lifecycle" && !x.warmup)) {
            go.push(row as Record<string, number>);
            const { events: _e, ...rest } = row;
            emit({ side: "go", round: r, ...rest });
          }
        } catch (e) {
          goError = `run failed: ${(e as Error).message.slice(0, 300)}`;
          note(`Go peer failed: ${goError}`);
        }
      }
    }
    libHwm = procMemKb("self").hwmKb;
  }

  // ---------------------------------------------------------------- report
  console.log(
    `\n## Lifecycle (${facts.runtime}, ${facts.cpus} vCPU, kernel ${facts.kernel}, load ${facts.load1})\n`,
  );
  let ratioA = NaN;
  if (a) {
    const s = spread(a.times.shimkit);
    const t = spread(a.times.ctr);
    ratioA = s.median / t.median;
    console.log(`### A. whole process, /bin/true, ${flags.runs} alternating runs (ms, median (min–max))\n`);
    printTable(["command", "runs", "wall ms", "peak RSS KiB (3 runs)"], [
      ["shimkit run --rm", a.times.shimkit.length, fmtSpread(s), Math.max(...a.rss.shimkit)],
      ["ctr run --rm", a.times.ctr.length, fmtSpread(t), Math.max(...a.rss.ctr)],
      ["shimkit version (start-up reference)", 11, fmtSpread(spread(a.startup.shimkit)), ""],
      ["ctr version (start-up + 1 gRPC call)", 11, fmtSpread(spread(a.startup.ctr)), ""],
    ]);
    console.log(`\nshimkit / ctr: ${fmtVerdict(ratioA, "<=", 0.8)}; containerd RSS ${a.ctrdMem.rssKb} KiB\n`);
  } else if (aError) console.log(`### A. whole process: failed: ${aError}\n`);

  const phaseRows: unknown[][] = [];
  const phaseRatios: Record<string, number> = {};
  if (lib.length > 0) {
    console.log(
      `### B. library phases vs shimbench-go (ms, median (min–max); ${lib.length} vs ${go.length} runs)\n`,
    );
    const rows: Array<[string, string, string]> = [
      ["bundle", "bundle_ms", "bundle_ms"],
      ...PHASES.map(([k, g]) => [k, `${k}_ms`, g] as [string, string, string]),
      ["RPC path (shim start … Shutdown reply)", "rpc_path_ms", "rpc_path_ms"],
      ["total (ours: create() … delete() return; Go: incl. reaping)", "total_ms", "total_ms"],
    ];
    for (const [label, ours, theirs] of rows) {
      const o = spread(lib.map((r) => r[ours]).filter((x) => x !== undefined));
      const g = spread(go.map((r) => r[theirs]).filter((x) => x !== undefined));
      const ratio = o.median / g.median;
      phaseRatios[label] = ratio;
      const judged = label !== "bundle" && !label.startsWith("total");
      phaseRows.push([
        label,
        fmtSpread(o),
        go.length ? fmtSpread(g) : "n/a",
        judged ? fmtVerdict(ratio, "<=", 1.05) : Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : "n/a",
      ]);
    }
    printTable(["phase", "shimkit library", "Go driver", "ratio"], phaseRows);
    console.log(`\nlibrary process peak RSS after all runs: ${libHwm} KiB`);
  }
  if (goError) console.log(`\nGo peer unavailable: ${goError}`);

  const med = (rows: Array<Record<string, number>>, k: string) =>
    round(spread(rows.map((r) => r[k])).median, 3);
  emit({
    mode: "lifecycle-summary",
    runtime: facts.runtime,
    load1: facts.load1,
    runs: flags.runs,
    shimkit_run_rm_ms: a ? round(spread(a.times.shimkit).median, 3) : null,
    ctr_run_rm_ms: a ? round(spread(a.times.ctr).median, 3) : null,
    ratio_run_rm: round(ratioA, 3),
    target_run_rm_met: targetMet(ratioA, "<=", 0.8),
    shimkit_run_rm_peak_rss_kb: a ? Math.max(...a.rss.shimkit) : null,
    ctr_run_rm_peak_rss_kb: a ? Math.max(...a.rss.ctr) : null,
    shimkit_version_ms: a ? round(spread(a.startup.shimkit).median, 3) : null,
    ctr_version_ms: a ? round(spread(a.startup.ctr).median, 3) : null,
    lib_phases_ms: Object.fromEntries(
      [...PHASES.map(([k]) => k), "bundle", "rpc_path", "total"].map((k) => [k, med(lib, `${k}_ms`)]),
    ),
    go_phases_ms: go.length
      ? Object.fromEntries(
        [...PHASES.map(([k, g]) => [k, g]), ["bundle", "bundle_ms"], ["rpc_path", "rpc_path_ms"], [
          "total",
          "total_ms",
        ]].map((
          [k, g],
        ) => [k, med(go, g)]),
      )
      : null,
    phase_ratios: Object.fromEntries(Object.entries(phaseRatios).map(([k, v]) => [k, round(v, 3)])),
    target_rpc_path_met: targetMet(phaseRatios["RPC path (shim start … Shutdown reply)"] ?? NaN, "<=", 1.05),
    lib_hwm_kb: libHwm,
    go_peer: goError ?? "ok",
  });
});

function roundAll(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v, 3)]));
}
