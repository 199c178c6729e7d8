/**
 * Pure classification for `shimkit doctor` and `shimkit gc --dry-run`: turns what the probes
 * saw (bundles, work dirs, records, sockets, locks, half-done deletes) into a health per bundle and a list of
 * problems. No I/O here; `doctor.ts` does the probing.
 *
 * @module
 */

import { type DialOutcome, isInterruptedDelete, shouldCleanupShim } from "../shim/loader.ts";

/** How bad a problem is: errors make `doctor` exit non-zero and are what `gc` acts on. */
export type Severity = "error" | "warning";

/** Stable problem codes (also the `code` field of `doctor --json`). */
export type ProblemCode =
  | "empty-bundle"
  | "dead-shim"
  | "unresponsive-shim"
  | "leaked-shim"
  | "missing-bootstrap"
  | "missing-address"
  | "bad-bootstrap"
  | "unresolvable-runtime"
  | "orphan-work-dir"
  | "orphan-record"
  | "stale-socket"
  | "stale-lock"
  | "interrupted-delete";

/** One finding. */
export interface Problem {
  /** Stable code. */
  code: ProblemCode;
  /** error or warning. */
  severity: Severity;
  /** Namespace, when the problem belongs to a container. */
  namespace?: string;
  /** Container id, when the problem belongs to a container. */
  id?: string;
  /** The path concerned. */
  path: string;
  /** Human-readable explanation (lowercase, no trailing period). */
  message: string;
}

/** What the probes saw about one bundle directory. */
export interface BundleProbe {
  /** Namespace directory name. */
  namespace: string;
  /** Bundle directory name (the container id). */
  id: string;
  /** Bundle path. */
  path: string;
  /** True when the bundle directory has no entries. */
  empty: boolean;
  /** Live holder of the container's mutation lock: the bundle is being created or deleted. */
  lockedBy?: number;
  /** Runtime name or binary path, when known. */
  runtime?: string;
  /** Where {@link runtime} came from. */
  runtimeSource?: "shim-binary-path" | "record";
  /** Why the runtime could not be resolved to an existing binary (absent when it resolved or is unknown). */
  runtimeError?: string;
  /** The bootstrap in effect: bootstrap.json, or the legacy address file (version 2). */
  bootstrap?: { version: number; protocol: string; address: string; source: "bootstrap.json" | "address" };
  /** Why bootstrap.json could not be read (it exists but is damaged). */
  bootstrapError?: string;
  /** Shim process id (from Connect, else the shim.pid file). */
  shimPid?: number;
  /** Whether {@link shimPid} is alive. */
  shimAlive?: boolean;
  /** Task (init) process id (from Connect, else init.pid). */
  taskPid?: number;
  /** Whether {@link taskPid} is alive. */
  taskAlive?: boolean;
  /** How dialling the socket went. */
  dial: DialOutcome;
  /** The dial or RPC error text. */
  dialError?: string;
  /** Task status from State (`running`, `stopped`, …) when the shim answered. */
  taskStatus?: string;
  /** Task protocol version in use (2 or 3) when the shim answered. */
  taskApi?: number;
  /** Whether a sandbox record names this bundle (`"unknown"` when that could not be told). */
  sandboxed: boolean | "unknown";
  /** Outcome of Pids when the shim answered Connect. */
  pids?: { count?: number; error?: unknown; timedOut?: boolean };
  /**
   * True when the task was created through a manager (a container record, or runc's `init.pid`,
   * exists): once it has stopped, it has no processes but an exit status still to collect.
   */
  created?: boolean;
}

/** Health of a bundle, in one word. */
export type BundleHealth = "ok" | "busy" | "empty" | "dead" | "leaked" | "unresponsive" | "broken";

/** A bundle with its verdict. */
export interface BundleReport extends BundleProbe {
  /** The verdict. */
  health: BundleHealth;
}

/** Everything probed in one state directory (and its root, when known). */
export interface Inventory {
  /** The bundles found under the state dir. */
  bundles: BundleProbe[];
  /** Work dirs found under root (`<root>/<ns>/<id>`); empty when root is unknown. */
  workDirs: Array<{ namespace: string; id: string; path: string }>;
  /** Container records found (`<root>/.records/<ns>/<id>.json`). */
  records: Array<{ namespace: string; id: string; path: string }>;
  /** Socket files of ours, with whether something listens. */
  sockets: Array<{ path: string; listening: boolean }>;
  /** Lock files whose owner is gone. */
  staleLocks: string[];
  /** Containers whose lock is held by a live process (`ns/id`): never flagged as orphans. */
  busy: string[];
  /**
   * Hidden `.<id>` bundles and work dirs that deletes renamed but did not finish removing, with the
   * time since their entries last changed (a delete in progress keeps that short).
   */
  interruptedDeletes: Array<{ namespace: string; id: string; path: string; ageMs: number }>;
}

/**
 * An inventory with nothing in it, for probes to fill.
 *
 * @returns a fresh empty inventory
 */
export function emptyInventory(): Inventory {
  return {
    bundles: [],
    workDirs: [],
    records: [],
    sockets: [],
    staleLocks: [],
    busy: [],
    interruptedDeletes: [],
  };
}

