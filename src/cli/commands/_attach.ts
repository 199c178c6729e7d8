/**
 * A foreground process (`run`, `start -a`, `exec`): attach our streams to its
 * FIFOs, start it, forward our signals and terminal size to it, wait for its
 * exit and for its output to drain.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { ExitInfo } from "../../taskapi/types.ts";
import type { FifoSet } from "../stdio.ts";
import { INTERRUPTS_TO_KILL, nextForward } from "../signals.ts";
import { enterRawMode, forwardSignals, processStreams, watchTerminalSize } from "./_task.ts";

/** The parts of a task a foreground process needs. */
export interface AttachableTask {
  /** Starts the process; resolves with its pid. */
  start(execId?: string): Promise<number>;
  /** Waits for the process to exit. */
  wait(execId?: string): Promise<ExitInfo>;
  /** Signals the process. */
  kill(signal: number, opts?: { all?: boolean; execId?: string }): Promise<void>;
  /** Closes the process's stdin. */
  closeIO(opts?: { execId?: string; stdin?: boolean }): Promise<void>;
  /** Resizes the process's pty. */
  resizePty(width: number, height: number, execId?: string): Promise<void>;
}

/** Options for {@link runForeground}. */
export interface ForegroundOptions {
  /** The exec id, for an exec. */
  execId?: string;
  /** Forward our stdin. */
  interactive: boolean;
  /** The process has a pty. */
  tty: boolean;
  /** How long to wait for output after the exit (ms). */
  drainMs?: number;
  /** Logger for non-fatal problems. */
  logger: Logger;
  /** Skip Start (the caller already started it). */
  started?: boolean;
  /**
   * Called once our signal forwarding is in place, right before Start (e.g.
   * `SetupInterrupts.handOver`); what it throws ends the call without a Start.
   */
  beforeStart?: () => void;
}

/** How long output may lag behind the exit before we stop waiting for it. */
export const DEFAULT_DRAIN_MS = 2000;

/**
 * Attaches, starts, forwards and waits. Our stdio must not be the shim's: the
 * FIFOs are read here and copied to this process's own stdout/stderr.
 *
 * @param task the task
 * @param fifos the process's FIFOs (opened before and passed to Create/Exec), or undefined for no I/O
 * @param opts exec id, stdin/pty, logger
 * @returns the exit status and time
 * @throws ShimkitError from Start or Wait (signals and resizes that fail are only logged)
 */
export async function runForeground(
  task: AttachableTask,
  fifos: FifoSet | undefined,
  opts: ForegroundOptions,
): Promise<ExitInfo> {
  const execId = opts.execId;
  const log = opts.logger;
  if (fifos) {
    await fifos.attach({
      ...processStreams(opts.interactive),
      onStdinEnd: () =>
        task.closeIO({ execId, stdin: true }).catch((e) =>
          log.debug("close stdin", { error: e, exec: execId })
        ),
    });
  }
  const restoreTty = opts.tty && opts.interactive ? enterRawMode() : () => {};
  const interrupts: number[] = [];
  const what = execId ? "exec process" : "container";
  const stopSignals = forwardSignals((received) => {
    const { send: signal, stage } = nextForward(interrupts, received, Date.now());
    if (stage === "warn") {
      log.warn(
        `SIGINT forwarded to the ${what}, which still runs (an init ignores signals it has no handler for); ` +
          "press Ctrl-C once more to kill it",
        { exec: execId },
      );
    } else if (stage === "kill") {
      log.warn(`interrupted ${INTERRUPTS_TO_KILL} times: killing the ${what} (SIGKILL)`, { exec: execId });
    } else {
      log.debug("forwarding signal", { signal, exec: execId });
    }
    task.kill(signal, { execId }).catch((e) => log.debug("forward signal", { signal, error: e }));
  });
  let stopResize = () => {};
  try {
    opts.beforeStart?.();
    if (!opts.started) await task.start(execId);
    if (opts.tty) {
      stopResize = watchTerminalSize((cols, rows) => {
        task.resizePty(cols, rows, execId).catch((e) => log.debug("resize pty", { error: e }));
      });
    }
    const exit = await task.wait(execId);
    fifos?.processExited();
    if (fifos && !(await fifos.drain(opts.drainMs ?? DEFAULT_DRAIN_MS))) {
      log.debug("output still open after exit; not waiting for it", { exec: execId });
    }
    return exit;
  } finally {
    stopResize();
    stopSignals();
    restoreTty();
  }
}
