/**
 * Shared helpers of the benchmark scripts in `scripts/bench/`: statistics
 * (nearest-rank percentiles like shimbench-go, medians), output (aligned
 * tables and JSON lines), machine facts, a cleanup stack run on exit and on
 * signals, pid-based process control, /proc memory readings, the busybox
 * rootfs and `runc spec` template (laid out like shimbench-go's `prepare`, so
 * the Go peer reuses them), a raw real-shim starter for the TTRPC bench, an
 * events sink, and the Go peer build.
 *
 * Everything here runs unchanged under Bun and Deno.
 *
 * @module
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  rmdir,
  symlink,
  writeFile,
} from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { Events } from "../../src/gen/containerd/services/events/ttrpc/v1/events_pb.ts";

/** Repository root (two levels above this file). */
export const REPO_ROOT: string = join(
  import.meta.dirname ?? new URL(".", import.meta.url).pathname,
  "..",
  "..",
);

/** The real runc v2 shim every bench drives. */
export const RUNC_SHIM = "/usr/bin/containerd-shim-runc-v2";

/** Where shimbench-go's sources live (read-only; copied before building). */
export const GO_PEER_SRC = "/work/shared/peers/shimbench-go";

// ---------------------------------------------------------------- statistics

/**
 * Nearest-rank quantile of an ascending array (shimbench-go's `pct`).
 *
 * @param sorted ascending values
 * @param q quantile in [0, 1]
 * @returns the value at rank ceil(q·n), or NaN for an empty array
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const i = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[i];
}

/**
 * Median (mean of the two middle values for an even count), like shimbench-go.
 *
 * @param values the values (not modified)
 * @returns the median, or NaN for none
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const c = [...values].sort((a, b) => a - b);
  const m = c.length >> 1;
  return c.length % 2 === 1 ? c[m] : (c[m - 1] + c[m]) / 2;
}

/** Median, minimum and maximum of a series. */
export interface Spread {
  /** Median. */
  median: number;
  /** Minimum. */
  min: number;
  /** Maximum. */
  max: number;
}

/**
 * Median, min and max of a series.
 *
 * @param values the values
 * @returns their spread (NaN fields for none)
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Rounds to a fixed number of decimals for printing and JSON.
 *
 * @param x value
 * @param digits decimals (default 2)
 * @returns the rounded number
 */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Formats a spread as `median (min–max)`.
 *
 * @param s the spread
 * @param digits decimals
 * @returns the text
 */
export function fmtSpread(s: Spread, digits = 2): string {
  if (Number.isNaN(s.median)) return "n/a";
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

/**
 * Formats a ratio with a target verdict, e.g. `0.84× ≤ 0.90× met`.
 *
 * @param ratio ours / peer (NaN when the peer is missing)
 * @param op whether the target is an upper (`<=`) or lower (`>=`) bound
 * @param target the bound
 * @returns the text
 */
export function fmtVerdict(ratio: number, op: "<=" | ">=", target: number): string {
  if (!Number.isFinite(ratio)) return "n/a (peer unavailable)";
  const met = op === "<=" ? ratio <= target : ratio >= target;
  return `${ratio.toFixed(2)}× (target ${op === "<=" ? "≤" : "≥"} ${target.toFixed(2)}×: ${
    met ? "met" : "MISSED"
  })`;
}

/**
 * Whether a ratio meets its target.
 *
 * @param ratio ours / peer
 * @param op bound kind
 * @param target the bound
 * @returns true/false, or null when the ratio is not a number
 */
export function targetMet(ratio: number, op: "<=" | ">=", target: number): boolean | null {
  if (!Number.isFinite(ratio)) return null;
  return op === "<=" ? ratio <= target : ratio >= target;
}

// -------------------------------------------------------------------- output

/**
 * Prints one JSON object as a line on stdout.
 *
 * @param obj the record
 */
export function emit(obj: Record<string, unknown>): void {
  console.log(JSON.stringify(obj));
}

/**
 * Prints a Markdown table with aligned columns.
 *
 * @param headers column titles
 * @param rows cells (converted with String)
 */
export function printTable(headers: string[], rows: unknown[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ") + " |";
  console.log(line(cells[0]));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of cells.slice(1)) console.log(line(r));
}

/**
 * Writes a progress note on stderr (keeps stdout to tables and JSON).
 *
 * @param msg the note
 */
export function note(msg: string): void {
  process.stderr.write(`# ${msg}\n`);
}

/**
 * Parses `--name value` / `--name=value` flags with defaults; a boolean flag alone means true
 * (`--go false` and `--go=false` turn it off).
 *
 * @param defaults flag names (without dashes) and default values
 * @returns the values, typed like the defaults
 * @throws Error for an unknown flag
 */
export function parseFlags<T extends Record<string, string | number | boolean>>(defaults: T): T {
  const out: Record<string, string | number | boolean> = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"`);
    let [k, v] = a.slice(2).split("=", 2) as [string, string | undefined];
    if (!(k in defaults)) throw new Error(`unknown flag "--${k}"`);
    const d = defaults[k];
    if (typeof d === "boolean" && v === undefined) {
      v = argv[i + 1] === "true" || argv[i + 1] === "false" ? argv[++i] : "true";
    } else if (v === undefined) v = argv[++i];
    out[k] = typeof d === "number" ? Number(v) : typeof d === "boolean" ? v === "true" : String(v);
  }
  return out as T;
}