/** The result of {@link classifyInventory}. */
export interface Diagnosis {
  /** Every bundle with its health. */
  bundles: BundleReport[];
  /** All problems, bundle problems first. */
  problems: Problem[];
  /** True when there is no problem of severity `error`. */
  ok: boolean;
}

/**
 * Judges one bundle.
 *
 * @param p what the probes saw
 * @returns its health and problems
 */
export function classifyBundle(p: BundleProbe): { health: BundleHealth; problems: Problem[] } {
  const problems: Problem[] = [];
  const at = { namespace: p.namespace, id: p.id, path: p.path };
  const add = (code: ProblemCode, severity: Severity, message: string) =>
    problems.push({ code, severity, ...at, message });

  if (p.lockedBy !== undefined) return { health: "busy", problems };
  if (p.empty) {
    add("empty-bundle", "error", "bundle directory is empty");
    return { health: "empty", problems };
  }

  let health: BundleHealth = "ok";
  if (p.runtimeError !== undefined) {
    add(
      "unresolvable-runtime",
      "error",
      `runtime ${q(p.runtime ?? "")} cannot be resolved: ${p.runtimeError}`,
    );
    health = "broken";
  }
  if (p.bootstrapError !== undefined) {
    add("bad-bootstrap", "error", `bootstrap.json is damaged: ${p.bootstrapError}`);
    health = "broken";
  } else if (!p.bootstrap) {
    add("missing-address", "error", "neither bootstrap.json nor an address file: the shim cannot be reached");
    health = "broken";
  } else if (p.bootstrap.source === "address") {
    add("missing-bootstrap", "warning", "missing bootstrap.json (legacy address file; load migrates it)");
  }

  switch (p.dial) {
    case "refused":
    case "missing": {
      const task = p.taskAlive ? ` (task pid ${p.taskPid} still runs unsupervised)` : "";
      add(
        "dead-shim",
        "error",
        `shim is dead: socket ${p.dial === "missing" ? "is gone" : "refuses connections"}${task}`,
      );
      return { health: "dead", problems };
    }
    case "timeout":
      add(
        "unresponsive-shim",
        "warning",
        "shim did not answer in time (kept: a slow shim is not a dead one)",
      );
      return { health: health === "ok" ? "unresponsive" : health, problems };
    case "error":
      add("unresponsive-shim", "warning", `shim could not be queried: ${p.dialError ?? "unknown error"}`);
      return { health: health === "ok" ? "unresponsive" : health, problems };
    case "skipped":
      return { health, problems };
    case "ok":
      break;
  }
  const pids = p.pids && pidsOf(p.pids);
  if (
    p.pids &&
    shouldCleanupShim({
      sandboxed: p.sandboxed,
      pidsError: p.pids.error,
      pids,
      timedOut: p.pids.timedOut,
      // The same rule as `load`: a stopped task that was created through a manager is kept.
      exited: pids?.length === 0 && p.created === true,
    })
  ) {
    add(
      "leaked-shim",
      "error",
      p.pids.error !== undefined
        ? "shim runs but has no task: leaked"
        : "shim runs but its task has no processes and no container record: leaked",
    );
    return { health: "leaked", problems };
  }
  return { health, problems };
}

function pidsOf(p: { count?: number; error?: unknown }): unknown[] | undefined {
  return p.error === undefined && p.count !== undefined ? new Array(p.count) : undefined;
}

const q = (s: string) => JSON.stringify(s);

/**
 * Judges a whole inventory: each bundle, plus work dirs and records with no bundle, stale
 * sockets and stale locks. A container whose lock is held by a live process is never flagged.
 *
 * @param inv what the probes saw
 * @returns bundles with their health, the problems, and whether there is no error
 */
export function classifyInventory(inv: Inventory): Diagnosis {
  const bundles: BundleReport[] = [];
  const problems: Problem[] = [];
  const have = new Set<string>();
  const busy = new Set(inv.busy);
  for (const b of inv.bundles) {
    have.add(`${b.namespace}/${b.id}`);
    const r = classifyBundle(b);
    bundles.push({ ...b, health: r.health });
    problems.push(...r.problems);
  }
  for (const w of inv.workDirs) {
    const key = `${w.namespace}/${w.id}`;
    if (have.has(key) || busy.has(key)) continue;
    problems.push({ code: "orphan-work-dir", severity: "error", ...w, message: "work dir has no bundle" });
  }
  for (const r of inv.records) {
    const key = `${r.namespace}/${r.id}`;
    if (have.has(key) || busy.has(key)) continue;
    problems.push({
      code: "orphan-record",
      severity: "error",
      ...r,
      message: "container record has no bundle",
    });
  }
  for (const s of inv.sockets) {
    if (s.listening) continue;
    problems.push({
      code: "stale-socket",
      severity: "error",
      path: s.path,
      message: "socket has no listener",
    });
  }
  for (const path of inv.staleLocks) {
    problems.push({ code: "stale-lock", severity: "warning", path, message: "lock owner is gone" });
  }
  for (const d of inv.interruptedDeletes) {
    if (!isInterruptedDelete(d.ageMs, busy.has(`${d.namespace}/${d.id}`))) continue;
    problems.push({
      code: "interrupted-delete",
      severity: "error",
      namespace: d.namespace,
      id: d.id,
      path: d.path,
      message: "left by a delete that did not finish",
    });
  }
  return { bundles, problems, ok: !problems.some((p) => p.severity === "error") };
}
