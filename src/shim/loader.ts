/**
 * Restore after restart: what containerd's `shim_load.go` does at daemon start, plus the
 * lessons its users paid for. {@link shouldCleanupShim} is the pure reap-or-keep decision.
 *
 * @module
 */

import { isDeadlineExceeded, isNotFound, kindOf } from "../errors.ts";

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

/** What the loader learned about one reachable shim; the input of {@link shouldCleanupShim}. */
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
   * True when the shim's task was created by us (it has a container record) and has exited: `Pids`
   * is empty, but its exit status is still to be collected by `wait`/`delete`, so it is kept.
   */
  exited?: boolean;
}

/**
 * Decides whether a reachable shim is leaked and must be reaped (Delete + Shutdown).
 * Only a shim that is certainly not a sandbox and whose `Pids` answered NotFound or an empty
 * list (for a task that is not a recorded, exited one) is leaked (containerd#6860). Everything else is kept: a slow answer (DeadlineExceeded,
 * timeout) is not proof of death, and neither is any other `Pids` error (containerd#13790).
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
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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
