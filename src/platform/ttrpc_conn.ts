/**
 * Dialing a TTRPC connection with the runtime's cheapest socket: ttrpc-ts's
 * {@link Conn} over `Deno.connect` on Deno and `Bun.connect` on Bun, ttrpc-ts's
 * own `node:net` dial everywhere else (and for abstract sockets).
 *
 * Why this file exists. Against a real runc shim, Deno's `node:net` compat
 * layer cost ~22 µs more CPU per call than Bun's, which kept Deno's
 * sequential `Connect` p50 at 0.94–1.01× Go's; the same loop on
 * `Deno.connect` used ~10 µs less (BENCHMARKS.md §1). ttrpc-ts keeps
 * importing only `node:*`; it takes this connection through
 * `new Client(conn, options)`.
 *
 * On Bun, `node:net` is a JavaScript Duplex stream over the same native
 * socket `Bun.connect` hands out directly: the same sequential `Connect`
 * loop against a runc shim used 15–25 % less CPU per call over `Bun.connect`
 * (20 000 calls: 1.09–1.20 s against 1.30–1.71 s of CPU), which is what a
 * restore of 100 shims on 2 vCPUs is bound by.
 *
 * The Deno connection keeps ttrpc-ts's `socketConn` semantics: writes issued
 * in the same tick leave in one write (and writes issued while a write is in
 * flight leave together after it), `close()` flushes then half-closes and
 * lets the peer end the stream (destroyed after 2 s if it does not), and
 * `destroy()` releases the socket at once. Each read lands in a fresh part
 * of a slab (4 KiB, growing to 64 KiB under bulk reads), so chunks handed to
 * the handler are never reused and a small reply costs no allocation; the next read starts once the request a
 * reply triggered is written (see `#delivered`).
 *
 * @module
 */

import {
  type Conn,
  type ConnHandler,
  dial,
  DialError,
  type DialOptions,
  parseAddress,
} from "../../vendor/ttrpc-ts/mod.ts";

/** The part of `Deno.UnixConn` used here. */
interface DenoUnixConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** The part of the `Deno` namespace used here. */
interface DenoNet {
  connect(options: { transport: "unix"; path: string }): Promise<DenoUnixConn>;
}

/** How long `close()` waits for the peer to end the stream before destroying the socket (as `socketConn`). */
const CLOSE_GRACE_MS = 2000;
/**
 * Read slabs start small and double (up to {@link SLAB_MAX}) whenever a read
 * fills all the space it was given: a manager holds one connection per shim,
 * and most of them only ever carry small replies (a 64 KiB slab each was
 * ~6 MiB of a 100-shim restore's RSS on Deno). A new slab is allocated when
 * less than a quarter of the current size is left.
 */
const SLAB_MIN = 4 * 1024;
const SLAB_MAX = 64 * 1024;
/**
 * Microtasks the next read waits, after a chunk was delivered, for the write
 * it usually triggers (see `DenoConn.#delivered`). Enough for a caller a few
 * `await`s above the client; when nothing is written the read starts anyway.
 */
export const READ_DEFER_HOPS = 8;

/** errno code by Deno error class name, for errors that carry no `code`. */
const CODE_BY_NAME: Record<string, string> = {
  NotFound: "ENOENT",
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNABORTED",
  PermissionDenied: "EACCES",
  TimedOut: "ETIMEDOUT",
  BrokenPipe: "EPIPE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  NotCapable: "EACCES",
};

function denoNet(): DenoNet | undefined {
  return (globalThis as unknown as { Deno?: DenoNet }).Deno;
}

/** The part of a Bun socket (`Bun.connect`) used here. */
interface BunSocket {
  /** Writes what the kernel takes now; returns the byte count (0 or fewer than given when full). */
  write(data: Uint8Array): number;
  /** Flushes and closes both directions. */
  end(): void;
  /** `shutdown(2)`: with no argument, of the write side only (sends FIN, keeps reading; Bun 1.4). */
  shutdown(readSide?: boolean): void;
  /** Closes at once. */
  terminate(): void;
}

/** `Bun.connect`'s socket handlers used here. */
interface BunSocketHandlers {
  /** What `data` receives: `"uint8array"` for plain `Uint8Array`s (the default is node's `Buffer`). */
  binaryType?: "buffer" | "uint8array" | "arraybuffer";
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  close(socket: BunSocket, err?: Error): void;
  error(socket: BunSocket, err: Error): void;
  end?(socket: BunSocket): void;
}

/** The part of the `Bun` namespace used here. */
interface BunNet {
  connect(options: { unix: string; socket: BunSocketHandlers }): Promise<BunSocket>;
}

