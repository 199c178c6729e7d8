/**
 * Named pipes (FIFOs): create them, and read one without blocking a thread.
 *
 * Creating. No runtime has a mkfifo call, and spawning `mkfifo(1)` costs
 * 2–8 ms a FIFO (more on Deno), several times per container. So FIFOs are
 * made with `mkfifo(3)` through FFI (`libc.ts`; 20–80 µs), and only where
 * FFI is unavailable with one `mkfifo -m` process for all the paths of a call.
 *
 * Reading. A shim's `log` FIFO must be drained for as long as the shim
 * lives, and a manager may run 100+ shims. Measured with 100 and 300 FIFOs,
 * each written by another process, while a 10 ms timer and an
 * `fs.promises.stat` probe ran (Deno 2.9.6, Bun 1.4.5, Linux); memory and
 * CPU for 100 FIFOs with three log lines each:
 *
 * | approach (fd opened O_RDWR, O_NONBLOCK unless noted) | Deno | Bun |
 * |---|---|---|
 * | `fs.createReadStream` on a blocking fd | a pool thread per FIFO; stat max 120 ms at 100; lost data at 300 | lost data at 100 (pool starved) |
 * | `fs.createReadStream` / `fs.read` on the non-blocking fd | errors EAGAIN | errors EAGAIN |
 * | `new net.Socket({ fd })` (what works on Node) | throws "open EEXIST" (fd already in node:fs's table) | reads nothing |
 * | `Deno.open().readable` | hangs the process at 50 | – |
 * | `fs.watch` + `readSync` | misses wake-ups under bursts (writers hang) | same |
 * | `new tty.ReadStream(fd)`, fd from `fs.openSync` | epoll-driven, **but** its close(2) bypasses node:fs's fd table: the stale entry later closes whatever file reuses that fd number | errors EAGAIN |
 * | `new tty.ReadStream(fd)`, fd from `open(2)` via FFI | **epoll-driven**, ~0 idle CPU, +1.5 MiB RSS; closes its own fd and no table knows it | – |
 * | `Bun.file(fd).stream()` | – | **epoll-driven**, ~0 idle CPU, +4.5 MiB RSS, 300 OK, dups the fd (clean ownership) |
 * | per-FIFO `readSync` poll, adaptive 10–500 ms | works, but an EAGAIN costs 30–120 µs (error object): ≈3% of a core idle, +5 MiB RSS (with a 64 KiB buffer each: +10 MiB) | works (~3 µs per poll), +4.2 MiB RSS |
 *
 * So Bun gets `Bun.file().stream()`; Deno the tty reader on an FFI-opened
 * fd, or the poll (one shared read buffer) when FFI is refused; any other
 * runtime `net.Socket`. Opening O_RDWR makes us a writer too: the reader
 * never sees EOF when the shim exits or a restarted shim reopens the FIFO,
 * and opening never blocks. So `close()` also reads what a writer that just
 * exited left in the pipe before it stops (those are a shim's last log lines).
 *
 * @module
 */

import { chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync } from "node:fs";
import { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import { FailedPreconditionError, fromErrno, newError } from "../errors.ts";
import { errnoError, type Libc, libc } from "./libc.ts";
import { runProcess } from "./process.ts";

/** A running FIFO reader. */
export interface FifoReader {
  /** Stops reading and closes the file descriptor; idempotent. */
  close(): Promise<void>;
}

/** Options for {@link makeFifos}. */
export interface MakeFifoOptions {
  /** Permission bits, set exactly as `mkfifo -m` does (the umask does not narrow them); default 0700. */
  mode?: number;
  /** Run the `mkfifo` program even where libc can be called (the fallback path; for tests). */
  noFfi?: boolean;
}

/**
 * Creates FIFOs: `mkfifo(3)` through FFI (tens of µs each, no process), or one
 * `mkfifo -m MODE` process for all of them where FFI is unavailable. An
 * existing FIFO is kept (a restarted manager re-attaches to a live shim's
 * log, and its mode is left alone); any other existing file is an error.
 * FIFOs made before a failure are not removed.
 *
 * @param paths where to create them (their directories must exist)
 * @param opts mode (containerd uses 0700 for the shim log) and the fallback switch
 * @returns resolves once every path is a FIFO
 * @throws FailedPreconditionError when a non-FIFO exists at a path; errno-kind errors (e.g. NotFoundError
 *   for a missing directory) naming the path
 */
export async function makeFifos(paths: readonly string[], opts: MakeFifoOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o700;
  const c = opts.noFfi ? undefined : await libc();
  if (c) {
    for (const path of paths) makeFifoFfi(c, path, mode);
    return;
  }
  const missing = paths.filter((p) => !isExistingFifo(p));
  if (missing.length > 0) await runMkfifo(missing, mode);
}

/**
 * Creates one FIFO; see {@link makeFifos}.
 *
 * @param path where to create it
 * @param mode permission bits (containerd uses 0700 for the shim log)
 * @returns resolves once `path` is a FIFO
 * @throws FailedPreconditionError when a non-FIFO exists at `path`; errno-kind errors naming the path
 */
export function makeFifo(path: string, mode = 0o700): Promise<void> {
  return makeFifos([path], { mode });
}

function makeFifoFfi(c: Libc, path: string, mode: number): void {
  const errno = c.mkfifo(path, mode);
  if (errno === 0) {
    // mkfifo(3) applies the umask; `mkfifo -m` (and containerd) set the mode exactly.
    try {
      chmodSync(path, mode);
    } catch (err) {
      throw fromErrno(err, `make fifo ${JSON.stringify(path)}: chmod`);
    }
    return;
  }
  if (errno === osConstants.errno.EEXIST && isExistingFifo(path)) return;
  throw fromErrno(errnoError(errno, "mkfifo", path), `make fifo ${JSON.stringify(path)}`);
}

/** True for an existing FIFO, false when nothing is there; throws for anything else at `path`. */
function isExistingFifo(path: string): boolean {
  try {
    if (lstatSync(path).isFIFO()) return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return false;
    throw fromErrno(err, `make fifo ${JSON.stringify(path)}`);
  }
  throw new FailedPreconditionError(`make fifo ${JSON.stringify(path)}: exists and is not a fifo`);
}

async function runMkfifo(paths: readonly string[], mode: number): Promise<void> {
  const what = paths.map((p) => JSON.stringify(p)).join(", ");
  let r;
  try {
    r = await runProcess("mkfifo", ["-m", mode.toString(8).padStart(4, "0"), "--", ...paths], {
      timeoutMs: 10_000,
    });
  } catch (err) {
    throw fromErrno(err, `make fifo ${what}: run mkfifo`);
  }
  if (r.exitCode !== 0) {
    const stderr = new TextDecoder().decode(r.stderr).trim();
    throw newError(
      /File exists/.test(stderr) ? "already_exists" : /No such file/.test(stderr) ? "not_found" : "unknown",
      `make fifo ${what}: ${stderr || `mkfifo exited with status ${r.exitCode}`}`,
    );
  }
}

interface BunFile {
  stream(): ReadableStream<Uint8Array>;
}
interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: { file(fd: number): BunFile };
}

/**
 * Opens a FIFO O_RDWR|O_NONBLOCK and reads it on the event loop, calling
 * `onData` for each chunk until `close()`.
 *
 * @param path an existing FIFO
 * @param onData receives each chunk (a fresh copy: the caller may keep it)
 * @param onError receives a read error; reading has stopped when it is called
 * @returns a {@link FifoReader}
 * @throws FailedPreconditionError when `path` is not a FIFO; errno-mapped open errors
 */
export async function openFifoReader(
  path: string,
  onData: (chunk: Uint8Array) => void,
  onError: (err: Error) => void = () => {},
): Promise<FifoReader> {
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Deno) {
    const c = await libc();
    if (c) return ttyReader(c, ttyModule ??= await import("node:tty"), path, onData, onError);
  }
  const fd = openFifoFd(path);
  if (g.Bun) return bunReader(g.Bun, fd, onData, onError);
  if (g.Deno) return pollReader(fd, onData, onError);
  return streamReader(new Socket({ fd, readable: true, writable: false }), onData, onError);
}

/** `node:tty`, imported only where it is used (Deno), off every other runtime's start-up path. */
let ttyModule: typeof import("node:tty") | undefined;

function openFifoFd(path: string): number {
  let fd: number;
  try {
    // Synchronous on purpose: O_RDWR|O_NONBLOCK on a FIFO never blocks, and an async open would
    // cost a thread-pool round trip per shim (Deno grows its blocking pool by one thread each).
    // The runtimes add O_CLOEXEC themselves, so shims do not inherit the fd.
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    throw fromErrno(err, `open fifo ${JSON.stringify(path)}`);
  }
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new FailedPreconditionError(`open fifo ${JSON.stringify(path)}: not a fifo`);
  }
  return fd;
}

/**
 * Deno: `tty.ReadStream` is epoll-driven (no thread, no timer, ~20 KiB per FIFO), and it closes
 * its fd itself. The fd therefore comes from `open(2)` through FFI, so no `node:fs` fd-table entry
 * outlives it (with `fs.openSync` the stale entry would later close whatever reuses the number).
 */
