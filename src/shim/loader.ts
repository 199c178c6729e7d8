/**
 * Restore after restart: what containerd's `shim_load.go` does at daemon start, plus the
 * lessons its users paid for. {@link shouldCleanupShim} is the pure reap-or-keep decision.
 *
 * Tiny local reads (bundle listing, `sandbox`, `shim-binary-path`, binary stats) are
 * synchronous: `load` makes them for every shim, and an async `node:fs` call costs a thread-pool
 * round trip (60–300 µs measured under load on Bun and Deno) against 2–20 µs for the `*Sync`
 * call. Nothing read here is fsync'ed or large; optional files are only read when the bundle
 * listing shows them.
 *
 * @module
 */

import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { DeadlineExceededError, fromErrno, isDeadlineExceeded, isNotFound, kindOf } from "../errors.ts";
import { isValidId } from "../ids.ts";
import {
  type Bundle,
  type BundleEntry,
  deleteBundle,
  finishInterruptedDelete,
  type InterruptedDelete,
  listBundles,
  listInterruptedDeletes,
} from "../bundle/bundle.ts";
import { BUNDLE_FILES, bundleDir, bundleFile, isHiddenName, recordPath, workDir } from "../bundle/layout.ts";
import { acquireContainerLock, liveLockOwner, type LockOwner, removeStaleLocks } from "../bundle/lock.ts";
import { dialSocket } from "../../vendor/ttrpc-ts/mod.ts";
import type { Logger } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import { isProcessAlive } from "../platform/process.ts";
import { removeTree } from "../platform/remove_tree.ts";
import type { RuntimeResolver } from "../runtime/resolve.ts";
import {
  type ContainerRecord,
  listRecordIds,
  parseRecord,
  readRecord,
  removeRecord,
  writeRecord,
} from "../bundle/records.ts";
import { type BootstrapInfo, parseStartResponse, readSmallBundleFileSync } from "../bundle/bootstrap.ts";
import type { Shim, ShimManager } from "./manager.ts";
import { socketFileOf } from "./socket.ts";

/** How reaching a shim went: connected, dead (socket missing or refused), slow, or another failure. */
export type DialOutcome = "ok" | "refused" | "missing" | "timeout" | "error" | "skipped";

/**
 * Classifies a failure to connect to a shim. Only a missing socket (ENOENT) or a refused one
 * (ECONNREFUSED) proves the shim is dead; a timeout means it is slow or stopped, not dead.
 *
 * @param err what dialling or the first `Connect` threw
 * @returns `missing`, `refused`, `timeout` or `error`
 */
export function dialOutcomeOf(err: unknown): "refused" | "missing" | "timeout" | "error" {
  let cur: unknown = err;
  for (let depth = 0; cur != null && depth < 16; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (code === "ENOENT") return "missing";
    if (code === "ECONNREFUSED") return "refused";
    if (code === "ETIMEDOUT") return "timeout";
    cur = (cur as { cause?: unknown }).cause;
  }
  return kindOf(err) === "deadline_exceeded" ? "timeout" : "error";
}

/**
 * What the loader learned about one reachable shim; the input of {@link shouldCleanupShim}.
 * The loader fills the `pids` fields from the task's `State` (the init pid until it has stopped,
 * none after; State's error otherwise): the same answers `Pids` gives for this decision, without
 * the `runc ps` the runc shim runs for every `Pids`.
 */
export interface ShimLiveness {
  /**
   * Whether the bundle belongs to a sandbox: `true` when a sandbox record exists, `false` when
   * there is certainly none, `"unknown"` when looking it up failed for another reason.
   */
  sandboxed: boolean | "unknown";
  /** The error the `Pids` call failed with, if it failed. */
  pidsError?: unknown;
  /** The processes `Pids` returned, when it answered. */
  pids?: readonly unknown[];
  /** True when `Pids` (or the load budget) ran out of time before an answer came. */
  timedOut?: boolean;
  /**
   * True when the shim's task was created by us (it has a container record or runc's `init.pid`)
   * and has exited: it has no processes, but its exit status is still to be collected by
   * `wait`/`delete`, so it is kept.
   */
  exited?: boolean;
}

/**
 * Tells whether a bundle's task was created through a manager: it has a container record, or runc's
 * `init.pid` (written by Create) is in the bundle. Such a task, once stopped, has an exit status still
 * to collect; see {@link ShimLiveness.exited}.
 *
 * @param hasRecord whether a container record exists for the bundle
 * @param bundleNames the bundle directory's entries
 * @returns true when the task was created
 */
export function taskWasCreated(hasRecord: boolean, bundleNames: readonly string[]): boolean {
  return hasRecord || bundleNames.includes(BUNDLE_FILES.initPid);
}

