/**
 * Writers for a simulated process's stdout/stderr, following the runc shim's
 * stdio URI rules (protocol-facts.md §4): "" is none, a plain path or
 * `fifo://path` is a FIFO the shim opens read-write (so opening never blocks),
 * `file:///abs` is appended to (parent dirs created). `binary://` logging
 * binaries are not run by the fake: their output is discarded. Stdin is read
 * only from a FIFO, and only while a `cat` step runs.
 *
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import { openFifoReader } from "../platform/fifo.ts";
import type { StdinSource, StdioSink } from "./task_service.ts";

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

  write(data: string | Uint8Array): Promise<void> {
    const buf = typeof data === "string" ? new TextEncoder().encode(data) : data;
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

/**
 * Opens a process's stdin FIFO and holds it (O_RDWR|O_NONBLOCK, so opening never blocks and
 * the pipe's content survives its writer closing); reading starts only when a `cat` step asks.
 *
 * @param uri the stdin URI: a FIFO path or `fifo://path`; anything else has nothing to read
 * @returns the source, or undefined when there is nothing to read
 * @throws the OS error when the FIFO cannot be opened
 */
export async function openStdin(uri: string): Promise<StdinSource | undefined> {
  const t = parseStdioUri(uri);
  if (t.kind !== "fifo") return undefined;
  const held = await open(t.path, constants.O_RDWR | constants.O_NONBLOCK);
  return {
    start: (onData) => openFifoReader(t.path, onData),
    close: () => held.close(),
  };
}
