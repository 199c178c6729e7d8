/**
 * `shimkit doctor`: a read-only inventory of a state directory, ours or containerd's own
 * `io.containerd.runtime.v2.task` layout. For each bundle it finds the runtime, the bootstrap
 * data, the shim and task pids, whether the socket answers and the task's status; then
 * `classify.ts` judges it. Nothing is written: no bootstrap migration, no removal, no RPC that
 * changes state (only Connect, Pids and State).
 *
 * @module
 */

import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { isNotFound } from "../errors.ts";
import { type BundleEntry, listBundles, listInterruptedDeletes } from "../bundle/bundle.ts";
import { readBootstrap } from "../bundle/bootstrap.ts";
import {
  BUNDLE_FILES,
  bundleFile,
  isHiddenName,
  LOCKS_DIR,
  recordPath,
  RECORDS_DIR,
} from "../bundle/layout.ts";
import { liveLockOwner } from "../bundle/lock.ts";
import { isHostPid, isProcessAlive } from "../platform/process.ts";
import type { RuntimeResolver } from "../runtime/resolve.ts";
import { ShimConnection } from "../shim/connection.ts";
import { dialPath } from "../shim/socket.ts";
import { chooseRuntime, dialOutcomeOf, isListening, mapConcurrent, taskWasCreated } from "../shim/loader.ts";
import { type ContainerRecord, listRecordIds, readRecord } from "../bundle/records.ts";
import {
  type BundleProbe,
  classifyInventory,
  type Diagnosis,
  emptyInventory,
  type Inventory,
} from "./classify.ts";

/** Options for {@link doctor} and {@link takeInventory}. */
export interface DoctorOptions {
  /** The state directory to inspect (ours, or e.g. `/run/containerd/io.containerd.runtime.v2.task`). */
  state: string;
  /** The matching root directory (work dirs, records); omitted = those checks are skipped. */
  root?: string;
  /** Directories whose socket files are checked for a listener (ours: the configured socket dir). */
  socketDirs?: string[];
  /** Further socket files to check (ours: the events socket). */
  sockets?: string[];
  /** Resolves runtime names; omitted = runtimes are only checked for existence when they are paths. */
  resolver?: RuntimeResolver;
  /** Bound for reaching one shim (dial, Connect, Pids, State), in ms (default 1000). */
  timeoutMs?: number;
  /** Bundles probed at once (default 8). */
  concurrency?: number;
}