/**
 * Decides whether a reachable shim is leaked and must be reaped (Delete + Shutdown).
 * Only a shim that is certainly not a sandbox and whose `Pids` answered NotFound, or an empty
 * list for a task that is not a recorded, exited one, is leaked (containerd#6860). Everything
 * else is kept: a slow answer (DeadlineExceeded, timeout) is not proof of death, and neither is
 * any other `Pids` error (containerd#13790).
 *
 * @param s the sandbox lookup and `Pids` outcome
 * @returns true when the shim should be reaped
 * @example
 * ```ts
 * shouldCleanupShim({ sandboxed: false, pids: [] });                       // true
 * shouldCleanupShim({ sandboxed: false, pidsError: timeoutError });        // false
 * ```
 */
export function shouldCleanupShim(s: ShimLiveness): boolean {
  if (s.sandboxed !== false || s.timedOut) return false;
  if (s.pidsError !== undefined) {
    // Order matters: a deadline that wraps a NotFound is still only a deadline.
    if (isDeadlineExceeded(s.pidsError)) return false;
    return isNotFound(s.pidsError);
  }
  return s.pids !== undefined && s.pids.length === 0 && !s.exited;
}

/**
 * Maps items through an async function with at most `limit` calls in flight, keeping order.
 * A rejection rejects the whole call (callers that must not stop catch inside `fn`).
 *
 * @param items the inputs
 * @param limit most calls at once (at least 1)
 * @param fn the async mapping
 * @returns the results, in input order
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Tells whether something accepts connections on a unix socket file (one dial, no retry).
 *
 * @param path the socket path
 * @param timeoutMs bound for the dial (a full backlog or a stopped listener counts as listening)
 * @returns true when a connection was accepted or the dial timed out
 */
export async function isListening(path: string, timeoutMs = 200): Promise<boolean> {
  try {
    (await dialSocket(path, { timeoutMs })).destroy();
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code !== "ECONNREFUSED" && code !== "ENOENT";
  }
}

/**
 * What {@link loadExisting} needs from the task manager (a `TaskManager` is one): its shim
 * manager, and `get` to register each kept task.
 */
export interface LoadHost {
  /** The shim manager: load, describe, dead-shim cleanup, delete. */
  readonly shims: ShimManager;
  /**
   * Returns (and caches) the task of a loaded shim.
   *
   * @param namespace namespace
   * @param id container id
   * @returns the task
   */
  get(namespace: string, id: string): Promise<unknown>;
  /**
   * Registers the task of a shim the loader has just loaded, without reading its record and
   * bundle again; when absent, {@link LoadHost.get} is used.
   *
   * @param shim the loaded shim
   * @returns the task
   */
  adopt?(shim: Shim): unknown;
}

/** Options for {@link loadExisting}. */
export interface LoadOptions {
  /** The manager's state directory (bundles, locks, events socket). */
  state: string;
  /** The manager's root directory (work dirs, records). */
  root: string;
  /** Resolves runtime names when `shim-binary-path` and the record's binary are gone. */
  resolver?: RuntimeResolver;
  /** Runtime assumed for a bundle with neither `shim-binary-path` nor a record (default `io.containerd.runc.v2`). */
  defaultRuntime?: string;
  /** Budget for the whole load of one bundle, in ms (config `timeouts.load`; default 5000). */
  budgetMs?: number;
  /** Bundles loaded at once (config `restore.concurrency`; default 8). */
  concurrency?: number;
  /** Socket directories whose stale sockets (nothing listening) are removed (ours: the configured socket dir). */
  socketDirs?: string[];
  /** Further socket files of ours removed when nothing listens (e.g. the events socket). */
  sockets?: string[];
  /** Also remove work dirs, records, sockets and locks nothing owns (default true). */
  cleanup?: boolean;
  /** Logger. */
  logger?: Logger;
}

/** A shim that was loaded and kept. */
export interface KeptShim {
  /** Namespace. */
  namespace: string;
  /** Container id. */
  id: string;
  /** The shim daemon's pid, when it answered. */
  shimPid?: number;
  /** The task's init pid, when known. */
  taskPid?: number;
  /** Task API version in use (2 or 3), when it answered. */
  version?: number;
  /** Why it was kept without being fully loaded (slow shim, locked bundle), when that is the case. */
  note?: string;
}

/** A shim that was reaped, or a bundle whose dead shim was cleaned up. */
export interface ReapedShim {
  /** Namespace. */
  namespace: string;
  /** Container id. */
  id: string;
  /** Why: `dead shim: …` or `leaked shim: …`. */
  reason: string;
  /** The exit status reported for the task (dead-shim cleanup of a created task). */
  exitStatus?: number;
}

/** A path removed because nothing owns it. */
export interface CleanedPath {
  /** The path removed. */
  path: string;
  /**
   * Why: `empty bundle`, `work dir without bundle`, `record without bundle`, `unreadable record without
   * bundle`, `stale socket`, `stale lock`, `interrupted delete`.
   */
  reason: string;
  /** Namespace, when the path belonged to a container. */
  namespace?: string;
  /** Container id, when the path belonged to a container. */
  id?: string;
}

