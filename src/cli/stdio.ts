/**
 * A container process's stdio for the CLI (`run`, `exec`, `start -a`), the
 * way ctr's `cio` does it: FIFOs in a private temp dir under the state dir,
 * handed to the shim at Create/Exec, copied to our own stdout/stderr while
 * our stdin is forwarded. The dir is always removed on close.
 *
 * Order matters. The runc shim opens its write end of stdout/stderr with a
 * *blocking* O_WRONLY open inside Create/Exec (1.6 `pkg/process/io.go`), so a
 * reader must already exist: {@link FifoSet.open} runs before Create and
 * opens stdout/stderr O_RDONLY|O_NONBLOCK and stdin O_RDWR|O_NONBLOCK (an
 * O_WRONLY open fails with ENXIO while the shim has no reader yet). With a
 * terminal the shim wants stderr empty: the pty's output all arrives on stdout.
 *
 * A non-blocking read of a FIFO returns 0 both at end of file and before the
 * first writer connected, so output counts as finished only once the caller
 * said the process exited ({@link FifoSet.processExited}) and no writer is left.
 *
 * Our ends are polled with a short backoff (at most 20 ms of added latency;
 * the exit and `close` cut a pending wait short, so the end of output is seen at once).
 * A blocking read parks a thread of the runtime's file I/O pool until data
 * arrives; Bun's pool is so small that two idle FIFO reads (stdout + stderr)
 * starve every other file operation of the process (seen with Bun 1.4.5: a
 * write to an unrelated file never completed). `platform/fifo.ts`
 * `openFifoReader` avoids that too, but it opens O_RDWR and so never sees end
 * of file, which is exactly what tells us the output is complete.
 *
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, mkdtemp, open, readdir, realpath, rmdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fromErrno, withContext } from "../errors.ts";
import { makeFifos } from "../platform/fifo.ts";
import { removeTree } from "../platform/remove_tree.ts";
import { isProcessAlive, openPathsUnder } from "../platform/process.ts";

/** Name of the dir under the state dir that holds the CLI's FIFO dirs. */
export const FIFO_DIR_NAME = ".fifo";

/** The stdio paths passed to the shim (empty string = not connected). */
export interface StdioPaths {
  /** Stdin FIFO, or `""` without `-i`. */
  stdin: string;
  /** Stdout FIFO (with a terminal: the pty's output). */
  stdout: string;
  /** Stderr FIFO, or `""` with a terminal. */
  stderr: string;
  /** Whether the process gets a pty. */
  terminal: boolean;
}

/** What {@link createFifoSet} needs to know. */
export interface FifoSetOptions {
  /** The state dir; FIFOs go under `<state>/.fifo/`. */
  state: string;
  /** Namespace of the container. */
  namespace: string;
  /** Container id. */
  id: string;
  /** Exec id, for an exec's FIFOs. */
  execId?: string;
  /** Connect stdin (`-i`). */
  stdin: boolean;
  /** Allocate a pty (`-t`): no stderr FIFO. */
  terminal: boolean;
}

/** A byte sink with Node `Writable` backpressure semantics (process.stdout fits). */
export interface ByteSink {
  /** Writes a chunk; false means wait for `drain`. */
  write(chunk: Uint8Array): boolean;
  /** Subscribes to `drain`. */
  once(event: "drain", cb: () => void): unknown;
}

/**
 * Where forwarded input comes from: any async iterable of chunks (process.stdin fits). Chunks are
 * pulled one at a time, so a container that reads slowly slows the source down.
 *
 * Pulled, not pushed: a `data` listener that pauses `process.stdin` while a chunk is written and
 * resumes it afterwards loses the stream's `end` under Bun 1.4 when the pipe's EOF comes during a
 * pause (measured: 10 runs in 10 with a 5 ms write), and the container then never sees its input end.
 */
export type ByteSource = AsyncIterable<Uint8Array>;

/** Our side of the copy: where output goes and where input comes from. */
export interface AttachStreams {
  /** Receives the container's stdout. */
  stdout: ByteSink;
  /** Receives the container's stderr. */
  stderr: ByteSink;
  /** Forwarded to the container's stdin when the set has a stdin FIFO. */
  stdin?: ByteSource;
  /** Called once our stdin has ended and its FIFO is closed (ctr calls CloseIO here). */
  onStdinEnd?: () => Promise<void> | void;
}

