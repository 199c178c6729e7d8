/**
 * Child processes and process facts, the same on Deno and Bun: run a
 * command to completion with bounded output and time, signal process
 * groups, liveness checks that see through zombies.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readdir, readFile, readlink, realpath } from "node:fs/promises";
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";

/** Default per-stream output cap for {@link runProcess}: 4 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 4 << 20;

/**
 * How long to wait for stdout/stderr to reach EOF after the child exited.
 * A grandchild that inherited the pipes (a daemon that forgot to redirect
 * its stdio) would otherwise hold the call open forever.
 */
const PIPE_DRAIN_GRACE_MS = 250;

/** Options for {@link runProcess}. */
export interface RunOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** The child's complete environment (not merged with ours). Defaults to ours. */
  env?: Record<string, string>;
  /** Bytes written to the child's stdin, then closed; omitted = stdin is /dev/null. */
  stdin?: Uint8Array;
  /** Kill the child (its whole process group) after this long. */
  timeoutMs: number;
  /** Per-stream cap; output beyond it is drained and dropped. Default {@link DEFAULT_MAX_OUTPUT_BYTES}. */
  maxOutputBytes?: number;
  /** Start the child in its own process group (setsid), as containerd's Setpgid. Default true. */
  newProcessGroup?: boolean;
}

/** What a finished child did. */
export interface RunResult {
  /** The child's pid (also its process group id when `newProcessGroup`). */
  pid: number;
  /** Exit status, or null when killed by a signal. */
  exitCode: number | null;
  /** Terminating signal name, or null. */
  signal: string | null;
  /** Captured stdout (at most `maxOutputBytes`). */
  stdout: Uint8Array;
  /** Captured stderr (at most `maxOutputBytes`). */
  stderr: Uint8Array;
  /** True when either stream hit the cap. */
  truncated: boolean;
  /** True when the timeout fired and the process group was killed. */
  timedOut: boolean;
}

class Capture {
  chunks: Uint8Array[] = [];
  size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Uint8Array): void {
    const room = this.max - this.size;
    if (room <= 0) {
      this.truncated = this.truncated || chunk.length > 0;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part !== chunk) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  bytes(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/**
 * Runs a command to completion, capturing stdout and stderr, killing the
 * process group if it outlives `timeoutMs`.
 *
 * @param file executable path
 * @param args arguments (without argv0)
 * @param options cwd, env, stdin bytes, timeout, output cap, process group
 * @returns exit status, signal, captured output, whether it timed out
 * @throws the spawn error (errno `code` such as ENOENT/EACCES) when the child could not start
 * @example
 * ```ts
 * const r = await runProcess("/bin/echo", ["hi"], { timeoutMs: 5000 });
 * new TextDecoder().decode(r.stdout); // "hi\n"
 * ```
 */
export function runProcess(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const group = options.newProcessGroup ?? true;
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? (process.env as Record<string, string>),
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      detached: group,
    });
    const out = new Capture(max);
    const err = new Capture(max);
    let timedOut = false;
    let settled = false;
    let exit: { code: number | null; signal: string | null } | undefined;
    let grace: ReturnType<typeof setTimeout> | undefined;

    const finish = () => {
      if (settled || !exit) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        pid: child.pid ?? -1,
        exitCode: exit.code,
        signal: exit.signal,
        stdout: out.bytes(),
        stderr: err.bytes(),
        truncated: out.truncated || err.truncated,
        timedOut,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalTree(child.pid, group, "SIGKILL");
    }, options.timeoutMs);

    child.stdout!.on("data", (c: Uint8Array) => out.push(c));
    child.stderr!.on("data", (c: Uint8Array) => err.push(c));
    child.once("error", (e) => {
      if (settled) return;
      if (child.pid === undefined) {
        settled = true;
        clearTimeout(timer);
        reject(e);
      }
    });
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      grace = setTimeout(finish, PIPE_DRAIN_GRACE_MS);
    });
    child.once("close", (code, signal) => {
      exit ??= { code, signal };
      finish();
    });
    if (options.stdin && child.stdin) {
      // The child may exit without reading stdin (EPIPE); its exit status tells the story.
      child.stdin.on("error", () => {});
      child.stdin.end(options.stdin);
    }
  });
}