/** What {@link doctor} returns: the diagnosis plus the directories inspected. */
export interface DoctorReport extends Diagnosis {
  /** The state directory inspected. */
  state: string;
  /** The root directory inspected, when known. */
  root?: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

async function readPid(path: string): Promise<number | undefined> {
  const t = await readText(path);
  const n = t === undefined ? NaN : Number(t.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

async function exists(path: string): Promise<boolean> {
  return await fsp.access(path).then(() => true, () => false);
}

async function probeRuntime(
  p: BundleProbe,
  opts: DoctorOptions,
  rec: ContainerRecord | undefined,
): Promise<void> {
  const choice = await chooseRuntime(p, rec, opts.resolver);
  // Without shim-binary-path or a record, containerd's layout names no runtime: nothing to judge.
  if (choice.source === "default") return;
  p.runtime = choice.source === "shim-binary-path" && choice.runtimePath
    ? choice.runtimePath
    : choice.runtime;
  p.runtimeSource = choice.source;
  if (choice.error && opts.resolver) p.runtimeError = choice.error;
}

async function probeBootstrap(p: BundleProbe): Promise<void> {
  try {
    const b = await readBootstrap(p);
    p.bootstrap = { ...b, source: "bootstrap.json" };
    return;
  } catch (err) {
    if (!isNotFound(err)) {
      p.bootstrapError = (err as Error).message;
      return;
    }
  }
  const address = (await readText(bundleFile(p.path, "address")))?.trim();
  if (address) p.bootstrap = { version: 2, protocol: "ttrpc", address, source: "address" };
}

async function probeShim(p: BundleProbe, timeoutMs: number): Promise<void> {
  if (!p.bootstrap) {
    p.dial = "skipped";
    return;
  }
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  let conn: ShimConnection;
  try {
    conn = await ShimConnection.open({
      address: dialPath(p.bootstrap.address),
      namespace: p.namespace,
      id: p.id,
      version: p.bootstrap.version >= 3 ? 3 : 2,
      timeoutMs,
    });
  } catch (err) {
    p.dial = dialOutcomeOf(err);
    p.dialError = (err as Error).message;
    return;
  }
  try {
    p.dial = "ok";
    p.taskApi = conn.version;
    p.shimPid = conn.info.shimPid || p.shimPid;
    if (conn.info.taskPid) p.taskPid = conn.info.taskPid;
    try {
      p.pids = { count: (await conn.task.pids(p.id, { timeoutMs: left() })).length };
    } catch (err) {
      p.pids = { error: err, timedOut: dialOutcomeOf(err) === "timeout" };
    }
    try {
      const st = await conn.task.state(p.id, "", { timeoutMs: left() });
      p.taskStatus = st.status;
      if (st.pid) p.taskPid = st.pid;
    } catch (err) {
      if (!isNotFound(err)) p.dialError = (err as Error).message;
    }
  } finally {
    conn.close();
  }
}

/**
 * Probes one bundle: contents, lock, runtime, bootstrap, pid files, and the shim itself.
 *
 * @param entry the bundle's namespace, id and path
 * @param opts state, root, resolver and timeout
 * @returns what was seen (not judged; see `classifyBundle`)
 */
export async function probeBundle(entry: BundleEntry, opts: DoctorOptions): Promise<BundleProbe> {
  const names = await fsp.readdir(entry.path).catch(() => [] as string[]);
  const p: BundleProbe = { ...entry, empty: names.length === 0, dial: "skipped", sandboxed: false };
  if (p.empty) return p;
  let rec: ContainerRecord | undefined;
  if (opts.root) {
    try {
      rec = await readRecord(opts.root, entry.namespace, entry.id);
      if (rec.sandboxId) p.sandboxed = true;
    } catch (err) {
      if (!isNotFound(err)) p.sandboxed = "unknown";
    }
  }
  if (names.includes(BUNDLE_FILES.sandbox)) p.sandboxed = true;
  p.created = taskWasCreated(rec !== undefined, names);
  await probeRuntime(p, opts, rec);
  await probeBootstrap(p);
  p.shimPid = await readPid(bundleFile(p.path, "shimPid"));
  p.taskPid = await readPid(bundleFile(p.path, "initPid"));
  await probeShim(p, opts.timeoutMs ?? 1000);
  if (p.shimPid) p.shimAlive = isProcessAlive(p.shimPid);
  // A simulated pid (the fake shim's) names no host process: its liveness is unknown, not "dead".
  if (p.taskPid && isHostPid(p.taskPid)) p.taskAlive = isProcessAlive(p.taskPid);
  return p;
}

async function subdirs(path: string): Promise<string[]> {
  const entries = await fsp.readdir(path, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !isHiddenName(e.name)).map((e) => e.name).sort();
}

async function socketFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const st = await fsp.lstat(path).catch(() => undefined);
    if (st?.isSocket()) out.push(path);
  }
  return out.sort();
}

async function scanLocks(state: string): Promise<{ busy: Map<string, number>; stale: string[] }> {
  const busy = new Map<string, number>();
  const stale: string[] = [];
  const base = join(state, LOCKS_DIR);
  for (const ns of await subdirs(base)) {
    for (const name of await fsp.readdir(join(base, ns)).catch(() => [] as string[])) {
      if (!name.endsWith(".lock")) continue;
      const id = name.slice(0, -".lock".length);
      let owner;
      try {
        owner = await liveLockOwner(state, ns, id);
      } catch {
        continue; // not a name we could have written
      }
      if (owner) busy.set(`${ns}/${id}`, owner.pid);
      else if (await exists(join(base, ns, name))) stale.push(join(base, ns, name));
    }
  }
  return { busy, stale };
}

/**
 * Probes everything under a state directory (and its root, when given), read-only.
 *
 * @param opts what to inspect and how long to wait for each shim
 * @returns the inventory, ready for `classifyInventory`
 */
export async function takeInventory(opts: DoctorOptions): Promise<Inventory> {
  const entries = await listBundles(opts.state);
  const bundles = await mapConcurrent(entries, opts.concurrency ?? 8, (e) => probeBundle(e, opts));
  const inv: Inventory = { ...emptyInventory(), bundles };
  const locks = await scanLocks(opts.state);
  inv.busy = [...locks.busy.keys()];
  inv.staleLocks = locks.stale;
  for (const b of bundles) b.lockedBy = locks.busy.get(`${b.namespace}/${b.id}`);
  if (opts.root) {
    for (const ns of await subdirs(opts.root)) {
      if (ns === RECORDS_DIR) continue;
      for (const id of await subdirs(join(opts.root, ns))) {
        inv.workDirs.push({ namespace: ns, id, path: join(opts.root, ns, id) });
      }
    }
    // By file name: a record that no longer parses is as orphaned as a valid one when its bundle is gone.
    for (const [namespace, id] of listRecordIds(opts.root).ids) {
      inv.records.push({ namespace, id, path: recordPath(opts.root, namespace, id) });
    }
  }
  const now = Date.now();
  for (const d of await listInterruptedDeletes(opts.state, opts.root)) {
    inv.interruptedDeletes.push({ namespace: d.namespace, id: d.id, path: d.path, ageMs: now - d.mtimeMs });
  }
  const sockets = [...(opts.sockets ?? [])];
  for (const dir of opts.socketDirs ?? []) sockets.push(...await socketFiles(dir));
  for (const path of new Set(sockets)) {
    const st = await fsp.lstat(path).catch(() => undefined);
    if (!st?.isSocket()) continue;
    inv.sockets.push({ path, listening: await isListening(path, Math.min(opts.timeoutMs ?? 1000, 500)) });
  }
  return inv;
}

/**
 * Inspects a state directory and judges what it finds (read-only).
 *
 * @param opts what to inspect
 * @returns bundles with their health, problems, and `ok` (no error-level problem)
 * @example
 * ```ts
 * const r = await doctor({ state: "/run/containerd/io.containerd.runtime.v2.task" });
 * for (const p of r.problems) console.log(p.code, p.path, p.message);
 * ```
 */
export async function doctor(opts: DoctorOptions): Promise<DoctorReport> {
  const d = classifyInventory(await takeInventory(opts));
  return { state: opts.state, root: opts.root, ...d };
}
