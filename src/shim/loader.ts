/**
 * Restore after restart: what containerd's `shim_load.go` does at daemon start, plus the
 * lessons its users paid for. {@link shouldCleanupShim} is the pure reap-or-keep decision.
 *
 * @module
 */

import { isDeadlineExceeded, isNotFound } from "../errors.ts";

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
}

/**
 * Decides whether a reachable shim is leaked and must be reaped (Delete + Shutdown).
 * Only a shim that is certainly not a sandbox and whose `Pids` answered NotFound or an empty
 * list is leaked (containerd#6860). Everything else is kept: a slow answer (DeadlineExceeded,
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
  return s.pids !== undefined && s.pids.length === 0;
}