/** A failure that did not stop the load. */
export interface LoadError {
  /** Namespace, when it concerns a container. */
  namespace?: string;
  /** Container id, when it concerns a container. */
  id?: string;
  /** The error message. */
  message: string;
}

/** What {@link loadExisting} did. */
export interface LoadReport {
  /** Shims that run and were kept (connected when they answered in time). */
  kept: KeptShim[];
  /** Shims reaped (leaked) and dead shims cleaned up, with their bundles. */
  reaped: ReapedShim[];
  /** Empty bundles, work dirs, records, sockets and locks removed. */
  cleaned: CleanedPath[];
  /** What went wrong along the way. */
  errors: LoadError[];
}

const q = JSON.stringify;
const DEFAULT_RUNTIME = "io.containerd.runc.v2";

class BudgetExceeded extends DeadlineExceededError {}

/** A per-bundle deadline: non-destructive waits race it, destructive steps start only before it. */
class Budget {
  readonly #deadline: number;
  readonly #ms: number;
  constructor(ms: number) {
    this.#ms = ms;
    this.#deadline = Date.now() + ms;
  }
  left(): number {
    return Math.max(0, this.#deadline - Date.now());
  }
  check(what: string): void {
    if (this.left() === 0) throw new BudgetExceeded(`load budget of ${this.#ms}ms exceeded before ${what}`);
  }
  /** Races a wait against the budget; the wait itself goes on in the background and its failure is ignored. */
  race<T>(p: Promise<T>, what: string): Promise<T> {
    this.check(what);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BudgetExceeded(`load budget of ${this.#ms}ms exceeded while ${what}`)),
        this.left(),
      );
    });
    p.catch(() => {});
    return Promise.race([p, expired]).finally(() => clearTimeout(timer));
  }
}

function isExecutableFile(path: string): boolean {
  try {
    const st = statSync(path);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Reads a small bundle file synchronously (the module doc says why); one larger than any real
 * bootstrap or binary path is damage and is not read (`readSmallBundleFileSync`).
 *
 * @returns the bytes, or undefined when the file is missing, unreadable or too large
 */
function readSmallFileBytes(path: string): Uint8Array | undefined {
  try {
    return readSmallBundleFileSync(path);
  } catch {
    return undefined;
  }
}

/** {@link readSmallFileBytes} as trimmed text; "" when there is none. */
function readSmallFile(path: string): string {
  const bytes = readSmallFileBytes(path);
  return bytes ? new TextDecoder().decode(bytes).trim() : "";
}

/** A bundle's runtime: the name or path, the binary `shim delete` would run, and where they came from. */
export interface RuntimeChoice {
  /** Runtime name (`io.containerd.runc.v2`) or absolute binary path. */
  runtime: string;
  /** The shim binary; "" when none could be found. */
  runtimePath: string;
  /** Where the answer came from. */
  source: "shim-binary-path" | "record" | "default";
  /** Why no usable binary was found, when none was. */
  error?: string;
}

/**
 * Picks a bundle's shim binary: `shim-binary-path` while it exists; when it was moved
 * (containerd#14145), the record's runtime re-resolved by name; else the record's binary,
 * else its runtime resolved; else (no record: a crash before Create) the default runtime.
 *
 * @param bundle the bundle (only `path` is read)
 * @param rec the container record, when there is one
 * @param resolver resolves runtime names; omitted = only recorded binaries are considered
 * @param defaultRuntime the runtime assumed when nothing names one (default `io.containerd.runc.v2`)
 * @param bundleNames the bundle's listing, when the caller has it: `shim-binary-path` is read only if listed
 * @returns the choice; `error` says why `runtimePath` is empty or unusable
 */
export async function chooseRuntime(
  bundle: Pick<Bundle, "path">,
  rec: Pick<ContainerRecord, "runtime" | "runtimePath"> | undefined,
  resolver?: RuntimeResolver,
  defaultRuntime = DEFAULT_RUNTIME,
  bundleNames?: readonly string[],
): Promise<RuntimeChoice> {
  const absent = bundleNames !== undefined && !bundleNames.includes(BUNDLE_FILES.shimBinaryPath);
  const recorded = absent ? "" : readSmallFile(bundleFile(bundle.path, "shimBinaryPath"));
  const source = recorded ? "shim-binary-path" : rec ? "record" : "default";
  const runtime = rec?.runtime ?? (recorded || defaultRuntime);
  const candidates = [recorded, rec?.runtimePath ?? ""].filter((p) => p !== "");
  for (const path of candidates) {
    if (isExecutableFile(path)) return { runtime, runtimePath: path, source };
  }
  const gone = candidates.length > 0 ? `binary ${q(candidates[0])} is gone` : "";
  if (!resolver) {
    return {
      runtime,
      runtimePath: candidates[0] ?? "",
      source,
      error: gone || `no resolver for ${q(runtime)}`,
    };
  }
  try {
    return { runtime, runtimePath: await resolver.resolve(runtime), source };
  } catch (err) {
    const why = `runtime ${q(runtime)} cannot be resolved: ${(err as Error).message}`;
    return { runtime, runtimePath: candidates[0] ?? "", source, error: gone ? `${gone} and ${why}` : why };
  }
}

/** Reads a container record like `readRecord`, synchronously; a missing one is undefined, a bad one an error. */
function readRecordOrUndefined(root: string, ns: string, id: string, errors: LoadError[]) {
  const path = recordPath(root, ns, id);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") {
      errors.push({
        namespace: ns,
        id,
        message: fromErrno(err, `read container record ${q(`${ns}/${id}`)}`).message,
      });
    }
    return undefined;
  }
  try {
    return parseRecord(text, path);
  } catch (err) {
    errors.push({ namespace: ns, id, message: (err as Error).message });
    return undefined;
  }
}