function bunNet(): BunNet | undefined {
  return (globalThis as unknown as { Bun?: BunNet }).Bun;
}

/**
 * Connects to a TTRPC server once, with no retry: on Deno over
 * `Deno.connect({ transport: "unix" })` (abstract `\0` names included),
 * elsewhere with ttrpc-ts's `dial` (`node:net`). Hand the result to
 * `new Client(conn, options)`.
 *
 * @param address `unix:///path`, `/path`, `unix://@name` or `\0name`
 * @param options `timeoutMs` (fail with ETIMEDOUT) and `signal` (fail with ABORT_ERR)
 * @returns the connection, not yet started
 * @throws {DialError} with the errno `code` (ENOENT, ECONNREFUSED, ETIMEDOUT, ABORT_ERR, …);
 *   {TypeError} for a malformed address
 */
export async function dialConn(address: string, options: DialOptions = {}): Promise<Conn> {
  const { path, abstract } = parseAddress(address);
  // Deno.connect and Bun.connect take file paths only: abstract sockets go through node:net.
  if (abstract) return await dial(address, options);
  const deno = denoNet();
  if (deno !== undefined) {
    const conn = await bounded(
      address,
      options,
      () => deno.connect({ transport: "unix", path }),
      closeQuietly,
    );
    return new DenoConn(conn);
  }
  const bun = bunNet();
  if (bun !== undefined) {
    const conn = new BunConn();
    conn.attach(
      await bounded(
        address,
        options,
        () => bun.connect({ unix: path, socket: conn.handlers }),
        (s) => s.terminate(),
      ),
    );
    return conn;
  }
  return await dial(address, options);
}

/**
 * Runs a runtime's connect bounded by the timeout and the signal; a connection
 * that completes after either fired is discarded.
 */
function bounded<T>(
  address: string,
  { timeoutMs, signal }: DialOptions,
  connect: () => Promise<T>,
  discard: (conn: T) => void,
): Promise<T> {
  if (signal?.aborted) {
    return Promise.reject(new DialError(address, "ABORT_ERR", "aborted", { cause: signal.reason }));
  }
  const attempt = connect();
  if (signal === undefined && !(timeoutMs !== undefined && timeoutMs > 0)) {
    return attempt.catch((err) => Promise.reject(dialError(address, err)));
  }
  return new Promise((resolve, reject) => {
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const giveUp = (err: DialError) => {
      if (done) return;
      settle();
      reject(err);
    };
    const onAbort = () => giveUp(new DialError(address, "ABORT_ERR", "aborted", { cause: signal?.reason }));
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(
        () => giveUp(new DialError(address, "ETIMEDOUT", `connect timed out after ${timeoutMs}ms`)),
        timeoutMs,
      );
    }
    attempt.then(
      (conn) => {
        if (done) {
          discard(conn);
          return;
        }
        settle();
        resolve(conn);
      },
      (err) => giveUp(dialError(address, err)),
    );
  });
}

function dialError(address: string, err: unknown): DialError {
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof e?.code === "string" && e.code !== "" ? e.code : CODE_BY_NAME[String(e?.name)] ?? "EIO";
  return new DialError(address, code, `connect ${code}: ${String(e?.message ?? err)}`, { cause: err });
}

/** Gives a Deno or Bun socket error an errno `code` when it has none, as `node:net` errors have. */
function socketError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const withCode = e as Error & { code?: unknown };
  if (typeof withCode.code !== "string" || withCode.code === "") {
    const code = CODE_BY_NAME[e.name];
    if (code !== undefined) {
      try {
        withCode.code = code;
      } catch {
        // A frozen error keeps its shape.
      }
    }
  }
  return e;
}