const READ_CHUNK = 64 * 1024;
/** Longest pause between polls of an idle FIFO (ms): bounds the added output latency. */
export const POLL_MAX_MS = 20;

function isEagain(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "EAGAIN" || code === "EWOULDBLOCK";
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sleeps `ms`, or less when `wake` settles first (the timer is cleared either way). */
function nap(ms: number, wake: Promise<void> | undefined): Promise<void> {
  if (!wake) return sleep(ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const slept = new Promise<void>((r) => timer = setTimeout(r, ms));
  return Promise.race([slept, wake]).finally(() => clearTimeout(timer));
}

/**
 * Reads from a non-blocking FIFO, waiting (with backoff) while it is empty or
 * has no writer yet.
 *
 * @param fh a FIFO opened O_RDONLY|O_NONBLOCK
 * @param buf where to read into
 * @param ended polled while waiting: `"eof"` makes a writer-less FIFO count as finished, `"stop"` gives up
 * @param wake returns a promise that settles when `ended` may have changed: a wait is cut short then
 * @returns bytes read; 0 at end of file or when stopped
 * @throws the OS error for anything but EAGAIN
 */
export async function readFifo(
  fh: FileHandle,
  buf: Uint8Array,
  ended: () => "eof" | "stop" | undefined = () => "eof",
  wake?: () => Promise<void>,
): Promise<number> {
  let seen = ended();
  for (let delay = 1;; delay = nextPollDelay(delay)) {
    const state = ended();
    if (state === "stop") return 0;
    if (state !== seen) {
      // The process just exited: its last output and the shim's close follow within a few ms, so
      // the backoff starts over instead of sleeping the longest pause after them.
      seen = state;
      delay = 1;
    }
    try {
      const n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
      // 0 means "no writer": the end, or a writer that has not connected yet.
      if (n > 0 || state === "eof") return n;
    } catch (e) {
      if (!isEagain(e)) throw e;
    }
    await nap(delay, wake?.());
  }
}

/**
 * The pause before the next poll of an idle FIFO: doubling from 1 ms up to
 * {@link POLL_MAX_MS}.
 *
 * @param delay the pause just taken (ms)
 * @returns the next pause (ms)
 */
export function nextPollDelay(delay: number): number {
  return Math.min(delay * 2, POLL_MAX_MS);
}

/**
 * Writes all of `data` to a non-blocking FIFO, waiting (with backoff) while it is full.
 *
 * @param fh a FIFO opened O_WRONLY|O_NONBLOCK
 * @param data the bytes
 * @returns resolves once everything is written
 * @throws the OS error for anything but EAGAIN (EPIPE once the reader is gone)
 */
export async function writeFifo(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  for (let delay = 1; off < data.length;) {
    try {
      off += (await fh.write(data, off, data.length - off, null)).bytesWritten;
      delay = 1;
    } catch (e) {
      if (!isEagain(e)) throw e;
      await sleep(delay);
      delay = nextPollDelay(delay);
    }
  }
}

async function openFifo(path: string, flags: number): Promise<FileHandle> {
  try {
    return await open(path, flags);
  } catch (e) {
    throw fromErrno(e, `open fifo "${path}"`);
  }
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_");
}

async function writeAll(sink: ByteSink, chunk: Uint8Array): Promise<void> {
  if (!sink.write(chunk)) await new Promise<void>((r) => sink.once("drain", r));
}

/**
 * A set of FIFOs for one process plus the copying between them and our own
 * streams. Create with {@link createFifoSet}; always {@link FifoSet.close}.
 */
export class FifoSet {
  /** The private dir holding the FIFOs. */
  readonly dir: string;
  /** The paths to pass to Create/Exec. */
  readonly paths: StdioPaths;
  #outputs: Promise<void>[] = [];
  #stdout?: FileHandle;
  #stderr?: FileHandle;
  #stdin?: FileHandle;
  #opened = false;
  #exited = false;
  #stopStdin?: () => void;
  #closed = false;
  #closing?: Promise<void>;
  /** Settles when the exit or close is signalled, so output readers stop backing off at once. */
  #wakeUp!: () => void;
  #woken = this.#rearm();

  /**
   * @param dir the FIFO dir (already created)
   * @param paths the FIFO paths inside it
   */
  constructor(dir: string, paths: StdioPaths) {
    this.dir = dir;
    this.paths = paths;
  }

  /**
   * Opens our ends without blocking. Call before Create/Exec: the runc shim's
   * own open of the write end blocks until a reader exists.
   *
   * @returns resolves once our ends are open
   * @throws ShimkitError of the errno kind when a FIFO cannot be opened
   */
  async open(): Promise<void> {
    if (this.#opened) return;
    this.#opened = true;
    const ro = constants.O_RDONLY | constants.O_NONBLOCK;
    if (this.paths.stdout) this.#stdout = await openFifo(this.paths.stdout, ro);
    if (this.paths.stderr) this.#stderr = await openFifo(this.paths.stderr, ro);
    if (this.paths.stdin) {
      this.#stdin = await openFifo(this.paths.stdin, constants.O_RDWR | constants.O_NONBLOCK);
    }
  }

  /**
   * Starts copying output to `streams` and forwarding their stdin. Call
   * after Create/Exec succeeded (stdin's end triggers `onStdinEnd`, which
   * needs the process) and before Start; opens our ends first if needed.
   *
   * @param streams our stdout/stderr sinks and optional stdin source
   * @returns resolves once copying has started
   * @throws ShimkitError of the errno kind when a FIFO cannot be opened
   */
  async attach(streams: AttachStreams): Promise<void> {
    await this.open();
    if (this.#stdout) this.#outputs.push(this.#copyOut(this.#stdout, streams.stdout));
    if (this.#stderr) this.#outputs.push(this.#copyOut(this.#stderr, streams.stderr));
    if (this.#stdin && streams.stdin) this.#copyIn(this.#stdin, streams.stdin, streams.onStdinEnd);
  }

  /**
   * Tells the set the process exited: from now on a FIFO without writers is
   * at its end (before, it may just not have been opened by the shim yet).
   */
  processExited(): void {
    this.#exited = true;
    this.#wake();
  }

  #rearm(): Promise<void> {
    return new Promise<void>((r) => this.#wakeUp = r);
  }

  #wake(): void {
    const wakeUp = this.#wakeUp;
    this.#woken = this.#rearm();
    wakeUp();
  }

  /**
   * Holds every FIFO open (O_RDWR, never blocks) while `fn` runs, for
   * `create`: the shim opens its ends during Create and keeps them, so the
   * pipes survive this process and `start -a` can attach later.
   *
   * @param fn the Create call
   * @returns what `fn` returns
   * @throws what `fn` throws; errno-kind errors when a FIFO cannot be opened
   */
  async holdOpen<T>(fn: () => Promise<T>): Promise<T> {
    const held: FileHandle[] = [];
    try {
      for (const p of [this.paths.stdin, this.paths.stdout, this.paths.stderr]) {
        if (p) held.push(await openFifo(p, constants.O_RDWR | constants.O_NONBLOCK));
      }
      return await fn();
    } finally {
      await Promise.all(held.map((fh) => fh.close().catch(() => {})));
    }
  }

  /**
   * Resolves once stdout and stderr reached end of file (after
   * {@link processExited}, when the shim closed its ends: the process and
   * everything holding its output exited), or after `timeoutMs`, whichever
   * is first.
   *
   * @param timeoutMs how long to wait at most (undefined: no limit)
   * @returns true when all output was copied, false on timeout
   */
  async drain(timeoutMs?: number): Promise<boolean> {
    const all = Promise.all(this.#outputs).then(() => true);
    if (timeoutMs === undefined) return await all;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => timer = setTimeout(() => r(false), timeoutMs));
    try {
      return await Promise.race([all, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops forwarding stdin, stops copying output and removes the FIFO dir.
   * Idempotent; never throws.
   *
   * @returns resolves when the dir is gone
   */
  close(): Promise<void> {
    // Every caller waits for the same close: the dir is gone when any of them resumes.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    this.#stopStdin?.();
    await Promise.all(this.#outputs);
    if (this.#outputs.length === 0) {
      // Opened but never attached (Create failed): close our ends here.
      await Promise.all([this.#stdout, this.#stderr, this.#stdin].map((fh) => fh?.close().catch(() => {})));
    } else if (!this.#stopStdin) {
      await this.#stdin?.close().catch(() => {});
    }
    await removeFifoDir(this.dir);
  }

  async #copyOut(fh: FileHandle, sink: ByteSink): Promise<void> {
    try {
      const buf = new Uint8Array(READ_CHUNK);
      for (;;) {
        const bytesRead = await readFifo(
          fh,
          buf,
          () => (this.#closed ? "stop" : this.#exited ? "eof" : undefined),
          () => this.#woken,
        );
        if (bytesRead === 0) break;
        // Copy out what was read: the sink may keep the chunk (stdout writes are async on pipes).
        await writeAll(sink, buf.slice(0, bytesRead));
      }
    } catch {
      // The shim went away or the fifo was removed: what was copied is all there is.
    } finally {
      await fh.close().catch(() => {});
    }
  }

  #copyIn(fh: FileHandle, source: ByteSource, onEnd?: () => Promise<void> | void): void {
    const chunks = source[Symbol.asyncIterator]();
    let stopped = false;
    let writing: Promise<void> = Promise.resolve();
    const stop = () => {
      if (stopped) return;
      stopped = true;
      // Releases the source (process.stdin: destroyed, so it no longer holds the process open).
      void Promise.resolve(chunks.return?.()).catch(() => {});
    };
    const pump = async () => {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch {
          next = { done: true, value: undefined }; // a read error ends our input as EOF does
        }
        if (stopped) return;
        if (next.done) break;
        writing = writeFifo(fh, next.value);
        try {
          await writing;
        } catch {
          // The container closed its stdin: stop forwarding (it needs no CloseIO).
          stop();
          return;
        }
      }
      stopped = true;
      await fh.close().catch(() => {});
      if (onEnd) await Promise.resolve(onEnd()).catch(() => {});
    };
    void pump();
    this.#stopStdin = () => {
      stop();
      void writing.catch(() => {}).then(() => fh.close()).catch(() => {});
    };
  }
}

/**
 * The FIFO dir the CLI made for a process, recognised from the stdio paths
 * the shim reports (pure): the parent of stdout when it lies directly under
 * `<state>/.fifo/`.
 *
 * @param state the state dir
 * @param stdout the stdout path from State
 * @returns the dir, or undefined when those are not our FIFOs
 */
export function fifoDirOf(state: string, stdout: string): string | undefined {
  const parent = join(state, FIFO_DIR_NAME);
  const dir = dirname(stdout);
  return dirname(dir) === parent && basename(stdout) === "stdout" ? dir : undefined;
}

/**
 * Removes a FIFO dir, and the `.fifo` dir above it once that is empty. Never throws.
 *
 * @param dir a dir from {@link fifoDirOf} or {@link FifoSet.dir}
 * @returns resolves when done
 */
export async function removeFifoDir(dir: string): Promise<void> {
  await removeTree(dir).catch(() => {});
  await rmdir(dirname(dir)).catch(() => {});
}

/**
 * Reopens the FIFO set of a created process (made by `create`) from the
 * stdio paths its State reports, for `start -a`.
 *
 * @param state the state dir
 * @param io the paths and terminal flag from State
 * @returns the set, or undefined when the process does not use CLI FIFOs
 */
export function existingFifoSet(state: string, io: StdioPaths): FifoSet | undefined {
  const dir = fifoDirOf(state, io.stdout);
  return dir === undefined ? undefined : new FifoSet(dir, { ...io });
}

/** How old a FIFO dir without a creator pid in its name must be before {@link sweepFifoDirs} removes it. */
export const FIFO_DIR_GRACE_MS = 60_000;

/**
 * The creator's pid in a FIFO dir's name (`<ns>-<id>[-<exec>]-<pid>-<rand>`; pure).
 *
 * @param name the dir's name
 * @returns the pid, or undefined for a name without one
 */
export function fifoDirCreator(name: string): number | undefined {
  const m = /-([1-9][0-9]*)-[^-]+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether a FIFO dir is left over (pure): nobody has one of its FIFOs open,
 * and the process that made it is gone (or, for a name without its pid, it
 * is older than {@link FIFO_DIR_GRACE_MS}). A `run` killed before it opened
 * its FIFOs leaves such a dir; a `create`d container's FIFOs are held by its
 * shim until it is deleted.
 *
 * @param d what is known of the dir
 * @returns true when it can be removed
 */
export function isLeftoverFifoDir(d: {
  held: boolean;
  creator: number | undefined;
  creatorAlive: boolean;
  ageMs: number;
}): boolean {
  if (d.held) return false;
  return d.creator !== undefined ? !d.creatorAlive : d.ageMs >= FIFO_DIR_GRACE_MS;
}

/**
 * Finds the leftover FIFO dirs under `<state>/.fifo/` (see {@link isLeftoverFifoDir})
 * and, unless `dryRun`, removes them. Never throws.
 *
 * @param state the state dir
 * @param opts `dryRun`: only list
 * @returns the leftover dirs (removed unless `dryRun`)
 */
export async function sweepFifoDirs(state: string, opts: { dryRun?: boolean } = {}): Promise<string[]> {
  const parent = join(state, FIFO_DIR_NAME);
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const open = [...openPathsUnder(parent)];
  // The open paths are resolved: compare against the resolved parent.
  const base = await realpath(parent).catch(() => parent);
  const now = Date.now();
  const leftover: string[] = [];
  for (const name of names) {
    const dir = join(parent, name);
    let ageMs: number;
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) continue;
      ageMs = now - st.mtimeMs;
    } catch {
      continue;
    }
    const creator = fifoDirCreator(name);
    const held = open.some((p) => p.startsWith(join(base, name) + "/"));
    if (
      !isLeftoverFifoDir({
        held,
        creator,
        creatorAlive: creator !== undefined && isProcessAlive(creator),
        ageMs,
      })
    ) {
      continue;
    }
    leftover.push(dir);
    if (!opts.dryRun) await removeFifoDir(dir);
  }
  return leftover;
}

/**
 * Creates the FIFOs for one process under `<state>/.fifo/<ns>-<id>[-<exec>]-<pid>-<rand>/`.
 *
 * @param opts where, for whom, and which streams
 * @returns the set; the caller must {@link FifoSet.close} it
 * @throws ShimkitError of the errno kind when the dir or a FIFO cannot be created
 */
export async function createFifoSet(opts: FifoSetOptions): Promise<FifoSet> {
  const parent = join(opts.state, FIFO_DIR_NAME);
  const prefix = [opts.namespace, opts.id, opts.execId].filter((p) => p !== undefined).map((p) =>
    sanitize(p!)
  )
    .join("-");
  let dir: string;
  for (let attempt = 1;; attempt++) {
    try {
      await mkdir(parent, { recursive: true, mode: 0o700 });
      // The creating pid is part of the name: a sweep keeps the dirs of processes that still run.
      dir = await mkdtemp(join(parent, `${prefix}-${process.pid}-`));
      break;
    } catch (e) {
      // Another process removing the last FIFO dir may rmdir the parent between the two calls.
      if ((e as { code?: string }).code === "ENOENT" && attempt < 5) continue;
      throw fromErrno(e, `create fifo dir in "${parent}"`);
    }
  }
  const paths: StdioPaths = {
    stdin: opts.stdin ? join(dir, "stdin") : "",
    stdout: join(dir, "stdout"),
    stderr: opts.terminal ? "" : join(dir, "stderr"),
    terminal: opts.terminal,
  };
  const set = new FifoSet(dir, paths);
  try {
    await makeFifos([paths.stdin, paths.stdout, paths.stderr].filter((p) => p !== ""), { mode: 0o600 });
  } catch (e) {
    await set.close();
    throw withContext(e, `create fifos for "${opts.id}"`);
  }
  return set;
}
