/**
 * The bundle's `log` FIFO (protocol-facts §2.5): the runc shim daemon opens
 * `./log` O_WRONLY at startup and makes it its stderr. Without a FIFO the
 * daemon dies; with an unread one every call hangs once the pipe fills. So
 * the manager creates it before `start` and drains it for the shim's whole
 * life, forwarding complete lines to the logger.
 *
 * Keep it open while the shim lives: once no reader holds the FIFO, the
 * shim's next log write gets EPIPE on fd 2, which kills a Go program with
 * SIGPIPE.
 *
 * @module
 */

import type { LogFields, Logger, LogLevel } from "../log/logger.ts";
import { bundleFile } from "../bundle/layout.ts";
import { makeFifo, openFifoReader } from "../platform/fifo.ts";

/** Longest line forwarded as one log entry; longer runs are split. */
export const LOG_LINE_MAX = 64 * 1024;

/**
 * Splits a byte stream into lines (UTF-8, `\n`, optional `\r` dropped),
 * carrying partial lines between chunks and cutting runs longer than `max`.
 */
export class LineSplitter {
  private readonly decoder = new TextDecoder();
  private partial = "";
  /** @param max longest line kept whole (characters) */
  constructor(private readonly max = LOG_LINE_MAX) {}

  /**
   * Adds bytes and returns the lines they completed.
   *
   * @param chunk bytes from the stream
   * @returns complete lines, without line terminators
   */
  push(chunk: Uint8Array): string[] {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const lines: string[] = [];
    let start = 0;
    for (let nl = text.indexOf("\n"); nl !== -1; nl = text.indexOf("\n", start)) {
      this.cut(text.slice(start, nl), lines);
      start = nl + 1;
    }
    this.partial = text.slice(start);
    while (this.partial.length > this.max) {
      lines.push(this.partial.slice(0, this.max));
      this.partial = this.partial.slice(this.max);
    }
    return lines;
  }

  /**
   * Returns the unterminated tail, if any, and resets.
   *
   * @returns the last partial line, or undefined
   */
  flush(): string | undefined {
    const rest = this.partial + this.decoder.decode();
    this.partial = "";
    return rest === "" ? undefined : rest;
  }

  private cut(line: string, out: string[]): void {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    for (let i = 0; i < line.length; i += this.max) out.push(line.slice(i, i + this.max));
    if (line === "") out.push("");
  }
}

/** Options for {@link openLogFifo}. */
export interface LogFifoOptions {
  /** Bundle directory; the FIFO is `<bundle>/log`. */
  bundlePath: string;
  /** Where lines go. */
  logger: Logger;
  /** Level lines are logged at (default `info`; containerd copies them verbatim to its own stderr). */
  level?: LogLevel;
  /** Fields on every line, e.g. `{ id, namespace, runtime }`. */
  fields?: LogFields;
}

/** A drained log FIFO. */
export interface LogFifo {
  /** Path of the FIFO. */
  path: string;
  /** Stops draining (after forwarding a final partial line); idempotent. Only call once the shim is gone. */
  close(): Promise<void>;
}

/**
 * Creates `<bundle>/log` as a FIFO (mode 0700; an existing FIFO is reused)
 * and drains it, forwarding each complete non-empty line to the logger.
 * Call before running the shim's `start`.
 *
 * @param options bundle path, logger, level and fields
 * @returns the open {@link LogFifo}
 * @throws FailedPreconditionError when `log` exists and is not a FIFO; errors from mkfifo or open
 * @example
 * ```ts
 * const fifo = await openLogFifo({ bundlePath: b.path, logger, fields: { id: "c1", namespace: "default" } });
 * // … start the shim, use it, shut it down …
 * await fifo.close();
 * ```
 */
export async function openLogFifo(options: LogFifoOptions): Promise<LogFifo> {
  const path = bundleFile(options.bundlePath, "log");
  await makeFifo(path, 0o700);
  const level = options.level ?? "info";
  const fields = options.fields ?? {};
  const log = options.logger;
  const splitter = new LineSplitter();
  const emit = (line: string) => {
    if (line.trim() !== "") log[level](line, fields);
  };
  const reader = await openFifoReader(
    path,
    (chunk) => {
      for (const line of splitter.push(chunk)) emit(line);
    },
    (err) => log.warn("shim log fifo read failed", { ...fields, path, error: err }),
  );
  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= reader.close().then(() => {
        const rest = splitter.flush();
        if (rest !== undefined) emit(rest);
      });
      return closing;
    },
  };
}
