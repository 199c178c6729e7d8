/**
 * Per-container mutation lock across processes: `<state>/.locks/<ns>/<id>.lock`, created
 * exclusively and holding its owner `{pid, startTime, host}`. A lock whose owner is dead, or
 * whose pid now belongs to another process (different start time), is stale and broken.
 * Reads of containers are lock-free; create, delete and the restore loader take this lock so a
 * shim being created is never reaped by a concurrent `load` or `gc`.
 *
 * The lock is not re-entrant: taking it twice in one process waits for the first holder.
 *
 * File operations here are synchronous on purpose: lock files are tiny, live on the local
 * state dir, are never fsync'ed, and `load` takes and releases one per shim. An async
 * `node:fs` call costs a thread-pool round trip (60–300 µs measured under load, Bun and Deno)
 * against 2–20 µs for the `*Sync` call, and acquire + release made about ten of them.
 *
 * @module
 */

import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { AbortedError, CanceledError, fromErrno } from "../errors.ts";
import { isProcessAlive } from "../platform/process.ts";
import { lockPath, LOCKS_DIR, locksDir } from "./layout.ts";

const LOCK_SUFFIX = ".lock";

/** Who holds a lock, as written in the lock file. */
export interface LockOwner {
  /** Process id of the holder. */
  pid: number;
  /** The holder's start time in clock ticks since boot (`/proc/<pid>/stat` field 22); tells pid reuse apart. */
  startTime: number;
  /** Host name of the holder; a lock from another host is never judged stale. */
  host: string;
}

/** What is known now about the process a lock names; the input of {@link isStaleLockOwner}. */
export interface ProcessProbe {
  /** True when a process with that pid exists and is not a zombie. */
  alive: boolean;
  /** Its start time when alive (field 22 of `/proc/<pid>/stat`). */
  startTime?: number;
}

/** Options for {@link acquireContainerLock}. */
export interface LockOptions {
  /** How long to wait for a live holder, in ms (default 10000; 0 = try once). */
  timeoutMs?: number;
  /** First retry delay in ms; doubles up to 100 ms (default 10). */
  retryMs?: number;
  /** Aborts the wait. */
  signal?: AbortSignal;
}

/** A held lock; release it exactly once (idempotent), or use `await using`. */
export interface ContainerLock extends AsyncDisposable {
  /** Path of the lock file. */
  readonly path: string;
  /** The owner written into the file (this process). */
  readonly owner: LockOwner;
  /** Removes the lock file if it is still ours. @returns when done */
  release(): Promise<void>;
}

/**
 * Parses the start time (field 22) and state (field 3) out of `/proc/<pid>/stat` text.
 * The command name (field 2) is in parentheses and may itself hold spaces and parentheses,
 * so fields are counted from the last `)`.
 *
 * @param stat the file's text
 * @returns start time in clock ticks and the one-letter state, or undefined when malformed
 */
export function parseProcStat(stat: string): { startTime: number; state: string } | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  const rest = stat.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  const startTime = Number(rest[19]);
  if (!rest[0] || !Number.isSafeInteger(startTime)) return undefined;
  return { startTime, state: rest[0] };
}

/**
 * Reads what the kernel says about a pid right now: alive (not a zombie) and its start time.
 *
 * @param pid process id
 * @returns the probe; `{alive: false}` when the pid is gone or a zombie
 */
export function probeProcess(pid: number): Promise<ProcessProbe> {
  return Promise.resolve(probeProcessNow(pid));
}

function probeProcessNow(pid: number): ProcessProbe {
  if (!isProcessAlive(pid)) return { alive: false };
  let text: string | undefined;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    text = undefined;
  }
  const st = text === undefined ? undefined : parseProcStat(text);
  return st ? { alive: true, startTime: st.startTime } : { alive: true };
}

/**
 * Decides whether a lock's owner is gone, so the lock may be broken: the pid is dead, or it
 * was reused by a process with a different start time. A lock from another host is never stale.
 *
 * @param owner the owner recorded in the lock file
 * @param host this host's name
 * @param now what the kernel says about `owner.pid` now
 * @returns true when the lock is stale
 */
export function isStaleLockOwner(owner: LockOwner, host: string, now: ProcessProbe): boolean {
  if (owner.host !== host) return false;
  if (!now.alive) return true;
  // A start time of 0 means the holder could not read its own: only liveness can be judged.
  return owner.startTime !== 0 && now.startTime !== undefined && now.startTime !== owner.startTime;
}

/**
 * Parses a lock file's content.
 *
 * @param text the file's text
 * @returns the owner, or undefined when the content is not a lock owner
 */
