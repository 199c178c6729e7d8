/**
 * Leak checks for tests: snapshot the processes, sockets and directories a
 * test could leave behind, then assert that nothing new survives.
 *
 * Processes count when they descend from the test process, or when their cwd
 * or command line points into a watched directory (shims daemonize and are
 * re-parented, but their cwd stays the bundle).
 *
 * @module
 */

import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";

/** What {@link snapshotLeaks} saw. */
export interface LeakSnapshot {
  /** Directories watched for processes, sockets and subdirectories. */
  dirs: string[];
  /** Live pids that counted (children of the test process or tied to `dirs`). */
  pids: Set<number>;
  /** Socket files under `dirs`. */
  sockets: Set<string>;
  /** Directories under `dirs` (recursively). */
  subdirs: Set<string>;
}

/** One process in /proc. */
export interface ProcInfo {
  /** Process id. */
  pid: number;
  /** Parent process id. */
  ppid: number;
  /** One-letter state (`R`, `S`, `Z`, ...). */
  state: string;
  /** The command line, NUL separators replaced by spaces. */
  cmdline: string;
  /** The working directory, when readable. */
  cwd?: string;
}

/**
 * Parses the pid, state and ppid out of a /proc/<pid>/stat line. The command
 * name is in parentheses and may itself contain spaces and parentheses.
 *
 * @param stat the stat file's text
 * @returns pid, state, ppid; undefined when malformed
 */
export function parseProcStat(stat: string): { pid: number; state: string; ppid: number } | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const pid = parseInt(stat, 10);
  const rest = stat.slice(close + 2).split(" ");
  const ppid = parseInt(rest[1], 10);
  if (!Number.isFinite(pid) || !Number.isFinite(ppid)) return undefined;
  return { pid, state: rest[0], ppid };
}

/**
 * Lists live (non-zombie) processes from /proc.
 *
 * @returns process records; processes that vanish while reading are skipped
 */
export async function listProcesses(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  const entries = await readdir("/proc");
  await Promise.all(entries.map(async (name) => {
    if (!/^\d+$/.test(name)) return;
    try {
      const stat = parseProcStat(await readFile(`/proc/${name}/stat`, "utf8"));
      if (!stat || stat.state === "Z" || stat.state === "X") return;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, "utf8")).replaceAll("\0", " ").trim();
      let cwd: string | undefined;
      try {
        cwd = await readlink(`/proc/${name}/cwd`);
      } catch {
        // kernel threads and other users' processes may hide their cwd
      }
      out.push({ ...stat, cmdline, cwd });
    } catch {
      // the process exited while we read it
    }
  }));
  return out;
}

/**
 * Picks the processes a test owns: descendants of `root`, and processes whose
 * cwd or command line points into one of `dirs` (pure).
 *
 * @param procs all processes
 * @param root the test process pid (not itself included)
 * @param dirs watched directories
 * @returns the pids that count
 */
export function ownedPids(procs: readonly ProcInfo[], root: number, dirs: readonly string[]): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const owned = new Set<number>();
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (owned.has(pid)) continue;
    owned.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  const prefixes = dirs.map((d) => (d.endsWith("/") ? d : d + "/"));
  for (const p of procs) {
    if (p.pid === root) continue;
    const inDir = (s: string | undefined) =>
      s !== undefined && dirs.some((d, i) => s === d || s.includes(prefixes[i]));
    if (inDir(p.cwd) || inDir(p.cmdline)) owned.add(p.pid);
  }
  return owned;
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSocket();
  } catch {
    return false;
  }
}

async function walk(dir: string, sockets: Set<string>, subdirs: Set<string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      subdirs.add(path);
      await walk(path, sockets, subdirs);
    } else if (!e.isFile() && !e.isSymbolicLink() && (await isSocket(path))) {
      // Deno's Dirent does not flag sockets, so ask lstat about anything unusual.
      sockets.add(path);
    }
  }
}

/**
 * Records the current processes, sockets and directories.
 *
 * @param dirs directories to watch (e.g. a temp state's `dir`); processes are always checked
 * @returns the snapshot to pass to {@link assertNoLeaks}
 */
export async function snapshotLeaks(dirs: string[] = []): Promise<LeakSnapshot> {
  const pids = ownedPids(await listProcesses(), process.pid, dirs);
  const sockets = new Set<string>();
  const subdirs = new Set<string>();
  for (const d of dirs) await walk(d, sockets, subdirs);
  return { dirs, pids, sockets, subdirs };
}

/** What {@link findLeaks} found; empty arrays mean no leak. */
export interface Leaks {
  /** New processes still alive, as `pid cmdline`. */
  processes: string[];
  /** New socket files. */
  sockets: string[];
  /** New directories. */
  dirs: string[];
}

/**
 * Compares the present with a snapshot.
 *
 * @param before the earlier snapshot
 * @returns what is new
 */
export async function findLeaks(before: LeakSnapshot): Promise<Leaks> {
  const procs = await listProcesses();
  const now = ownedPids(procs, process.pid, before.dirs);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const after = await snapshotDirs(before.dirs);
  return {
    processes: [...now].filter((p) => !before.pids.has(p)).map((p) => `${p} ${byPid.get(p)?.cmdline ?? ""}`),
    sockets: [...after.sockets].filter((s) => !before.sockets.has(s)),
    dirs: [...after.subdirs].filter((d) => !before.subdirs.has(d)),
  };
}

async function snapshotDirs(dirs: string[]): Promise<{ sockets: Set<string>; subdirs: Set<string> }> {
  const sockets = new Set<string>();
  const subdirs = new Set<string>();
  for (const d of dirs) await walk(d, sockets, subdirs);
  return { sockets, subdirs };
}

/**
 * Asserts that nothing new survives: no new owned process, socket or
 * directory. Polls until `timeoutMs`, since exiting processes take a moment.
 * When it fails, it first kills the leaked processes, so one failing test
 * does not leave shims running into the next.
 *
 * @param before the snapshot taken before the test
 * @param options `timeoutMs` (default 3000)
 * @throws Error listing every leak
 */
export async function assertNoLeaks(
  before: LeakSnapshot,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 3000);
  for (;;) {
    const leaks = await findLeaks(before);
    const count = leaks.processes.length + leaks.sockets.length + leaks.dirs.length;
    if (count === 0) return;
    if (Date.now() >= deadline) {
      for (const entry of leaks.processes) killLeaked(Number(entry.split(" ", 1)[0]));
      const parts: string[] = [];
      if (leaks.processes.length) parts.push(`processes: ${leaks.processes.join("; ")}`);
      if (leaks.sockets.length) parts.push(`sockets: ${leaks.sockets.join(", ")}`);
      if (leaks.dirs.length) parts.push(`dirs: ${leaks.dirs.join(", ")}`);
      throw new Error(`leaked ${parts.join("; ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILL (it ends a stopped process too); a process already gone is fine. */
function killLeaked(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}
