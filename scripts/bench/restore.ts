/**
 * Restore: reconnecting to N running shims from disk, against containerd
 * restarting with N running tasks.
 *
 * For each N in `--ns` (default 10, 50, 100), N busybox `sleep` containers
 * run, started with `shimkit run -d` (the count grows between steps), and the
 * same number through a containerd this script starts (`ctr run -d`, temp
 * dirs, CRI disabled; the method of peers/restore-anchor.sh). Then, `--reps`
 * times, alternating:
 *   - `shimkit load` in a fresh process (wall time; the compiled executable);
 *   - a fresh library process (this runtime) that opens a TaskManager, loads
 *     every shim with `loadExisting` and, while holding all N connections,
 *     reports its peak RSS (VmHWM) and how long the load took;
 *   - containerd stopped (SIGTERM by pid) and started again, timed from its
 *     exec until `ctr tasks ls` lists all N as RUNNING.
 * Targets: `shimkit load` ≤ 1.0× containerd's restart; the holding process's
 * peak RSS ≤ 64 MiB at N=100. Linearity is shown as ms per shim.
 *
 * Usage (root): `bun scripts/bench/restore.ts` or `deno run -A scripts/bench/restore.ts`
 *   [--ns 10,50,100] [--reps 3] [--shimkit PATH] [--ctr true]
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { TaskManager } from "../../src/task/manager.ts";
import { loadExisting } from "../../src/shim/loader.ts";
import { createRuntimeResolver } from "../../src/runtime/resolve.ts";
import {
  buildShimkit,
  type Cleanup,
  type Containerd,
  emit,
  fmtSpread,
  fmtVerdict,
  machineFacts,
  missingPrerequisite,
  note,
  parseFlags,
  peakRssOf,
  pidsMatching,
  prepareRootfs,
  printTable,
  procMemKb,
  rmdirCgroupParents,
  round,
  run,
  runtimeId,
  sleep,
  spread,
  startContainerd,
  stopPid,
  targetMet,
  tempDir,
  timeProcess,
  withCleanup,
} from "./_lib.ts";

const NS = "shimkit-bench-restore";
const NS_CTR = "shimkit-bench-restore-ctr";
const RSS_TARGET_KB = 64 * 1024;

const flags = parseFlags({ ns: "10,50,100", reps: 3, shimkit: "", ctr: true, hold: "" });

/** Child mode: load every shim of STATE,ROOT in this fresh process, report, close (shims keep running). */
async function hold(state: string, root: string): Promise<void> {
  const t0 = performance.now();
  const tm = await TaskManager.open({ state, root });
  const report = await loadExisting(tm, {
    state,
    root,
    resolver: createRuntimeResolver({ path: process.env.PATH }),
  });
  const loadMs = performance.now() - t0;
  const held = tm.shims.list().filter((s) => !s.connection.closed).length;
  const mem = procMemKb("self");
  const line: HoldReport = {
    mode: "hold",
    kept: report.kept.length,
    held,
    reaped: report.reaped.length,
    errors: report.errors.map((e) => e.message).slice(0, 3),
    load_ms: round(loadMs, 3),
    since_process_start_ms: round(performance.now(), 3),
    hwm_kb: mem.hwmKb,
    rss_kb: mem.rssKb,
  };
  console.log(JSON.stringify(line));
  await tm.close();
}

/** What the library process reports (one JSON line). */
interface HoldReport {
  mode: "hold";
  kept: number;
  held: number;
  reaped: number;
  errors: string[];
  load_ms: number;
  since_process_start_ms: number;
  hwm_kb: number;
  rss_kb: number;
}

/** The figures of one N. */
interface SizeResult {
  n: number;
  cli: number[];
  lib: number[];
  libWall: number[];
  hwm: number[];
  ctrMs: number[];
  ctrRss: number;
  cliRss: number;
}

/** Runs this script as a fresh library process in the same runtime. */
function spawnHold(state: string, root: string): Promise<{ wallMs: number; out: HoldReport }> {
  const script = new URL(import.meta.url).pathname;
  const argv = runtimeId().startsWith("Deno/")
    ? ["run", "-A", script, "--hold", `${state},${root}`]
    : [script, "--hold", `${state},${root}`];
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    child.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
    child.on("exit", (code) => {
      const wallMs = performance.now() - t0;
      setTimeout(() => {
        const line = out.split("\n").find((l) => l.startsWith('{"mode":"hold"'));
        if (code !== 0 || !line) {
          reject(new Error(`library load process exited ${code}: ${err.trim().slice(0, 500)}`));
        } else resolve({ wallMs, out: JSON.parse(line) });
      }, 20);
    });
  });
}

/** Counts RUNNING tasks through ctr (fails fast while containerd is not up). */
async function ctrRunning(address: string): Promise<number> {
  try {
    const out = await run("ctr", ["--address", address, "--timeout", "1s", "-n", NS_CTR, "tasks", "ls"], {
      timeoutMs: 5000,
    });
    return out.split("\n").filter((l) => /\bRUNNING\b/.test(l)).length;
  } catch {
    return -1;
  }
}