// ------------------------------------------------------------ machine facts

/**
 * The JS runtime running the script, from `navigator.userAgent` (e.g. `Bun/1.4.5`, `Deno/2.9.6`).
 *
 * @returns `name/version`
 */
export function runtimeId(): string {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "";
  const m = /^(\w+)\/(\S+)/.exec(ua);
  return m ? `${m[1]}/${m[2]}` : `node/${process.versions.node}`;
}

/**
 * Runs a command and returns its trimmed combined output (empty on failure).
 *
 * @param cmd program
 * @param args arguments
 * @param timeoutMs kill after this long
 * @returns stdout+stderr, trimmed
 */
export function capture(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 24 }, (_err, out, err) => {
      resolve(`${out ?? ""}${err ?? ""}`.trim());
    });
  });
}

/**
 * Runs a command and fails on a non-zero exit.
 *
 * @param cmd program
 * @param args arguments
 * @param opts cwd, env, timeout
 * @returns stdout
 * @throws Error with the command's stderr
 */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    // stdin is closed at once: a shim's `start` reads runtime options from stdin until EOF.
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 1 << 26 },
      (err, out, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
        else resolve(String(out));
      },
    );
    child.stdin?.end();
  });
}

/** Facts about the machine printed with every result. */
export interface MachineFacts {
  /** JS runtime, e.g. `Bun/1.4.5`. */
  runtime: string;
  /** Logical CPUs. */
  cpus: number;
  /** CPU model. */
  cpuModel: string;
  /** Total memory in MiB. */
  memMiB: number;
  /** Kernel release. */
  kernel: string;
  /** `containerd-shim-runc-v2 -v` first version line. */
  shim: string;
  /** runc version. */
  runc: string;
  /** containerd version. */
  containerd: string;
  /** Go toolchain version. */
  go: string;
  /** 1-minute load average when the bench started (other work on the machine skews every figure). */
  load1: number;
}

/**
 * Collects the machine facts.
 *
 * @returns the facts
 */
export async function machineFacts(): Promise<MachineFacts> {
  const first = (s: string, re: RegExp) => re.exec(s)?.[1] ?? (s.split("\n")[0] || "missing");
  const [shim, runc, containerd, go] = await Promise.all([
    capture(RUNC_SHIM, ["-v"]),
    capture("runc", ["--version"]),
    capture("containerd", ["--version"]),
    capture("go", ["version"]),
  ]);
  const c = cpus();
  return {
    runtime: runtimeId(),
    cpus: c.length,
    cpuModel: c[0]?.model ?? "unknown",
    memMiB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    shim: first(shim, /Version:\s+(\S+)/),
    runc: first(runc, /runc version (\S+)/),
    containerd: first(containerd, /containerd \S+ (\S+)/),
    go: first(go, /go version (go\S+)/),
    load1: round(loadavg()[0], 2),
  };
}

/**
 * Reports whether we can run real shims (root + the shim, runc and busybox present).
 *
 * @returns undefined when fine, else the reason
 */
export function missingPrerequisite(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  for (const p of [RUNC_SHIM, "/usr/sbin/runc", "/usr/bin/busybox"]) {
    if (!existsSync(p) && !(p === "/usr/sbin/runc" && existsSync("/usr/bin/runc"))) return `needs ${p}`;
  }
  return undefined;
}

// ------------------------------------------------------------------ cleanup

type Undo = () => unknown | Promise<unknown>;