/**
 * Reads `bootstrap.json` synchronously when the listing shows it, parsed like `readBootstrap`;
 * undefined when it is absent or bad (the shim manager then reads, migrates or reports it).
 */
function readBootstrapHint(bundle: Bundle, names: readonly string[]): BootstrapInfo | undefined {
  if (!names.includes(BUNDLE_FILES.bootstrap)) return undefined;
  const bytes = readSmallFileBytes(bundleFile(bundle.path, "bootstrap"));
  try {
    return bytes ? parseStartResponse(bytes) : undefined;
  } catch {
    return undefined;
  }
}

/** How long to wait before dialling a shim again that accepted and then dropped the connection. */
const DYING_SHIM_RETRY_MS = 50;

/**
 * Loads a shim, once more when the first try was accepted and then dropped before `Connect`
 * answered (Unavailable). That is a shim that is exiting: its threads still hold the listening
 * socket for a moment after it was killed. The second try finds it refusing, as a dead shim does,
 * or fails the same way for a live shim that drops connections (which is then reported).
 *
 * @param load one attempt (the shim manager's `load`)
 * @param retryMs pause before the second attempt
 * @returns what an attempt returned
 * @throws the first attempt's error when it is not Unavailable, else the second attempt's
 */
export async function loadShimOnceMore<T>(load: () => Promise<T>, retryMs = DYING_SHIM_RETRY_MS): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (dialOutcomeOf(err) !== "error" || kindOf(err) !== "unavailable") throw err;
    await new Promise((r) => setTimeout(r, retryMs));
    return await load();
  }
}

async function removeStaleSocket(address: string, cleaned: CleanedPath[]): Promise<void> {
  const path = socketFileOf(address);
  if (path === undefined) return;
  const st = await fsp.lstat(path).catch(() => undefined);
  if (!st?.isSocket() || await isListening(path, 200)) return;
  await fsp.rm(path, { force: true });
  cleaned.push({ path, reason: "stale socket" });
}

/** Writes back a record for a created task that has none (the manager died between Create and the record). */
async function restoreRecord(
  root: string,
  bundle: Bundle,
  choice: RuntimeChoice,
  sandboxId: string | undefined,
) {
  const [config, st] = await Promise.all([
    fsp.readFile(bundleFile(bundle.path, "config"), "utf8").then((t) =>
      JSON.parse(t) as Record<string, unknown>
    ),
    fsp.stat(bundle.path),
  ]);
  const rec: ContainerRecord = {
    namespace: bundle.namespace,
    id: bundle.id,
    runtime: choice.runtime,
    runtimePath: choice.runtimePath,
    spec: { inline: config },
    labels: {},
    createdAt: st.mtime,
  };
  if (sandboxId) rec.sandboxId = sandboxId;
  await writeRecord(root, rec);
}

interface BundleOutcome {
  kept?: KeptShim;
  reaped?: ReapedShim;
  errors: LoadError[];
  cleaned: CleanedPath[];
}

/**
 * Thrown by a lock-free pass of {@link loadLocked} just before a step that would change the disk
 * or the shim: the bundle is then loaded again, from the start, under its container lock.
 */
class NeedsLock extends Error {}