/** Stops containerd (shims survive), starts it again, and times until all n tasks list as RUNNING. */
async function restartContainerd(ctrd: Containerd, n: number): Promise<{ ms: number; rssKb: number }> {
  await ctrd.stop();
  const t0 = performance.now();
  await ctrd.restart();
  while (true) {
    const running = await ctrRunning(ctrd.address);
    if (running >= n) break;
    if (performance.now() - t0 > 120_000) throw new Error(`containerd restore timed out at ${running}/${n}`);
    await sleep(5);
  }
  const ms = performance.now() - t0;
  return { ms, rssKb: procMemKb(ctrd.pid).rssKb };
}

async function main(c: Cleanup): Promise<void> {
  const missing = missingPrerequisite();
  if (missing) {
    console.log(`restore bench skipped: ${missing}`);
    return;
  }
  const sizes = String(flags.ns).split(",").map(Number).filter((x) => x > 0).sort((a, b) => a - b);
  const facts = await machineFacts();
  emit({ mode: "machine", ...facts });
  const work = await tempDir(c, "shimkit-bench-restore-");
  c.add("rmdir cgroup parents", async () => {
    await rmdirCgroupParents(NS);
    await rmdirCgroupParents(NS_CTR);
  });
  note("preparing busybox rootfs");
  const { rootfs } = await prepareRootfs(work);
  let shimkit = String(flags.shimkit);
  if (!shimkit) {
    note("building the shimkit executable");
    await mkdir(join(work, "bin"));
    shimkit = await buildShimkit(join(work, "bin"));
  }
  const state = join(work, "sk", "state");
  const root = join(work, "sk", "root");
  const runc = join(work, "sk", "runc");
  const sk = (...args: string[]) => ["--state", state, "--root", root, "-n", NS, ...args];
  const probe = await timeProcess(shimkit, ["load", "--help"]);
  const loadCli = probe.code === 0 && !/not available/.test(probe.stderr);
  if (!loadCli) {
    note(`shimkit load unavailable in this build (${probe.stderr.split("\n")[0]}); timing the library only`);
  }

  // Our containers: removed by the CLI (delete --force), then by the library, then any shim left by pid.
  const skIds: string[] = [];
  c.add("remove shimkit containers", async () => {
    if (skIds.length === 0) return;
    const r = await timeProcess(shimkit, sk("delete", "--force", ...skIds));
    if (r.code !== 0) {
      note(`shimkit delete --force exited ${r.code}; deleting through the library`);
      const tm = await TaskManager.open({ state, root, events: false });
      for (const id of skIds) await tm.delete(NS, id, { force: true }).catch(() => {});
      await tm.close();
    }
    for (const pid of await pidsMatching(`-namespace ${NS} `)) {
      note(`shim ${pid} still running after delete: stopping it`);
      await stopPid(pid, "SIGKILL");
    }
  });

  let ctrd: Containerd | undefined;
  const ctrIds: string[] = [];
  const ctrDir = join(work, "ctrd");
  if (flags.ctr) {
    ctrd = await startContainerd(c, ctrDir);
    const daemon = ctrd;
    c.add("remove ctr containers", async () => {
      const C = (...a: string[]) =>
        run("ctr", ["--address", daemon.address, "-n", NS_CTR, ...a]).catch(() => "");
      if ((await ctrRunning(daemon.address)) < 0) await daemon.restart().then(() => sleep(500));
      for (const id of ctrIds) await C("tasks", "kill", "-s", "SIGKILL", id);
      for (const id of ctrIds) {
        await C("tasks", "delete", id);
        await C("containers", "delete", id);
      }
      await daemon.stop();
      for (const pid of await pidsMatching(`-namespace ${NS_CTR} `)) {
        note(`containerd shim ${pid} still running: stopping it`);
        await stopPid(pid, "SIGKILL");
      }
    });
  }

  const rows: SizeResult[] = [];
  for (const n of sizes) {
    note(`starting containers up to N=${n}`);
    while (skIds.length < n) {
      const id = `r${skIds.length + 1}`;
      const r = await timeProcess(
        shimkit,
        sk(
          "run",
          "-d",
          "--readonly",
          "--rootfs",
          rootfs,
          "--runtime-option",
          `root=${runc}`,
          id,
          "/bin/sleep",
          "100000",
        ),
      );
      if (r.code !== 0) throw new Error(`shimkit run -d ${id} exited ${r.code}: ${r.stderr}`);
      skIds.push(id);
    }
    while (ctrd && ctrIds.length < n) {
      const id = `t${ctrIds.length + 1}`;
      await run("ctr", [
        "--address",
        ctrd.address,
        "-n",
        NS_CTR,
        "run",
        "-d",
        "--fifo-dir",
        join(ctrDir, "fifo"),
        "--runc-root",
        join(ctrDir, "runc"),
        "--rootfs",
        rootfs,
        id,
        "/bin/sleep",
        "100000",
      ]);
      ctrIds.push(id);
    }
    if (ctrd) {
      const running = await ctrRunning(ctrd.address);
      if (running !== n) throw new Error(`containerd lists ${running} running tasks, want ${n}`);
    }
    const cli: number[] = [];
    const lib: number[] = [];
    const libWall: number[] = [];
    const hwm: number[] = [];
    const ctrMs: number[] = [];
    let ctrRss = -1;
    for (let rep = 0; rep < flags.reps; rep++) {
      if (loadCli) {
        const r = await timeProcess(shimkit, sk("load"));
        if (r.code !== 0) throw new Error(`shimkit load exited ${r.code}: ${r.stderr}`);
        cli.push(r.ms);
        emit({ mode: "restore", side: "shimkit load", n, rep, wall_ms: round(r.ms, 3) });
      }
      const h = await spawnHold(state, root);
      if (h.out.held !== n) note(`library process holds ${h.out.held}/${n} connections (kept ${h.out.kept})`);
      lib.push(h.out.load_ms);
      libWall.push(h.wallMs);
      hwm.push(h.out.hwm_kb);
      emit({ side: "library", n, rep, wall_ms: round(h.wallMs, 3), ...h.out, mode: "restore" });
      if (ctrd) {
        const r = await restartContainerd(ctrd, n);
        ctrMs.push(r.ms);
        ctrRss = r.rssKb;
        emit({
          mode: "restore",
          side: "containerd",
          n,
          rep,
          restore_ms: round(r.ms, 3),
          containerd_rss_kb: r.rssKb,
        });
      }
    }
    const cliRss = loadCli ? await peakRssOf(shimkit, sk("load")) : -1;
    rows.push({ n, cli, lib, libWall, hwm, ctrMs, ctrRss, cliRss });
  }

  console.log(
    `\n## Restore (${facts.runtime}, ${facts.cpus} vCPU, kernel ${facts.kernel}, load ${facts.load1})\n`,
  );
  printTable(
    [
      "N",
      "shimkit load ms",
      "ms/shim",
      "library load ms (in-process)",
      "library process wall ms",
      "containerd restart ms",
      "ms/shim",
      "load / containerd",
      "holder peak RSS KiB",
      "shimkit load peak RSS KiB",
      "containerd RSS KiB",
    ],
    rows.map((r) => {
      const c1 = spread(r.cli);
      const c2 = spread(r.ctrMs);
      return [
        r.n,
        r.cli.length ? fmtSpread(c1, 1) : "n/a",
        r.cli.length ? (c1.median / r.n).toFixed(2) : "n/a",
        fmtSpread(spread(r.lib), 1),
        fmtSpread(spread(r.libWall), 1),
        r.ctrMs.length ? fmtSpread(c2, 1) : "n/a",
        r.ctrMs.length ? (c2.median / r.n).toFixed(2) : "n/a",
        fmtVerdict(c1.median / c2.median, "<=", 1.0),
        Math.max(...r.hwm),
        r.cliRss,
        r.ctrRss,
      ];
    }),
  );
  const last = rows[rows.length - 1];
  if (last) {
    const peak = Math.max(...last.hwm);
    console.log(
      `\nholder peak RSS at N=${last.n}: ${peak} KiB (target ≤ ${RSS_TARGET_KB} KiB at N=100: ${
        peak <= RSS_TARGET_KB ? "met" : "MISSED"
      })`,
    );
  }
  if (!loadCli) console.log("\n`shimkit load` is not in this build: only the library side was timed");
  for (const r of rows) {
    const cliMed = spread(r.cli).median;
    const ctrMed = spread(r.ctrMs).median;
    emit({
      mode: "restore-summary",
      runtime: facts.runtime,
      load1: facts.load1,
      n: r.n,
      shimkit_load_ms: round(cliMed, 3),
      shimkit_load_ms_per_shim: round(cliMed / r.n, 3),
      library_load_ms: round(spread(r.lib).median, 3),
      library_process_wall_ms: round(spread(r.libWall).median, 3),
      containerd_restart_ms: round(ctrMed, 3),
      containerd_restart_ms_per_shim: round(ctrMed / r.n, 3),
      ratio_load_vs_containerd: round(cliMed / ctrMed, 3),
      target_load_met: targetMet(cliMed / ctrMed, "<=", 1.0),
      holder_hwm_kb: Math.max(...r.hwm),
      target_rss_met: r.n === 100 ? Math.max(...r.hwm) <= RSS_TARGET_KB : null,
      shimkit_load_peak_rss_kb: r.cliRss,
      containerd_rss_kb: r.ctrRss,
    });
  }
}

if (flags.hold) {
  const [state, root] = String(flags.hold).split(",");
  await hold(state, root);
  process.exit(0);
} else {
  await withCleanup(main);
}