export function parseLockOwner(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return undefined;
    if (!Number.isSafeInteger(v.startTime) || typeof v.host !== "string") return undefined;
    return { pid: v.pid as number, startTime: v.startTime as number, host: v.host };
  } catch {
    return undefined;
  }
}

let selfOwner: LockOwner | undefined;
function ownOwner(): LockOwner {
  if (selfOwner) return selfOwner;
  const p = probeProcessNow(process.pid);
  selfOwner = { pid: process.pid, startTime: p.startTime ?? 0, host: hostname() };
  return selfOwner;
}

interface SeenLock {
  owner?: LockOwner;
  ino: number;
  mtimeMs: number;
}

/** Reads a lock file's owner and identity through one descriptor, so both describe the same file. */
function readOwnerAt(path: string): SeenLock | undefined {
  // Most containers are unlocked: a failed open costs an exception (~0.3 ms of a restore's time per
  // bundle, measured), a failed access() only a syscall. A lock file made in between is still read.
  if (!existsSync(path)) return undefined;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw fromErrno(err, `read lock ${JSON.stringify(path)}`);
  }
  try {
    const st = fstatSync(fd);
    return { owner: parseLockOwner(readFileSync(fd, "utf8")), ino: st.ino, mtimeMs: st.mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads who holds a container's lock, without judging it.
 *
 * @param state the state directory
 * @param namespace the namespace
 * @param id the container id
 * @returns the owner, or undefined when there is no (parsable) lock file
 */
export function readLockOwner(
  state: string,
  namespace: string,
  id: string,
): Promise<LockOwner | undefined> {
  try {
    return Promise.resolve(readOwnerAt(lockPath(state, namespace, id))?.owner);
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Returns the live holder of a container's lock: a lock file whose owner is not stale.
 * The restore loader uses this to never touch a container that is being created or deleted.
 *
 * @param state the state directory
 * @param namespace the namespace
 * @param id the container id
 * @returns the live owner, or undefined when the container is not locked (or only stale-locked)
 */
export function liveLockOwner(
  state: string,
  namespace: string,
  id: string,
): Promise<LockOwner | undefined> {
  try {
    const cur = readOwnerAt(lockPath(state, namespace, id));
    if (!cur || isStale(cur)) return Promise.resolve(undefined);
    // A young unparsable file is damaged or from a foreign writer: count it as held.
    return Promise.resolve(cur.owner ?? { pid: 0, startTime: 0, host: "" });
  } catch (err) {
    return Promise.reject(err);
  }
}

/** How old an unparsable lock file must be before it is considered abandoned. */
const UNPARSABLE_GRACE_MS = 2000;

function isStale(seen: SeenLock): boolean {
  if (!seen.owner) return Date.now() - seen.mtimeMs >= UNPARSABLE_GRACE_MS;
  return isStaleLockOwner(seen.owner, hostname(), probeProcessNow(seen.owner.pid));
}

function breakIfStale(path: string, seen: SeenLock): boolean {
  if (!isStale(seen)) return false;
  // Rename to a private name, then check it is the file we judged: a rival breaker may have
  // replaced it with a fresh live lock in between, which we must put back.
  const aside = `${path}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return true;
    throw fromErrno(err, `break lock ${JSON.stringify(path)}`);
  }
  let ino: number | undefined;
  try {
    ino = statSync(aside).ino;
  } catch {
    ino = undefined;
  }
  if (ino !== undefined && ino !== seen.ino) {
    try {
      linkSync(aside, path);
    } catch {
      // Someone took the path meanwhile: their lock stands.
    }
  }
  rmSync(aside, { force: true });
  return true;
}

/** Lock directories this process made (or found), so each `mkdir` happens once. */
const madeDirs = new Set<string>();

/**
 * Creates the lock file exclusively. Returns its inode, or undefined when another holder has it.
 * The owner is written to a private file that is then linked into place: link(2) fails with
 * EEXIST exactly as O_EXCL does, and a rival never sees a half-written owner.
 */
function tryCreate(dir: string, path: string, content: string): number | undefined {
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    madeDirs.add(dir);
  }
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  let fd: number;
  for (let attempt = 1;; attempt++) {
    try {
      fd = openSync(tmp, "wx", 0o600);
      break;
    } catch (err) {
      // The namespace dir was removed (an empty one is pruned by removeStaleLocks): make it again.
      if ((err as { code?: string }).code !== "ENOENT" || attempt >= 5) {
        throw fromErrno(err, `create lock ${JSON.stringify(path)}`);
      }
      madeDirs.delete(dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      madeDirs.add(dir);
    }
  }
  let ino: number;
  try {
    writeSync(fd, content);
    // The link below names this same inode.
    ino = fstatSync(fd).ino;
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return ino;
  } catch (err) {
    if ((err as { code?: string }).code === "EEXIST") return undefined;
    throw fromErrno(err, `create lock ${JSON.stringify(path)}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * Takes a container's mutation lock, waiting (bounded) while a live process holds it and
 * breaking it when its holder is dead or its pid was reused.
 *
 * @param state the state directory
 * @param namespace the namespace
 * @param id the container id
 * @param opts wait bound and retry delay
 * @returns the held lock
 * @throws AbortedError when a live holder kept it past `timeoutMs`; CanceledError on abort;
 *   InvalidArgumentError for a bad id
 */
export async function acquireContainerLock(
  state: string,
  namespace: string,
  id: string,
  opts: LockOptions = {},
): Promise<ContainerLock> {
  const path = lockPath(state, namespace, id);
  const dir = locksDir(state, namespace);
  const owner = ownOwner();
  const content = JSON.stringify(owner);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let delay = opts.retryMs ?? 10;
  for (;;) {
    if (opts.signal?.aborted) throw new CanceledError(`lock container "${namespace}/${id}": canceled`);
    const ino = tryCreate(dir, path, content);
    if (ino !== undefined) return heldLock(path, owner, ino);
    const seen = readOwnerAt(path);
    if (!seen || breakIfStale(path, seen)) continue;
    if (Date.now() >= deadline) {
      const who = seen.owner ? `pid ${seen.owner.pid} on "${seen.owner.host}"` : "an unreadable owner";
      throw new AbortedError(`lock container "${namespace}/${id}": held by ${who}`);
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())), opts.signal);
    delay = Math.min(delay * 2, 100);
  }
}

function heldLock(path: string, owner: LockOwner, ino: number): ContainerLock {
  let released = false;
  const release = () => {
    if (released) return Promise.resolve();
    released = true;
    try {
      // Only remove the file we created: after a (wrong) break someone else may own the path.
      if (statSync(path).ino === ino) unlinkSync(path);
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") {
        return Promise.reject(fromErrno(err, `release lock ${JSON.stringify(path)}`));
      }
    }
    return Promise.resolve();
  };
  return { path, owner, release, [Symbol.asyncDispose]: release };
}

/**
 * Runs `fn` while holding a container's mutation lock, releasing it afterwards either way.
 *
 * @param state the state directory
 * @param namespace the namespace
 * @param id the container id
 * @param fn the mutation to run
 * @param opts wait bound and retry delay
 * @returns what `fn` returns
 * @throws what {@link acquireContainerLock} or `fn` throws
 * @example
 * ```ts
 * await withContainerLock("/run/shimkit", "default", "c1", () => manager.delete("default", "c1"));
 * ```
 */
export async function withContainerLock<T>(
  state: string,
  namespace: string,
  id: string,
  fn: () => Promise<T>,
  opts?: LockOptions,
): Promise<T> {
  const lock = await acquireContainerLock(state, namespace, id, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Removes every stale lock file under `<state>/.locks` (owner dead or pid reused), plus empty
 * namespace directories there. Live locks are left alone.
 *
 * @param state the state directory
 * @param dryRun only list what would be removed
 * @returns the paths removed (or that would be)
 */
export function removeStaleLocks(state: string, dryRun = false): Promise<string[]> {
  const removed: string[] = [];
  const base = join(state, LOCKS_DIR);
  const list = (dir: string) => {
    try {
      return readdirSync(dir, { withFileTypes: true });
    } catch {
      return [];
    }
  };
  try {
    for (const ns of list(base)) {
      if (!ns.isDirectory()) continue;
      const dir = join(base, ns.name);
      for (const entry of list(dir)) {
        const path = join(dir, entry.name);
        if (!entry.name.endsWith(LOCK_SUFFIX)) {
          // Leftover temp or aside files from a crashed acquirer.
          let mtimeMs: number | undefined;
          try {
            mtimeMs = statSync(path).mtimeMs;
          } catch {
            mtimeMs = undefined;
          }
          if (mtimeMs !== undefined && Date.now() - mtimeMs > UNPARSABLE_GRACE_MS) {
            if (!dryRun) rmSync(path, { force: true });
            removed.push(path);
          }
          continue;
        }
        const seen = readOwnerAt(path);
        if (!seen) continue;
        if (dryRun) {
          if (isStale(seen)) removed.push(path);
        } else if (breakIfStale(path, seen)) {
          removed.push(path);
        }
      }
      if (!dryRun) {
        try {
          rmdirSync(dir);
          madeDirs.delete(dir);
        } catch {
          // Not empty: live locks stay.
        }
      }
    }
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.resolve(removed);
}
