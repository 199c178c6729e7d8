/**
 * The CLI process's stdout and stderr.
 *
 * Text output (command results, log lines, error messages) is written
 * straight to the file descriptor with `writeSync`, as Go's `fmt` and `log`
 * do. The first use of `process.stdout` or `process.stderr` builds the
 * runtime's stream machinery, about 3 ms of start-up under Bun (measured in a
 * compiled binary: 2.7–3.0 ms wall and CPU for the first stream, 0.1–0.5 ms
 * for the second), which `shimkit --version`, `ps` or `load` would otherwise
 * pay for one line of output. A descriptor that would block (`EAGAIN`: the
 * parent left it non-blocking) makes that writer switch to the stream for the
 * rest of the process, so order is kept and nothing is lost. A reader that
 * went away (`EPIPE`, as in `shimkit ps | head -1`) drops the output.
 *
 * Byte streams (a container's output copied by `run`, `exec`, `start -a`) use
 * {@link processStream}, which records the streams it hands out so that
 * {@link flushProcessOutput} waits only for streams that exist.
 *
 * @module
 */

import { writeSync } from "node:fs";

type StreamName = "stdout" | "stderr";

const encoder = new TextEncoder();
const opened = new Set<NodeJS.WriteStream>();

/**
 * The process's stream for stdout or stderr, recorded so that
 * {@link flushProcessOutput} waits for it.
 *
 * @param name which one
 * @returns `process.stdout` or `process.stderr`
 */
export function processStream(name: StreamName): NodeJS.WriteStream {
  const stream = name === "stdout" ? process.stdout : process.stderr;
  opened.add(stream);
  return stream;
}

/** A text writer on a file descriptor, with the stream fallback described in the module doc. */
export interface FdWriter {
  /** Writes the text (UTF-8). */
  (text: string): void;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Makes a writer for fd 1 or 2.
 *
 * @param name `stdout` (fd 1) or `stderr` (fd 2)
 * @param write the synchronous write (for tests); default `fs.writeSync`
 * @param stream the fallback stream (for tests); default {@link processStream}
 * @returns the writer
 */
export function fdWriter(
  name: StreamName,
  write: (fd: number, bytes: Uint8Array) => number = writeSync,
  stream: () => Pick<NodeJS.WritableStream, "write"> = () => processStream(name),
): FdWriter {
  const fd = name === "stdout" ? 1 : 2;
  let fallback: Pick<NodeJS.WritableStream, "write"> | undefined;
  let broken = false;
  return (text: string) => {
    if (broken || text === "") return;
    if (fallback) {
      fallback.write(text);
      return;
    }
    let bytes = encoder.encode(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(write(fd, bytes));
    } catch (err) {
      const code = errnoCode(err);
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        fallback = stream();
        fallback.write(bytes);
      } else if (code === "EPIPE" || code === "EBADF") {
        broken = true;
      } else {
        throw err;
      }
    }
  };
}

/**
 * Waits until every process stream handed out (or fallen back to) has
 * written what it holds.
 *
 * @returns when flushed
 */
export async function flushProcessOutput(): Promise<void> {
  await Promise.all([...opened].map((s) => new Promise<void>((resolve) => s.write("", () => resolve()))));
}