function signalTree(pid: number, group: boolean, signal: NodeJS.Signals): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Sends a signal to a whole process group.
 *
 * @param pgid process group id (the group leader's pid)
 * @param signal signal name, default SIGKILL
 * @returns true when delivered, false when the group no longer exists
 * @throws PermissionDenied-like errno errors other than ESRCH
 */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals = "SIGKILL"): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new RangeError(`invalid process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "ESRCH") return false;
    throw e;
  }
}

/**
 * Reads the one-letter state of a process from `/proc/<pid>/stat`
 * (`R`, `S`, `D`, `Z`, `X`, …), or undefined when it does not exist.
 *
 * @param pid process id
 * @returns state letter or undefined
 */
export function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain ") ", so split at the last one.
  const end = stat.lastIndexOf(")");
  return end < 0 ? undefined : stat.charAt(end + 2);
}

/** Linux's PID_MAX_LIMIT on 64-bit (2^22): no host process ever has a pid at or above it. */
export const PID_MAX_LIMIT = 4_194_304;

/**
 * Tells whether `pid` can name a process of this host's pid namespace. Pids a
 * shim reports from elsewhere (the fake shim's simulated ones, from 2^22 up)
 * cannot; a VM-based shim's guest pids look like host pids and are not told apart.
 *
 * @param pid a process id
 * @returns true for an integer in 1 … {@link PID_MAX_LIMIT} − 1
 */
export function isHostPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid < PID_MAX_LIMIT;
}

/**
 * Tells whether a process exists and is not a zombie: `kill(pid, 0)`
 * succeeds (or fails with EPERM, which means it exists but is not ours)
 * and `/proc/<pid>/stat` does not say `Z`/`X`. A killed multi-threaded
 * process (a Go shim, a JS runtime) shows its leader as a zombie while its
 * other threads still exit, holding every fd (the shim's listening socket)
 * open: it counts as alive until its last thread is gone.
 *
 * @param pid process id
 * @returns true when the process is alive
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as { code?: string }).code !== "EPERM") return false;
  }
  const state = processState(pid);
  // No /proc entry while kill succeeded: no procfs (or it just exited); trust kill.
  if (state === undefined) return true;
  if (state !== "Z" && state !== "X") return true;
  return hasLiveThread(pid);
}

/** Whether any thread of `pid` other than a zombie leader still runs (it is still exiting). */
function hasLiveThread(pid: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  return tids.some((tid) => {
    if (tid === String(pid)) return false;
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      const c = stat.charAt(stat.lastIndexOf(")") + 2);
      return c !== "Z" && c !== "X";
    } catch {
      return false;
    }
  });
}

/**
 * Lists the pids whose current working directory is `dir` (by
 * `/proc/<pid>/cwd`). The runc shim daemon runs with cwd = its bundle and
 * writes no pid file before Create, so this is how to find it early.
 *
 * @param dir directory to match (resolved with realpath first)
 * @returns matching pids, ascending
 */
export async function listPidsWithCwd(dir: string): Promise<number[]> {
  let want: string;
  try {
    want = await realpath(dir);
  } catch {
    want = dir;
  }
  const pids: number[] = [];
  for (const pid of await procPids()) {
    try {
      if ((await readlink(`/proc/${pid}/cwd`)) === want) pids.push(pid);
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
  return pids.sort((a, b) => a - b);
}

/**
 * The paths under `dir` that some process has open, read from
 * `/proc/<pid>/fd/*` (synchronously: a few thousand readlinks, for a sweep
 * that runs rarely). Processes that exit meanwhile, or are not ours to
 * inspect, are skipped.
 *
 * @param dir an absolute directory (resolved through symlinks first)
 * @returns the open paths, each starting with the resolved `dir` + `/`
 */
export function openPathsUnder(dir: string): Set<string> {
  let base: string;
  try {
    base = realpathSync(dir);
  } catch {
    base = dir;
  }
  const prefix = base.endsWith("/") ? base : base + "/";
  const open = new Set<string>();
  let pids: string[];
  try {
    pids = readdirSync("/proc");
  } catch {
    return open;
  }
  for (const name of pids) {
    if (!/^[0-9]+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${name}/fd/${fd}`);
        if (target.startsWith(prefix)) open.add(target);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return open;
}

/**
 * Whether a process's current working directory is `dir` (by `/proc/<pid>/cwd`;
 * both resolved). A shim daemon runs in its bundle, so this tells a shim's own
 * process from an unrelated one that happens to have the pid it reported.
 *
 * @param pid process id
 * @param dir the directory
 * @returns false when it is elsewhere, gone, or not ours to inspect
 */
export function hasCwd(pid: number, dir: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return false;
  }
}

/** The pids /proc lists (processes may exit while the caller looks at them). */
async function procPids(): Promise<number[]> {
  return (await readdir("/proc")).map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** `__SO_ACCEPTCON` in /proc/net/unix's Flags column: the socket listens. */
const SO_ACCEPTCON = 0x10000;

/**
 * Finds, in the text of `/proc/net/unix`, the inodes of the sockets listening
 * on a path (pure).
 *
 * @param procNetUnix the file's text (a header line, then `Num RefCount Protocol Flags Type St Inode Path`)
 * @param path the socket path
 * @returns the inodes, as the decimal strings `/proc/<pid>/fd` links name (`socket:[<inode>]`)
 */
export function listeningSocketInodes(procNetUnix: string, path: string): string[] {
  const out: string[] = [];
  for (const line of procNetUnix.split("\n").slice(1)) {
    const m = /^\s*\S+: \S+ \S+ ([0-9A-Fa-f]+) \S+ \S+ +(\d+) (.*)$/.exec(line);
    if (m && m[3] === path && (parseInt(m[1], 16) & SO_ACCEPTCON) !== 0) out.push(m[2]);
  }
  return out;
}

/**
 * The processes that hold a socket listening on `path` (from `/proc/net/unix`
 * and `/proc/<pid>/fd`): who still serves a shim socket. Processes that exit
 * meanwhile, or are not ours to inspect, are skipped.
 *
 * @param path the socket path
 * @returns pids, ascending; empty when nothing listens there or there is no procfs
 */
export async function listenerPids(path: string): Promise<number[]> {
  const table = await readFile("/proc/net/unix", "utf8").catch(() => "");
  const links = new Set(listeningSocketInodes(table, path).map((inode) => `socket:[${inode}]`));
  if (links.size === 0) return [];
  const pids: number[] = [];
  for (const pid of await procPids().catch(() => [] as number[])) {
    for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
      if (links.has(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ""))) {
        pids.push(pid);
        break;
      }
    }
  }
  return pids.sort((a, b) => a - b);
}

export { selfCommand, selfExecutable } from "./self.ts";