async function loadBundleShim(
  manager: LoadHost,
  entry: BundleEntry,
  opts: LoadOptions,
  log: Logger,
): Promise<BundleOutcome> {
  const { namespace: ns, id } = entry;
  const fields = { namespace: ns, id };
  const busy = (out: BundleOutcome, owner: LockOwner | undefined) => {
    out.kept = { namespace: ns, id, note: `busy: locked by pid ${owner?.pid ?? "?"}` };
    log.info("bundle is locked by a live process; skipped", { ...fields, pid: owner?.pid });
    return out;
  };
  // A live holder is creating or deleting this container right now: never touch it.
  const holder = await liveLockOwner(opts.state, ns, id).catch(() => undefined);
  if (holder) return busy({ errors: [], cleaned: [] }, holder);
  // Most shims are simply kept: probe without the lock (creating a lock file is the costliest
  // step of a load on a busy machine). Anything that would change the disk or the shim takes the
  // lock and decides again under it, so a create or delete that started meanwhile is seen.
  const probe: BundleOutcome = { errors: [], cleaned: [] };
  const settled = await runLoad(
    () => loadLocked(manager, entry, opts, log, probe, false),
    probe,
    log,
    fields,
  );
  if (settled) return probe;
  const out: BundleOutcome = { errors: [], cleaned: [] };
  const lock = await acquireContainerLock(opts.state, ns, id, { timeoutMs: 0 }).catch((err) => {
    if (kindOf(err) === "aborted") return undefined;
    throw err;
  });
  if (!lock) return busy(out, await liveLockOwner(opts.state, ns, id).catch(() => undefined));
  try {
    await runLoad(() => loadLocked(manager, entry, opts, log, out, true), out, log, fields);
  } finally {
    await lock.release();
  }
  return out;
}

/**
 * Runs one pass of {@link loadLocked}, recording its failure in `out`.
 *
 * @returns false when the pass stopped because it needs the container lock
 */
async function runLoad(
  pass: () => Promise<void>,
  out: BundleOutcome,
  log: Logger,
  fields: { namespace: string; id: string },
): Promise<boolean> {
  try {
    await pass();
  } catch (err) {
    if (err instanceof NeedsLock) return false;
    out.errors.push({ ...fields, message: (err as Error).message });
    if (err instanceof BudgetExceeded) {
      out.kept ??= { ...fields, note: "not answering in time: kept" };
      log.warn("shim did not load within its budget; kept", { ...fields, err });
    } else {
      log.error("load shim", { ...fields, err });
    }
  }
  return true;
}

