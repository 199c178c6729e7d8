/**
 * Writers for a simulated process's stdout/stderr, following the runc shim's
 * stdio URI rules (protocol-facts.md §4): "" is none, a plain path or
 * `fifo://path` is a FIFO the shim opens read-write (so opening never blocks),
 * `file:///abs` is appended to (parent dirs created). `binary://` logging
 * binaries are not run by the fake: their output is discarded.
 *
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import type { StdioSink } from "./task_service.ts";

/** How a stdio URI is to be opened. */
export type StdioTarget =
  | { kind: "none" }
  | { kind: "fifo"; path: string }
  | { kind: "file"; path: string };

/**
 * Classifies a stdio URI.
 *
 * @param uri the URI from CreateTaskRequest/ExecProcessRequest
 * @returns what to open
 */
export function parseStdioUri(uri: string): StdioTarget {
  if (uri === "" || uri.startsWith("binary://")) return { kind: "none" };
  if (uri.startsWith("file://")) {
    return { kind: "file", path: decodeURIComponent(uri.slice("file://".length)) };
  }
  if (uri.startsWith("fifo://")) return { kind: "fifo", path: uri.slice("fifo://".length) };
  return { kind: "fifo", path: uri };
}

class HandleSink implements StdioSink {
  readonly #fh: FileHandle;
  #tail: Promise<void> = Promise.resolve();

  constructor(fh: FileHandle) {
    this.#fh = fh;
  }

  write(text: string): Promise<void> {
    const buf = new TextEncoder().encode(text);
    this.#tail = this.#tail.then(async () => {
      for (let off = 0; off < buf.length;) {
        const { bytesWritten } = await this.#fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
    });
    return this.#tail;
  }

  async close(): Promise<void> {
    await this.#tail.catch(() => undefined);
    await this.#fh.close();
  }
}

/**
 * Opens a stdio URI for writing.
 *
 * @param uri the URI ("" for none)
 * @returns a sink, or undefined when output is discarded
 * @throws the OS error when the path cannot be opened
 */
export async function openStdio(uri: string): Promise<StdioSink | undefined> {
  const t = parseStdioUri(uri);
  if (t.kind === "none") return undefined;
  if (t.kind === "file") {
    await mkdir(dirname(t.path), { recursive: true });
    return new HandleSink(
      await open(t.path, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o644),
    );
  }
  // O_RDWR on a FIFO never blocks waiting for a reader; a missing path becomes a plain file.
  return new HandleSink(await open(t.path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o644));
}