/**
 * A stack of cleanup steps, run last-in first-out on {@link Cleanup.run},
 * on SIGINT/SIGTERM and on an uncaught error. Each step runs once.
 */
export class Cleanup {
  readonly #steps: Array<{ name: string; fn: Undo }> = [];
  #running: Promise<void> | undefined;

  /** Installs the signal handlers. */
  constructor() {
    const onSignal = (sig: string) => {
      note(`${sig}: cleaning up`);
      void this.run().finally(() => process.exit(130));
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
  }

  /**
   * Registers a step.
   *
   * @param name shown when the step fails
   * @param fn the step
   * @returns a function that runs the step now (and removes it from the stack)
   */
  add(name: string, fn: Undo): () => Promise<void> {
    const step = { name, fn };
    this.#steps.push(step);
    return async () => {
      const i = this.#steps.indexOf(step);
      if (i < 0) return;
      this.#steps.splice(i, 1);
      await runStep(step);
    };
  }

  /**
   * Runs every registered step, newest first. Idempotent.
   *
   * @returns resolves when all steps ran
   */
  run(): Promise<void> {
    return (this.#running ??= (async () => {
      while (this.#steps.length > 0) await runStep(this.#steps.pop()!);
    })());
  }
}

async function runStep(step: { name: string; fn: Undo }): Promise<void> {
  try {
    await step.fn();
  } catch (e) {
    note(`cleanup "${step.name}" failed: ${(e as Error).message}`);
  }
}

/**
 * Runs `main` with a cleanup stack and always runs the stack afterwards;
 * exits 1 on an error.
 *
 * @param main the script body
 */
export async function withCleanup(main: (c: Cleanup) => Promise<void>): Promise<void> {
  const c = new Cleanup();
  let failed = false;
  try {
    await main(c);
  } catch (e) {
    failed = true;
    console.error(`error: ${(e as Error).stack ?? e}`);
  } finally {
    await c.run();
  }
  process.exit(failed ? 1 : 0);
}

/**
 * Creates a temp dir under os.tmpdir() and registers its removal.
 *
 * @param c cleanup stack
 * @param prefix name prefix
 * @returns the directory
 */