function closeQuietly(conn: DenoUnixConn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Bytes written but not yet handed to the socket; what one flush sends goes out as one buffer. */
class WriteBatch {
  #chunks: Uint8Array[] = [];
  #size = 0;

  /** True when nothing is queued. */
  get empty(): boolean {
    return this.#chunks.length === 0;
  }

  /** Queues bytes. */
  push(bytes: Uint8Array): void {
    this.#chunks.push(bytes);
    this.#size += bytes.length;
  }

  /** Takes everything queued as one buffer (undefined when empty). */
  take(): Uint8Array | undefined {
    const q = this.#chunks;
    if (q.length === 0) return undefined;
    const size = this.#size;
    this.#chunks = [];
    this.#size = 0;
    return q.length === 1 ? q[0] : concat(q, size);
  }

  /** Drops everything queued. */
  clear(): void {
    this.#chunks = [];
    this.#size = 0;
  }
}

/** {@link Conn} over a `Deno.UnixConn`. */
class DenoConn implements Conn {
  readonly #conn: DenoUnixConn;
  #handler: ConnHandler | null = null;
  readonly #batch = new WriteBatch();
  #scheduled = false;
  #writing = false;
  #ending = false;
  #halfClosed = false;
  #finished = false;
  #error: Error | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #slab = new Uint8Array(SLAB_MIN);
  #off = 0;
  /** The last read filled the slab: the next slab is twice the size. */
  #grow = false;
  /** A chunk was delivered and the next read waits for a write or for {@link READ_DEFER_HOPS} microtasks. */
  #readWanted = false;
  #hopsLeft = 0;
  readonly #flush = () => {
    this.#scheduled = false;
    if (!this.#writing) void this.#writeLoop();
  };
  readonly #onRead = (n: number | null) => this.#delivered(n);
  readonly #onReadError = (err: unknown) => {
    if (this.#finished) return;
    this.#error ??= socketError(err);
    this.#finish();
  };
  readonly #hop = () => {
    if (!this.#readWanted) return;
    if (--this.#hopsLeft > 0) queueMicrotask(this.#hop);
    else this.#read();
  };

  constructor(conn: DenoUnixConn) {
    this.#conn = conn;
  }

  start(handler: ConnHandler): void {
    if (this.#handler !== null) throw new Error("connection already started");
    this.#handler = handler;
    if (this.#finished) {
      queueMicrotask(() => handler.close(this.#error));
      return;
    }
    this.#read();
  }

  write(bytes: Uint8Array): void {
    if (this.#ending || this.#finished) return;
    this.#batch.push(bytes);
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  close(): void {
    if (this.#ending || this.#finished) return;
    this.#ending = true;
    this.#closeTimer = closeGrace(this);
    if (!this.#writing) void this.#writeLoop();
  }

  destroy(err?: Error): void {
    if (this.#finished) return;
    if (err) this.#error ??= err;
    this.#ending = true;
    this.#finish();
  }

  /** Starts the next read into the free part of the slab. One read is in flight at a time. */
  #read(): void {
    this.#readWanted = false;
    if (this.#finished) return;
    const size = this.#slab.length;
    if (size - this.#off < size / 4) {
      this.#slab = new Uint8Array(this.#grow ? Math.min(size * 2, SLAB_MAX) : size);
      this.#off = 0;
      this.#grow = false;
    }
    this.#conn.read(this.#slab.subarray(this.#off)).then(this.#onRead, this.#onReadError);
  }

  #delivered(n: number | null): void {
    if (this.#finished) return;
    if (n === null) {
      this.#finish();
      return;
    }
    const chunk = this.#slab.subarray(this.#off, this.#off + n);
    // A read that filled all the free space may have left more waiting: read bigger next time.
    if (this.#off + n === this.#slab.length) this.#grow = true;
    this.#off += n;
    try {
      this.#handler!.data(chunk);
    } catch (err) {
      this.#error ??= err as Error;
      this.#finish();
      return;
    }
    if (this.#finished) return;
    // A reply usually makes its caller send the next request within a few microtasks. Starting the
    // next read (an op dispatch) only once that request is written takes the dispatch off the
    // request/response critical path: 3–4 µs less turnaround per sequential call, measured.
    this.#readWanted = true;
    this.#hopsLeft = READ_DEFER_HOPS;
    queueMicrotask(this.#hop);
  }

  /** Sends the queue until it is empty; then, when closing, half-closes. Only one runs at a time. */
  async #writeLoop(): Promise<void> {
    this.#writing = true;
    try {
      while (!this.#batch.empty && !this.#finished) {
        const buf = this.#batch.take()!;
        let off = 0;
        while (off < buf.length && !this.#finished) {
          const written = this.#conn.write(off === 0 ? buf : buf.subarray(off));
          if (this.#readWanted) this.#read();
          off += await written;
        }
      }
      if (this.#ending && !this.#halfClosed && !this.#finished) {
        this.#halfClosed = true;
        await this.#conn.closeWrite();
      }
    } catch (err) {
      // A failed half-close (the peer already went away) is not worth reporting.
      if (!this.#finished) {
        if (!this.#halfClosed) this.#error ??= socketError(err);
        this.#finish();
      }
    } finally {
      this.#writing = false;
    }
  }

  /** Releases the socket and reports the end once, asynchronously (as a socket's "close" event). */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#readWanted = false;
    this.#batch.clear();
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    closeQuietly(this.#conn);
    const handler = this.#handler;
    if (handler !== null) queueMicrotask(() => handler.close(this.#error));
  }
}

/**
 * {@link Conn} over a `Bun.connect` socket. Its handlers exist before the
 * socket does (they are passed to `Bun.connect`), so anything that arrives
 * before {@link BunConn.start} is kept and delivered then. Bun hands every
 * `data` call a fresh buffer, so chunks go to the handler as they are: plain
 * `Uint8Array`s (`binaryType`), not node `Buffer`s, whose `subarray` goes
 * through the `Buffer` constructor.
 * Writes issued in one tick leave in one `write`; what the kernel does not
 * take waits for `drain`. `close()` flushes, half-closes and lets the peer
 * end the stream (destroyed after {@link CLOSE_GRACE_MS}).
 */
class BunConn implements Conn {
  #socket: BunSocket | undefined;
  #handler: ConnHandler | null = null;
  #early: Uint8Array[] = [];
  readonly #batch = new WriteBatch();
  #scheduled = false;
  /** Bytes the kernel has not taken yet; sent on `drain`. */
  #pending: Uint8Array | undefined;
  #ending = false;
  #halfClosed = false;
  #finished = false;
  #error: Error | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #flush = () => {
    this.#scheduled = false;
    this.#send();
  };

  /** The handlers to give `Bun.connect`. */
  readonly handlers: BunSocketHandlers = {
    binaryType: "uint8array",
    data: (socket, chunk) => {
      this.#socket ??= socket;
      if (this.#finished) return;
      if (this.#handler === null) {
        this.#early.push(chunk);
        return;
      }
      this.#deliver(chunk);
    },
    drain: (socket) => {
      this.#socket ??= socket;
      this.#send();
    },
    close: (socket, err) => {
      this.#socket ??= socket;
      if (err) this.#error ??= socketError(err);
      this.#finish(false);
    },
    error: (socket, err) => {
      this.#socket ??= socket;
      this.#error ??= socketError(err);
      this.#finish(true);
    },
  };

  /** Takes the connected socket (`Bun.connect`'s result); queued writes go out now. */
  attach(socket: BunSocket): void {
    this.#socket ??= socket;
    this.#send();
  }

  start(handler: ConnHandler): void {
    if (this.#handler !== null) throw new Error("connection already started");
    this.#handler = handler;
    // What arrived before start() is delivered first, even when the peer has ended the stream since.
    const early = this.#early;
    this.#early = [];
    const endedBefore = this.#finished;
    for (const chunk of early) {
      if (this.#finished && !endedBefore) break;
      this.#deliver(chunk);
    }
    if (endedBefore) queueMicrotask(() => handler.close(this.#error));
  }

  write(bytes: Uint8Array): void {
    if (this.#ending || this.#finished) return;
    this.#batch.push(bytes);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  close(): void {
    if (this.#ending || this.#finished) return;
    this.#ending = true;
    this.#closeTimer = closeGrace(this);
    this.#send();
  }

  destroy(err?: Error): void {
    if (this.#finished) return;
    if (err) this.#error ??= err;
    this.#ending = true;
    this.#early = [];
    this.#finish(true);
  }

  #deliver(chunk: Uint8Array): void {
    try {
      this.#handler!.data(chunk);
    } catch (err) {
      this.#error ??= err as Error;
      this.#finish(true);
    }
  }

  /** Writes the pending bytes, then the queue; half-closes once everything left when closing. */
  #send(): void {
    const socket = this.#socket;
    if (this.#finished || socket === undefined) return;
    this.#pending ??= this.#batch.take();
    const buf = this.#pending;
    if (buf !== undefined) {
      const n = socket.write(buf);
      if (n < buf.length) {
        // The kernel is full (or the socket is closing): the rest goes out on `drain`.
        this.#pending = buf.subarray(Math.max(0, n));
        return;
      }
      this.#pending = undefined;
      if (!this.#batch.empty) return this.#send();
    }
    if (this.#ending && !this.#halfClosed) {
      this.#halfClosed = true;
      // Half-close: the peer still answers what we sent and then ends the stream (`end()` would drop that).
      socket.shutdown();
    }
  }

  /** Releases the socket (at once when `terminate`) and reports the end once, asynchronously. */
  #finish(terminate: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#batch.clear();
    this.#pending = undefined;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    if (terminate) {
      try {
        this.#socket?.terminate();
      } catch {
        // Already closed.
      }
    }
    const handler = this.#handler;
    if (handler !== null) queueMicrotask(() => handler.close(this.#error));
  }
}

/** After `close()`: a peer that never reads or never ends its side must not keep us half-open forever. */
function closeGrace(conn: Conn): ReturnType<typeof setTimeout> {
  const t = setTimeout(() => conn.destroy(), CLOSE_GRACE_MS);
  (t as { unref?: () => void }).unref?.();
  return t;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