function ttyReader(
  c: Libc,
  tty: typeof import("node:tty"),
  path: string,
  onData: (c: Uint8Array) => void,
  onError: (e: Error) => void,
): FifoReader {
  const fd = c.open(path, constants.O_RDWR | constants.O_NONBLOCK);
  if (fd < 0) throw fromErrno(errnoError(-fd, "open", path), `open fifo ${JSON.stringify(path)}`);
  let stream: Socket;
  try {
    if (!statSync(`/proc/self/fd/${fd}`).isFIFO()) {
      throw new FailedPreconditionError(`open fifo ${JSON.stringify(path)}: not a fifo`);
    }
    stream = new tty.ReadStream(fd);
  } catch (err) {
    c.close(fd);
    throw err;
  }
  return streamReader(stream, onData, onError);
}

function bunReader(
  bun: NonNullable<RuntimeGlobals["Bun"]>,
  fd: number,
  onData: (c: Uint8Array) => void,
  onError: (e: Error) => void,
): FifoReader {
  // Bun dups the fd for the stream; cancel() closes its copy, we close ours.
  const reader = bun.file(fd).stream().getReader();
  let closed = false;
  const loop = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        onData(value);
      }
    } catch (err) {
      if (!closed) onError(err as Error);
    }
  })();
  return {
    async close() {
      if (closed) return;
      closed = true;
      // Let chunks the stream has read be delivered, stop it, then read what is still in the pipe
      // through our own (non-blocking) fd: a writer that just exited may have left up to a pipe's
      // worth that the stream had not got to yet.
      await new Promise((r) => setTimeout(r, 0));
      await reader.cancel().catch(() => {});
      await loop;
      drainNow(fd, onData);
      closeSync(fd);
    },
  };
}

/**
 * Reads what a non-blocking fd has right now and delivers it, until it would block. A short read
 * means the pipe is empty, which saves the EAGAIN round trip (30–120 µs on Deno).
 *
 * @returns whether anything was read, or the read error other than EAGAIN
 */
function readAvailable(
  fd: number,
  buf: Uint8Array,
  onData: (c: Uint8Array) => void,
): { got: boolean; error?: Error } {
  let got = false;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as { code?: string }).code;
      return code === "EAGAIN" || code === "EWOULDBLOCK" ? { got } : { got, error: err as Error };
    }
    if (n <= 0) return { got };
    got = true;
    onData(buf.slice(0, n));
    if (n < buf.length) return { got };
  }
}

/** The last read before closing: what is left in the pipe, errors ignored (nothing more is read). */
function drainNow(fd: number, onData: (c: Uint8Array) => void): void {
  readAvailable(fd, sharedScratch ??= new Uint8Array(READ_CHUNK), onData);
}

/**
 * Shortest poll interval. The delay quarters when a poll found data and
 * doubles when it found none, so a busy FIFO is polled often and an idle
 * one every {@link POLL_MAX_MS}. On Deno an empty poll costs an EAGAIN error
 * object (30–120 µs), which is what this backoff keeps rare.
 */
const POLL_MIN_MS = 10;
/** Longest wait between polls of an idle FIFO: also the worst-case delay before a shim's write is drained. */
const POLL_MAX_MS = 500;
const READ_CHUNK = 64 * 1024;
/** One read buffer for every poll reader: a tick reads and copies out synchronously, so they never overlap. */
let sharedScratch: Uint8Array | undefined;

function pollReader(fd: number, onData: (c: Uint8Array) => void, onError: (e: Error) => void): FifoReader {
  const scratch = sharedScratch ??= new Uint8Array(READ_CHUNK);
  let delay = POLL_MAX_MS;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    const { got, error } = readAvailable(fd, scratch, onData);
    if (error) {
      onError(error);
      return;
    }
    delay = got ? Math.max(POLL_MIN_MS, delay >> 2) : Math.min(delay * 2, POLL_MAX_MS);
    if (!closed) timer = setTimeout(tick, delay);
  };
  timer = setTimeout(tick, 0);
  return {
    close() {
      if (!closed) {
        closed = true;
        clearTimeout(timer);
        drainNow(fd, onData);
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

function streamReader(
  stream: Socket,
  onData: (c: Uint8Array) => void,
  onError: (e: Error) => void,
): FifoReader {
  let closed = false;
  let received = 0;
  const done = new Promise<void>((resolve) => stream.once("close", () => resolve()));
  stream.on("data", (chunk: Uint8Array) => {
    received++;
    onData(chunk);
  });
  stream.on("error", (err: Error) => {
    if (!closed) onError(err);
  });
  return {
    async close() {
      if (closed) return;
      closed = true;
      // The stream owns the fd, so what a writer left in the pipe is read through it: wait until a 5 ms
      // turn brings nothing more (at most 100 ms), then stop.
      for (let turn = 0; turn < 20; turn++) {
        const seen = received;
        await new Promise((r) => setTimeout(r, 5));
        if (received === seen) break;
      }
      stream.destroy();
      await done;
    },
  };
}