export async function tempDir(c: Cleanup, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  c.add(`rm ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------- processes

/**
 * Whether a pid is alive (a zombie counts as gone).
 *
 * @param pid the pid
 * @returns true while the process runs
 */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Waits until a pid is gone.
 *
 * @param pid the pid
 * @param timeoutMs give up after this long
 * @param pollMs poll interval
 * @returns true when it is gone
 */
export async function waitGone(pid: number, timeoutMs: number, pollMs = 2): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (performance.now() > end) return false;
    await sleep(pollMs);
  }
  return true;
}

/**
 * Sends a signal to a pid, then SIGKILL if it is still alive after `graceMs`.
 *
 * @param pid the pid
 * @param signal first signal (default SIGTERM)
 * @param graceMs grace period
 * @returns resolves once the process is gone (or could not be killed)
 */
export async function stopPid(
  pid: number,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 5000,
): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  if (await waitGone(pid, graceMs, 10)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitGone(pid, 2000, 10);
}

/**
 * Promise-based sleep.
 *
 * @param ms milliseconds
 * @returns resolves after `ms`
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Waits for a child process to exit.
 *
 * @param child the child
 * @returns its exit code (or 128+signal)
 */
export function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once("exit", (code, sig) => resolve(code ?? (sig ? 128 + signalNumber(sig) : 1)));
  });
}

function signalNumber(sig: string): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig] ?? 0;
}

/**
 * Reads VmRSS and VmHWM (peak RSS) of a pid, in KiB.
 *
 * @param pid the pid, or "self"
 * @returns the two values (-1 when unreadable)
 */
export function procMemKb(pid: number | "self"): { rssKb: number; hwmKb: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? -1);
    return { rssKb: get("VmRSS"), hwmKb: get("VmHWM") };
  } catch {
    return { rssKb: -1, hwmKb: -1 };
  }
}

/**
 * Lists live pids whose command line contains `needle` (reads /proc; no pkill-style matching for killing).
 *
 * @param needle substring of the NUL-joined argv (joined with spaces)
 * @returns matching pids
 */
export async function pidsMatching(needle: string): Promise<number[]> {
  const out: number[] = [];
  const { readdir } = await import("node:fs/promises");
  for (const d of await readdir("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = (await readFile(`/proc/${d}/cmdline`, "utf8")).split("\0").join(" ");
      if (cmd.includes(needle) && pidAlive(Number(d))) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Removes the empty cgroup parents runc leaves for a namespace (`/sys/fs/cgroup/<ctrl>/<ns>`).
 *
 * @param namespace the namespace used as cgroupsPath parent
 */
export async function rmdirCgroupParents(namespace: string): Promise<void> {
  const { readdir } = await import("node:fs/promises");
  const base = "/sys/fs/cgroup";
  const dirs = [join(base, namespace)];
  try {
    for (const c of await readdir(base)) dirs.push(join(base, c, namespace));
  } catch {
    return;
  }
  for (const d of dirs) await rmdir(d).catch(() => {});
}

// ------------------------------------------------------- rootfs and bundles

/**
 * Builds `<work>/rootfs` (static busybox + every applet as a symlink, etc/passwd,
 * etc/group) and `<work>/spec-template/config.json` (`runc spec`), the layout
 * shimbench-go's `prepare` makes, so `shimbench-go -work <work>` reuses them.
 *
 * @param work the bench work dir
 * @returns the rootfs path and the template path
 */
export async function prepareRootfs(work: string): Promise<{ rootfs: string; template: string }> {
  const rootfs = join(work, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc", "run", "root"]) {
    await mkdir(join(rootfs, d), { recursive: true });
  }
  await copyFile("/usr/bin/busybox", join(rootfs, "bin", "busybox"));
  await chmod(join(rootfs, "bin", "busybox"), 0o755);
  const list = (await run("/usr/bin/busybox", ["--list"])).split(/\s+/).filter((a) => a && !a.includes("/"));
  for (const a of list) if (a !== "busybox") await symlink("busybox", join(rootfs, "bin", a)).catch(() => {});
  await writeFile(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  await writeFile(join(rootfs, "etc", "group"), "root:x:0:\n");
  const tdir = join(work, "spec-template");
  await mkdir(tdir, { recursive: true });
  await run("runc", ["spec", "--bundle", tdir]);
  return { rootfs, template: join(tdir, "config.json") };
}

/**
 * Writes a bundle's config.json from the `runc spec` template, edited like
 * shimbench-go: terminal off, args, absolute read-only rootfs, cgroupsPath `/<ns>/<id>`.
 *
 * @param opts template, bundle dir, args, rootfs, namespace, id
 * @returns the edited spec (also written to `<dir>/config.json`)
 */
export async function writeBundle(opts: {
  template: string;
  dir: string;
  args: string[];
  rootfs: string;
  namespace: string;
  id: string;
}): Promise<Record<string, unknown>> {
  const spec = benchSpec(JSON.parse(await readFile(opts.template, "utf8")), opts);
  await mkdir(opts.dir, { recursive: true, mode: 0o711 });
  await writeFile(join(opts.dir, "config.json"), JSON.stringify(spec, null, "\t"));
  return spec;
}

/**
 * Edits a `runc spec` template for one bench container (pure).
 *
 * @param template parsed template (not modified)
 * @param opts args, rootfs, namespace, id
 * @returns the edited spec
 */
export function benchSpec(
  template: Record<string, unknown>,
  opts: { args: string[]; rootfs: string; namespace: string; id: string },
): Record<string, unknown> {
  const spec = structuredClone(template) as Record<string, unknown> & {
    process: Record<string, unknown>;
    linux: Record<string, unknown>;
  };
  spec.process.terminal = false;
  spec.process.args = opts.args;
  spec.root = { path: opts.rootfs, readonly: true };
  spec.hostname = "shimbench";
  spec.linux.cgroupsPath = `/${opts.namespace}/${opts.id}`;
  return spec;
}

// ------------------------------------------------------------- raw shim start

/** A started shim daemon (raw: no shimkit library), for the TTRPC bench. */
export interface RawShim {
  /** The address `start` printed (`unix:///run/containerd/s/<hash>`). */
  address: string;
  /** The pid of the `cat` draining the log fifo. */
  drainPid: number;
}

/**
 * Starts `containerd-shim-runc-v2 … start` in `bundle` the way containerd does
 * (protocol-facts §4): the `log` fifo opened O_RDWR and drained (by a `cat`
 * that never sees EOF and is stopped by pid), `TTRPC_ADDRESS` set, address from stdout.
 *
 * @param c cleanup stack (the drain process is registered on it)
 * @param opts bundle dir, namespace, id, fake containerd address, events socket
 * @returns the address and the drain pid
 * @throws Error with the shim's output when `start` fails
 */
export async function startRawShim(
  c: Cleanup,
  opts: { bundle: string; namespace: string; id: string; address: string; ttrpcAddress: string },
): Promise<RawShim> {
  const fifo = join(opts.bundle, "log");
  await run("mkfifo", ["-m", "0700", fifo]);
  // `<>` opens the fifo O_RDWR, as containerd does: the shim's O_WRONLY open never blocks and cat never sees EOF.
  const drain = spawn("sh", ["-c", 'exec cat <>"$0" >>"$1"', fifo, join(opts.bundle, "shim.log")], {
    stdio: "ignore",
  });
  const drainPid = drain.pid!;
  c.add(`stop log drain ${drainPid}`, () => stopPid(drainPid, "SIGKILL"));
  const out = await run(
    RUNC_SHIM,
    [
      "-namespace",
      opts.namespace,
      "-address",
      opts.address,
      "-publish-binary",
      "/usr/bin/containerd",
      "-id",
      opts.id,
      "start",
    ],
    { cwd: opts.bundle, env: { ...process.env, GOMAXPROCS: "2", TTRPC_ADDRESS: opts.ttrpcAddress } },
  );
  return { address: out.trim(), drainPid };
}

/**
 * Serves `containerd.services.events.ttrpc.v1.Events/Forward` on `path` and
 * counts topics, so shims publish without retrying and exit right after Shutdown.
 *
 * @param c cleanup stack (the server is closed on it)
 * @param path socket path
 * @returns the topic counts (live)
 */
export async function serveEventsSink(c: Cleanup, path: string): Promise<Map<string, number>> {
  const topics = new Map<string, number>();
  const server = new Server().register(Events, {
    forward: (req) => {
      const t = req.envelope?.topic ?? "?";
      topics.set(t, (topics.get(t) ?? 0) + 1);
      return {};
    },
  });
  await server.listen(path);
  c.add(`close events sink ${path}`, () => server.close());
  return topics;
}

// ------------------------------------------------------------------ Go peer

/** The Go peer: a built shimbench-go, or why it is unavailable. */
export type GoPeer = { bin: string; reason?: undefined } | { bin?: undefined; reason: string };

/**
 * Copies shimbench-go to a temp dir and builds it in GOPATH mode against
 * Debian's Go sources. A failure is not fatal: the reason is returned.
 *
 * @param c cleanup stack (the build dir is removed on it)
 * @returns the binary path or the reason it is unavailable
 */
export async function buildGoPeer(c: Cleanup): Promise<GoPeer> {
  if (!existsSync(join(GO_PEER_SRC, "main.go"))) return { reason: `no sources at ${GO_PEER_SRC}` };
  const dir = await tempDir(c, "shimkit-bench-go-");
  try {
    await cp(GO_PEER_SRC, join(dir, "src"), { recursive: true });
    const bin = join(dir, "shimbench-go");
    const env = {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: "/usr/share/gocode",
      GOCACHE: process.env.GOCACHE ?? join(tmpdir(), "shimbench-gocache"),
      GOFLAGS: "",
    };
    await run("go", ["build", "-o", bin, "."], { cwd: join(dir, "src"), env, timeoutMs: 300_000 });
    return { bin };
  } catch (e) {
    return { reason: `build failed: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}` };
  }
}

/** One JSON line of shimbench-go: numbers for the figures, strings and booleans for the labels. */
export type GoRow = Record<string, number | string | boolean | null | object>;

/**
 * Runs the Go peer and parses its JSON lines.
 *
 * @param bin shimbench-go path
 * @param args subcommand and flags
 * @param timeoutMs kill after this long
 * @returns every JSON object it printed
 * @throws Error with its stderr on failure
 */
export async function runGoPeer(
  bin: string,
  args: string[],
  timeoutMs = 600_000,
): Promise<GoRow[]> {
  const out = await run(bin, args, { timeoutMs });
  return out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

// ------------------------------------------------------------ shimkit binary

/** Where the JS runtimes live in this repo. */
export const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

/**
 * Builds the single shimkit executable into `dir` with `scripts/build.ts`
 * (or `bun build --compile` when that script is missing), so benches never
 * touch `dist/`.
 *
 * @param dir output directory
 * @returns the binary path
 * @throws Error when the build fails
 */
export async function buildShimkit(dir: string): Promise<string> {
  const out = join(dir, "shimkit");
  const bun = existsSync(BUN) ? BUN : "bun";
  if (existsSync(join(REPO_ROOT, "scripts", "build.ts"))) {
    await run(bun, [join(REPO_ROOT, "scripts", "build.ts"), "--outfile", out], {
      cwd: REPO_ROOT,
      timeoutMs: 300_000,
    });
  } else {
    await run(bun, ["build", "--compile", join(REPO_ROOT, "src", "cli", "main.ts"), "--outfile", out], {
      cwd: REPO_ROOT,
      timeoutMs: 300_000,
    });
  }
  return out;
}

/** A containerd daemon the bench started. */
export interface Containerd {
  /** Its pid. */
  pid: number;
  /** Its gRPC socket. */
  address: string;
  /** Stops it (SIGTERM, SIGKILL after 10 s) by pid. */
  stop(): Promise<void>;
  /** Starts it again on the same dirs (for restart timing); resolves once spawned. */
  restart(): Promise<number>;
}

/**
 * Starts containerd on temp dirs with the CRI plugin disabled and the `opt`
 * plugin moved into `dir` (peers/bench.sh's config). It is stopped by pid on
 * the cleanup stack.
 *
 * @param c cleanup stack
 * @param dir working dir (config, root, state, socket, log)
 * @returns the daemon
 * @throws Error when the socket does not come up in 10 s
 */
export async function startContainerd(c: Cleanup, dir: string): Promise<Containerd> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.toml");
  await writeFile(
    config,
    `version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[plugins."io.containerd.internal.v1.opt"]\n  path = "${
      join(dir, "opt")
    }"\n`,
  );
  const address = join(dir, "c.sock");
  let pid = 0;
  const spawnIt = async () => {
    const log = await import("node:fs").then((fs) => fs.openSync(join(dir, "containerd.log"), "a"));
    const child = spawn(
      "containerd",
      ["--config", config, "--root", join(dir, "root"), "--state", join(dir, "state"), "--address", address],
      { stdio: ["ignore", log, log] },
    );
    await import("node:fs").then((fs) => fs.closeSync(log));
    child.unref();
    pid = child.pid!;
    return pid;
  };
  const stop = async () => {
    if (pid) await stopPid(pid, "SIGTERM", 10_000);
  };
  await spawnIt();
  c.add("stop containerd", () => stop());
  for (let i = 0; !existsSync(address); i++) {
    if (i > 1000) throw new Error(`containerd did not listen on ${address} (see ${dir}/containerd.log)`);
    await sleep(10);
  }
  return {
    get pid() {
      return pid;
    },
    address,
    stop,
    restart: spawnIt,
  };
}

/** Result of one timed process. */
export interface Timed {
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Exit code. */
  code: number;
  /** Captured stderr (trimmed, at most 2 KiB). */
  stderr: string;
}

/**
 * Runs a command to completion and measures its wall time (spawn → exit event).
 * stdin is /dev/null, stdout is discarded, stderr is kept (what arrived by exit).
 *
 * @param cmd program
 * @param args arguments
 * @param env optional environment
 * @returns the time, exit code and stderr
 */
export function timeProcess(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve) => {
    let stderr = "";
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env });
    child.stderr!.on("data", (d: Uint8Array) => {
      if (stderr.length < 2048) stderr += new TextDecoder().decode(d);
    });
    child.on("error", (e) => resolve({ ms: performance.now() - t0, code: -1, stderr: String(e) }));
    // Timed to "exit", not "close": a daemon the command leaves behind may hold the stderr pipe.
    child.on("exit", (code, sig) => {
      const ms = performance.now() - t0;
      const rc = code ?? (sig ? 128 + signalNumber(sig) : 1);
      const done = () => {
        child.stderr!.destroy();
        resolve({ ms, code: rc, stderr: stderr.trim() });
      };
      if (rc === 0) done();
      else setTimeout(done, 50);
    });
  });
}

/**
 * Peak RSS of a command (GNU time `%M`), for a separate memory pass.
 *
 * @param cmd program
 * @param args arguments
 * @returns max RSS in KiB, or -1 when /usr/bin/time is missing or the command failed
 */
export async function peakRssOf(cmd: string, args: string[]): Promise<number> {
  if (!existsSync("/usr/bin/time")) return -1;
  return await new Promise((resolve) => {
    execFile("/usr/bin/time", ["-f", "maxrss=%M", cmd, ...args], (err, _o, stderr) => {
      const m = /maxrss=(\d+)/.exec(String(stderr));
      resolve(err || !m ? -1 : Number(m[1]));
    }).stdin?.end();
  });
}