async function loadLocked(
  manager: LoadHost,
  entry: BundleEntry,
  opts: LoadOptions,
  log: Logger,
  out: BundleOutcome,
  locked: boolean,
) {
  const { namespace: ns, id } = entry;
  const fields = { namespace: ns, id };
  /** Before any change: without the lock, stop here (the caller loads again under it). */
  const mutating = () => {
    if (!locked) throw new NeedsLock();
  };
  const budget = new Budget(opts.budgetMs ?? 5000);
  // What `loadBundle` returns, without its async stat: the listing below proves the directory.
  const bundle: Bundle = {
    id,
    namespace: ns,
    path: bundleDir(opts.state, ns, id),
    workDir: workDir(opts.root, ns, id),
    state: opts.state,
    root: opts.root,
  };
  let names: string[];
  try {
    names = readdirSync(bundle.path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Deleted since it was listed (by a delete that has finished): nothing to restore.
    if (code === "ENOENT" || code === "ENOTDIR") return;
    throw fromErrno(err, `load bundle ${q(ns + "/" + id)}`);
  }
  if (names.length === 0) {
    mutating();
    await deleteBundle(bundle);
    out.cleaned.push({ path: bundle.path, reason: "empty bundle", namespace: ns, id });
    log.info("removed empty bundle", fields);
    return;
  }
  const rec = readRecordOrUndefined(opts.root, ns, id, out.errors);
  // The listing says which optional files exist: no read (and no ENOENT error object) for absent ones.
  const sandboxId = rec?.sandboxId ??
    (names.includes(BUNDLE_FILES.sandbox) ? readSmallFile(bundleFile(bundle.path, "sandbox")) : "");
  const created = taskWasCreated(rec !== undefined, names);
  // Writes to come whatever the shim answers: the record restored, an `address` file migrated.
  if ((!rec && created) || !names.includes(BUNDLE_FILES.bootstrap)) mutating();
  const choice = await chooseRuntime(bundle, rec, opts.resolver, opts.defaultRuntime, names);
  if (choice.error) log.warn("runtime cannot be resolved", { ...fields, reason: choice.error });
  const loadOpts = { bundle, runtime: choice.runtime, runtimePath: choice.runtimePath, created };
  // What the listing and a sync read already tell, so the shim manager need not look again.
  const hints = {
    bootstrap: readBootstrapHint(bundle, names),
    sandboxed: names.includes(BUNDLE_FILES.sandbox),
  };

  let shim: Shim | undefined;
  /** Whether this manager tracked the shim before this load (then it is not released here). */
  let tracked = false;
  let deadReason = "";
  const hasAddress = names.includes(BUNDLE_FILES.bootstrap) || names.includes(BUNDLE_FILES.address);
  if (!hasAddress) {
    deadReason = "no bootstrap.json or address file";
  } else {
    try {
      tracked = manager.shims.get(ns, id) !== undefined;
      shim = await budget.race(
        loadShimOnceMore(() => manager.shims.load(ns, id, { ...loadOpts, ...hints })),
        "connecting",
      );
    } catch (err) {
      if (err instanceof BudgetExceeded) throw err;
      const outcome = dialOutcomeOf(err);
      if (outcome === "missing" || outcome === "refused") {
        deadReason = outcome === "missing" ? "socket is gone" : "socket refuses connections";
      } else if (outcome === "timeout") {
        throw new BudgetExceeded(`shim did not answer: ${(err as Error).message}`, { cause: err });
      } else if (kindOf(err) === "not_found" || kindOf(err) === "invalid_argument") {
        // No usable bootstrap data (e.g. an empty address file): the shim cannot be reached.
        deadReason = (err as Error).message;
      } else {
        throw err;
      }
    }
  }

  if (!shim) {
    mutating();
    budget.check("dead-shim cleanup");
    const ref = await manager.shims.describe(ns, id, loadOpts);
    log.warn("shim is dead; cleaning up", { ...fields, reason: deadReason });
    const exit = await manager.shims.cleanupDeadLocked(ref);
    if (!exit && await fsp.stat(bundle.path).then(() => true, () => false)) {
      // The shim answered again when the cleanup checked once more: it is alive after all.
      out.kept = { namespace: ns, id, note: "answered again during cleanup: kept" };
      return;
    }
    await removeRecord(opts.root, ns, id).catch((err) =>
      out.errors.push({ namespace: ns, id, message: (err as Error).message })
    );
    if (ref.address !== "") await removeStaleSocket(ref.address, out.cleaned);
    out.reaped = { namespace: ns, id, reason: `dead shim: ${deadReason}` };
    if (exit && created) out.reaped.exitStatus = exit.exitStatus;
    if (choice.error) out.reaped.reason += ` (${choice.error}: shim delete could not run)`;
    return;
  }

  // The liveness comes from `State`, not `Pids`: the runc shim answers Pids by running `runc ps`
  // (12–15 ms a shim, measured), State from memory (0.5–2 ms). Both answer NotFound for a task the
  // shim does not have; a task whose init has not stopped has processes, a stopped one has none.
  // And Connect has already named the task's init process: while it runs, the task has processes and
  // the shim is kept, so State is asked only when it does not (no task, a stopped one, or a pid that is
  // not a host process: VM-based and fake shims). A reused pid can only make us keep a shim, never reap
  // one. State was a third of a restore's CPU time (100 shims: 260 -> 180 ms, measured).
  let pids: unknown[] | undefined;
  let pidsError: unknown;
  const initPid = shim.connection.info.taskPid;
  if (initPid > 0 && isProcessAlive(initPid)) {
    pids = [initPid];
  } else {
    try {
      const st = await budget.race(shim.task.state(id, "", { timeoutMs: budget.left() }), "reading state");
      pids = st.status === "stopped" ? [] : [st.pid];
    } catch (err) {
      if (err instanceof BudgetExceeded) throw err;
      pidsError = err;
    }
  }
  // A stopped task we created (record or runc's init.pid) still has an exit status to collect.
  const exited = pids?.length === 0 && created;
  const sandboxed = sandboxId !== "" || shim.sandboxed;
  if (shouldCleanupShim({ sandboxed, pids, pidsError, exited })) {
    if (!locked) {
      // Let the locked pass connect afresh: what it finds decides.
      if (!tracked) await manager.shims.release(shim);
      mutating();
    }
    budget.check("reaping");
    const reason = pidsError ? "leaked shim: no task (State: not found)" : "leaked shim: no processes";
    log.info("cleaning leaked shim process", { ...fields, reason });
    shim.connection.expectClose();
    await shim.task.delete(id, "", { timeoutMs: Math.max(1, budget.left()) }).catch((err) => {
      if (!isNotFound(err)) log.debug("reap: delete task", { ...fields, err });
    });
    await manager.shims.delete(shim);
    await removeRecord(opts.root, ns, id).catch(() => false);
    out.reaped = { namespace: ns, id, reason };
    return;
  }
  let note: string | undefined;
  if (pidsError) {
    const slow = dialOutcomeOf(pidsError) === "timeout";
    note = slow ? "not answering in time: kept" : `State failed, kept: ${(pidsError as Error).message}`;
    if (slow) out.errors.push({ namespace: ns, id, message: (pidsError as Error).message });
    log.warn("shim kept although State failed", { ...fields, err: pidsError });
  }
  if (!rec && created) {
    await restoreRecord(opts.root, bundle, choice, sandboxId || undefined).catch((err) =>
      out.errors.push({ namespace: ns, id, message: `restore record: ${(err as Error).message}` })
    );
  }
  if (manager.adopt) manager.adopt(shim);
  else await manager.get(ns, id).catch((err) => log.debug("register task", { ...fields, err }));
  out.kept = {
    namespace: ns,
    id,
    shimPid: shim.pid,
    taskPid: shim.connection.info.taskPid || undefined,
    version: shim.version,
    note,
  };
}

/**
 * Restores every shim of a state directory at start-up (containerd `loadExistingTasks`),
 * bounded and concurrent: each bundle has its own budget (a wedged shim costs at most that),
 * bundles load `concurrency` at a time. Per bundle: a locked bundle (being created or deleted
 * by a live process) is skipped; an empty one is removed; the runtime comes from
 * `shim-binary-path` (re-resolved by the record's name when that binary was moved), else the
 * record; the bootstrap is restored (an `address` file migrates to `bootstrap.json`); a shim
 * whose socket is missing or refuses is dead and cleaned up (`shim delete`, synthesized
 * `/tasks/exit` + `/tasks/delete` once, bundle and record removed); a reachable leaked shim
 * (see {@link shouldCleanupShim}) gets Delete + Shutdown; a slow shim is kept. Then work dirs,
 * records, sockets and locks nothing owns, and what interrupted deletes left, are removed
 * ({@link cleanupWorkDirs}).
 *
 * @param manager the task manager whose shims are restored (kept shims are tracked by it)
 * @param opts directories, resolver, budget, concurrency, logger
 * @returns what was kept, reaped and cleaned, and what failed
 * @example
 * ```ts
 * const tm = await TaskManager.open({ state, root });
 * const report = await loadExisting(tm, { state, root, resolver });
 * for (const r of report.reaped) console.log(r.id, r.reason);
 * ```
 */
export async function loadExisting(manager: LoadHost, opts: LoadOptions): Promise<LoadReport> {
  const log = opts.logger ?? nullLogger;
  const report: LoadReport = { kept: [], reaped: [], cleaned: [], errors: [] };
  let entries: BundleEntry[] = [];
  try {
    entries = await listBundles(opts.state);
  } catch (err) {
    report.errors.push({ message: (err as Error).message });
  }
  const outcomes = await mapConcurrent(
    entries,
    opts.concurrency ?? 8,
    (e) =>
      loadBundleShim(manager, e, opts, log).catch((err): BundleOutcome => ({
        errors: [{ namespace: e.namespace, id: e.id, message: (err as Error).message }],
        cleaned: [],
      })),
  );
  const loaded: string[] = [];
  const liveSockets: string[] = [];
  for (const o of outcomes) {
    if (o.kept) {
      report.kept.push(o.kept);
      loaded.push(`${o.kept.namespace}/${o.kept.id}`);
      const socket = socketFileOf(manager.shims.get(o.kept.namespace, o.kept.id)?.address ?? "");
      if (socket) liveSockets.push(socket);
    }
    if (o.reaped) report.reaped.push(o.reaped);
    report.cleaned.push(...o.cleaned);
    report.errors.push(...o.errors);
  }
  if (opts.cleanup !== false) {
    const r = await cleanupWorkDirs(opts.state, opts.root, loaded, {
      socketDirs: opts.socketDirs,
      sockets: opts.sockets,
      liveSockets,
      logger: log,
    });
    report.cleaned.push(...r.cleaned);
    report.errors.push(...r.errors);
  }
  return report;
}

/** Options for {@link cleanupWorkDirs}. */
export interface CleanupOptions {
  /** Socket directories whose stale sockets are removed too. */
  socketDirs?: string[];
  /** Further socket files of ours removed when nothing listens (e.g. the events socket). */
  sockets?: string[];
  /** Socket paths of shims this process is connected to: in use, so never dialled or removed. */
  liveSockets?: string[];
  /** Only list what would be removed. */
  dryRun?: boolean;
  /** Logger. */
  logger?: Logger;
}

/**
 * Removes what no loaded shim owns (containerd `cleanupWorkDirs`, widened): `<root>/<ns>/<id>`
 * work dirs with neither a loaded shim nor a bundle (the reboot case: state on tmpfs is gone,
 * root is kept), container records whose bundle is gone, stale sockets of ours (`sockets`, e.g.
 * the events socket, and those under `socketDirs`, with nothing listening), stale locks, and the hidden
 * `.<id>` bundles and work dirs of deletes that were interrupted (older than
 * {@link INTERRUPTED_DELETE_GRACE_MS}; finished as {@link finishInterruptedDelete} says). Other hidden
 * names (`.records`, `.locks`) are skipped, and so is any container locked by a live process.
 *
 * @param state the state directory
 * @param root the root directory
 * @param loaded `ns/id` of the shims that were loaded (kept)
 * @param opts socket dirs, dry run, logger
 * @returns the paths removed (or that would be) and the failures
 */
export async function cleanupWorkDirs(
  state: string,
  root: string,
  loaded: Iterable<string>,
  opts: CleanupOptions = {},
): Promise<{ cleaned: CleanedPath[]; errors: LoadError[] }> {
  const log = opts.logger ?? nullLogger;
  const keep = new Set(loaded);
  const cleaned: CleanedPath[] = [];
  const errors: LoadError[] = [];
  // An unreadable lock counts as held: nothing is removed on a guess.
  const locked = (ns: string, id: string) =>
    liveLockOwner(state, ns, id).then((o) => o !== undefined, () => true);
  const ownedElsewhere = async (ns: string, id: string) =>
    keep.has(`${ns}/${id}`) ||
    await fsp.stat(join(state, ns, id)).then(() => true, () => false) ||
    await locked(ns, id);
  // The removal's error names the path (removeTree's and finishInterruptedDelete's both do).
  const remove = async (
    path: string,
    reason: string,
    ns?: string,
    id?: string,
    removal: () => Promise<void> = () => removeTree(path),
  ) => {
    try {
      if (!opts.dryRun) await removal();
      cleaned.push(ns === undefined ? { path, reason } : { path, reason, namespace: ns, id });
      log.info(opts.dryRun ? "would remove" : "removed", { path, reason });
    } catch (err) {
      errors.push({ namespace: ns, id, message: (err as Error).message });
    }
  };

  for (const ns of visibleDirs(root)) {
    for (const id of visibleDirs(join(root, ns))) {
      if (await ownedElsewhere(ns, id)) continue;
      await remove(join(root, ns, id), "work dir without bundle", ns, id);
    }
  }
  // Records of loaded shims were read (and their errors reported) by the load: only the others
  // are read here, to find the valid ones whose bundle is gone.
  const { ids, errors: listErrors } = listRecordIds(root);
  for (const e of listErrors) errors.push({ message: e.message });
  for (const [ns, id] of ids) {
    if (keep.has(`${ns}/${id}`)) continue;
    // A record is known by its file name: one that no longer parses, with no bundle, is as orphaned
    // as a valid one. With a bundle, a damaged record is reported and left to whoever owns it.
    let unreadable: Error | undefined;
    try {
      await readRecord(root, ns, id);
    } catch (err) {
      if (isNotFound(err)) continue;
      unreadable = err as Error;
    }
    if (await ownedElsewhere(ns, id)) {
      if (unreadable) errors.push({ message: unreadable.message });
      continue;
    }
    await remove(
      recordPath(root, ns, id),
      unreadable ? "unreadable record without bundle" : "record without bundle",
      ns,
      id,
    );
  }
  const sockets = [...(opts.sockets ?? [])];
  for (const dir of opts.socketDirs ?? []) {
    for (const name of listNames(dir)) {
      // A hidden name is a listener's temporary name while it binds (ttrpc-ts, the fake shim's start):
      // bound but not yet listening, it would look stale. Only one left behind by a crash is removed.
      if (name.startsWith(".") && !isOlderThan(join(dir, name), HIDDEN_SOCKET_GRACE_MS)) continue;
      sockets.push(join(dir, name));
    }
  }
  // A loaded shim's socket is in use: do not dial it just to learn that.
  const inUse = new Set(opts.liveSockets ?? []);
  for (const path of sockets) {
    if (inUse.has(path)) continue;
    const st = await fsp.lstat(path).catch(() => undefined);
    if (!st?.isSocket() || await isListening(path, 200)) continue;
    await remove(path, "stale socket");
  }
  for (const path of await removeStaleLocks(state, opts.dryRun)) cleaned.push({ path, reason: "stale lock" });
  let interrupted: InterruptedDelete[] = [];
  try {
    interrupted = await listInterruptedDeletes(state, root);
  } catch (err) {
    errors.push({ message: `list interrupted deletes: ${(err as Error).message}` });
  }
  for (const entry of interrupted) {
    const { namespace, id, path } = entry;
    if (!isInterruptedDelete(Date.now() - entry.mtimeMs, await locked(namespace, id))) continue;
    await remove(path, "interrupted delete", namespace, id, () => finishInterruptedDelete(entry));
  }
  return { cleaned, errors };
}

/**
 * How long a hidden `.<id>` left by a delete must have been still before cleanup and `doctor` take
 * it for an interrupted delete: a delete in progress keeps changing it.
 */
export const INTERRUPTED_DELETE_GRACE_MS = 60_000;

/**
 * Tells whether a hidden `.<id>` directory is an interrupted delete to finish, not one in progress.
 *
 * @param ageMs time since its entries last changed
 * @param locked whether a live process holds the container's lock (a delete or a new create is running)
 * @returns true when cleanup should finish it
 */
export function isInterruptedDelete(ageMs: number, locked: boolean): boolean {
  return !locked && ageMs >= INTERRUPTED_DELETE_GRACE_MS;
}

/** How old a hidden (temporary) socket name must be before cleanup takes it for a crashed bind's. */
const HIDDEN_SOCKET_GRACE_MS = 60_000;

function isOlderThan(path: string, ms: number): boolean {
  try {
    return Date.now() - lstatSync(path).mtimeMs > ms;
  } catch {
    return false;
  }
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function visibleDirs(path: string): string[] {
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.filter((e) => e.isDirectory() && !isHiddenName(e.name) && isValidId(e.name)).map((e) =>
    e.name
  ).sort();
}
