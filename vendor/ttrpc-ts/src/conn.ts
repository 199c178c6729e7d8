/**
 * The narrow connection interface the client and server run on, its
 * `node:net` adapter, address parsing and dialing.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as net from "node:net";

/** Receives what a {@link Conn} reads. */
export interface ConnHandler {
  /** Called with every chunk read, in order. The chunk is not reused by the connection. */
  data(chunk: Uint8Array): void;
  /** Called exactly once when the connection is gone; `err` is set when it ended abnormally. */
  close(err?: Error): void;
}

/** A byte stream to one peer. TTRPC needs nothing more. */
export interface Conn {
  /**
   * Starts delivering data to `handler`. Call once.
   *
   * @param handler receiver of chunks and of the final close
   */
  start(handler: ConnHandler): void;
  /**
   * Queues bytes for sending. Writes issued in the same tick leave in one batch.
   *
   * @param bytes bytes to send; must not be modified afterwards
   */
  write(bytes: Uint8Array): void;
  /** Flushes queued bytes, then closes. Idempotent. */
  close(): void;
  /**
   * Closes at once, dropping queued bytes. Idempotent.
   *
   * @param err optional reason, passed to the handler's `close`
   */
  destroy(err?: Error): void;
}

/** A parsed TTRPC address. */
export interface ParsedAddress {
  /** The path to give `node:net`: a filesystem path, or `"\0name"` for an abstract socket. */
  path: string;
  /** True for a Linux abstract socket. */
  abstract: boolean;
}

/**
 * Parses a TTRPC socket address.
 *
 * Accepted forms: `unix:///path` and `/path` (filesystem socket), `unix://@name`
 * and `\0name` (abstract socket). A path without a scheme may be relative.
 *
 * @param address the address
 * @returns the `node:net` path and whether it is abstract
 * @throws {TypeError} for an empty address, an unknown scheme or an empty path
 */
export function parseAddress(address: string): ParsedAddress {
  let rest = address;
  if (rest.startsWith("unix://")) {
    rest = rest.slice("unix://".length);
    if (rest.startsWith("@")) rest = "\0" + rest.slice(1);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
    throw new TypeError(`parse address "${address}": unsupported scheme`);
  }
  if (rest === "" || rest === "\0") {
    throw new TypeError(`parse address "${address}": empty path`);
  }
  return { path: rest, abstract: rest.charCodeAt(0) === 0 };
}

/**
 * Adapts a connected `node:net` socket to {@link Conn}. Writes made in the same
 * tick are concatenated into one socket write.
 *
 * @param socket a connected socket (dialed or accepted)
 * @returns the connection
 */
export function socketConn(socket: net.Socket): Conn {
  return new SocketConn(socket);
}

class SocketConn implements Conn {
  readonly #socket: net.Socket;
  #handler: ConnHandler | null = null;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #scheduled = false;
  #ending = false;
  #finished = false;
  #error: Error | undefined;
  readonly #flush = () => this.#flushNow();

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("error", (err: Error) => {
      this.#error ??= err;
    });
    socket.on("close", () => this.#finish());
    if (socket.destroyed) queueMicrotask(() => this.#finish());
  }

  start(handler: ConnHandler): void {
    if (this.#handler !== null) throw new Error("connection already started");
    this.#handler = handler;
    if (this.#finished) {
      queueMicrotask(() => handler.close(this.#error));
      return;
    }
    this.#socket.on("data", (chunk: Uint8Array) => handler.data(chunk));
  }

  write(bytes: Uint8Array): void {
    if (this.#ending || this.#finished) return;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #flushNow(): void {
    this.#scheduled = false;
    const q = this.#queue;
    if (q.length === 0) return;
    this.#queue = [];
    const total = this.#queued;
    this.#queued = 0;
    if (this.#socket.destroyed) return;
    this.#socket.write(q.length === 1 ? q[0] : Buffer.concat(q, total));
  }

  close(): void {
    if (this.#ending || this.#finished) return;
    this.#ending = true;
    this.#flushNow();
    this.#socket.end();
    // A peer that never reads must not keep us half-open forever.
    const t = setTimeout(() => this.#socket.destroy(), 2000);
    (t as { unref?: () => void }).unref?.();
    this.#socket.once("close", () => clearTimeout(t));
  }

  destroy(err?: Error): void {
    if (this.#finished) return;
    if (err) this.#error ??= err;
    this.#ending = true;
    this.#queue = [];
    this.#queued = 0;
    this.#socket.destroy();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue = [];
    this.#handler?.close(this.#error);
  }
}

/** Options of {@link dial}. */
export interface DialOptions {
  /** Fail with ETIMEDOUT when the connection is not up after this many milliseconds. */
  timeoutMs?: number;
  /** Abort the attempt (fails with code ABORT_ERR). */
  signal?: AbortSignal;
}

/** A failed dial; `code` is the errno code (ECONNREFUSED, ENOENT, ETIMEDOUT, …). */
export class DialError extends Error {
  /** Always `"DialError"`. */
  override name = "DialError";
  /** The errno code, e.g. `"ECONNREFUSED"`. */
  readonly code: string;

  /**
   * @param address the address that was dialed
   * @param code errno code
   * @param reason what went wrong
   * @param options `{ cause }`
   */
  constructor(
    address: string,
    code: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`dial "${address}": ${reason}`, options);
    this.code = code;
  }
}

/**
 * Connects to a TTRPC server once. There is no retry: ECONNREFUSED and ENOENT
 * fail at once.
 *
 * @param address see {@link parseAddress}
 * @param options timeout and abort signal
 * @returns the connected socket as a {@link Conn}
 * @throws {DialError} carrying the errno `code`; {TypeError} for a malformed address
 */
export function dial(
  address: string,
  options: DialOptions = {},
): Promise<Conn> {
  return dialSocket(address, options).then(socketConn);
}

/**
 * Like {@link dial}, but returns the raw `node:net` socket.
 *
 * @param address see {@link parseAddress}
 * @param options timeout and abort signal
 * @returns the connected socket
 * @throws {DialError} carrying the errno `code`
 */
export function dialSocket(
  address: string,
  options: DialOptions = {},
): Promise<net.Socket> {
  const { path } = parseAddress(address);
  const { timeoutMs, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(
        new DialError(address, "ABORT_ERR", "aborted", {
          cause: signal.reason,
        }),
      );
      return;
    }
    const socket = net.createConnection({ path });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: DialError) => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: Error & { code?: string }) => {
      fail(
        new DialError(address, err.code ?? "EIO", err.message, { cause: err }),
      );
    };
    const onAbort = () =>
      fail(
        new DialError(address, "ABORT_ERR", "aborted", {
          cause: signal?.reason,
        }),
      );
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(
        () =>
          fail(
            new DialError(
              address,
              "ETIMEDOUT",
              `connect timed out after ${timeoutMs}ms`,
            ),
          ),
        timeoutMs,
      );
    }
  });
}
