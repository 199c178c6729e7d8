/**
 * The TTRPC client: many calls in flight on one connection, per-call
 * timeouts, metadata, abort signals and the three streaming shapes. It works
 * on serialized payloads; {@link createClient} in `service_client.ts` adds
 * typed methods from protobuf-es service descriptors.
 *
 * @module
 */

import { type Conn, dial, type DialOptions } from "./conn.ts";
import {
  decodeResponse,
  encodeMetadata,
  encodeRequestPrefix,
  type MetadataInit,
  requestSize,
  writeRequestFrame,
} from "./envelope.ts";
import {
  encodeFrame,
  Flags,
  type Frame,
  FrameDecoder,
  MESSAGE_LENGTH_MAX,
  MessageType,
  oversizedMessage,
} from "./frame.ts";
import { MessageQueue } from "./queue.ts";
import { Code, TtrpcError } from "./status.ts";

/** Options of one call. */
export interface CallOptions {
  /** Deadline in milliseconds: sent to the server as `timeout_nano` and enforced locally (DeadlineExceeded). */
  timeoutMs?: number;
  /** Metadata for this call; its keys replace the client's default values for the same keys. */
  metadata?: MetadataInit;
  /** Aborting rejects the call with Canceled (1). */
  signal?: AbortSignal;
}

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** Metadata sent with every call, e.g. `{ "containerd-namespace-ttrpc": "default" }`. */
  metadata?: MetadataInit;
  /** Default per-call timeout in milliseconds (none when unset or 0). */
  timeoutMs?: number;
  /** Largest frame data accepted or sent; default 4 MiB. */
  maxMessageLength?: number;
  /** Called once when the connection is gone, see {@link Client.onClose}. */
  onClose?: (err?: Error) => void;
}

/** Options of {@link Client.dial}: client options plus the dial timeout and signal. */
export interface ClientDialOptions extends ClientOptions {
  /** Give up connecting after this many milliseconds (DialError code ETIMEDOUT). */
  dialTimeoutMs?: number;
  /** Abort the dial. */
  signal?: AbortSignal;
}

/** The streaming shapes, named as protobuf-es `methodKind` names them. */
export type StreamKind =
  | "client_streaming"
  | "server_streaming"
  | "bidi_streaming";

/** Options of {@link Client.stream}. */
export interface StreamOptions extends CallOptions {
  /** The request message sent in the Request frame (required for server streaming; optional otherwise). */
  payload?: Uint8Array;
}

/** Receives the frames of one stream id. */
interface Receiver {
  /** Handles a frame; returns true when the stream is finished. */
  frame(f: Frame): boolean;
  /** Fails the stream (connection lost, oversized frame). */
  fail(err: TtrpcError): void;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const MAX_STREAM_ID = 0xffffffff;

/** Internal entry point for typed clients: a unary call with a precomputed method prefix. */
export const kUnary: unique symbol = Symbol("ttrpc-ts.unary");

/** The error every pending call gets when the connection goes away. */
function closedError(cause?: Error): TtrpcError {
  return new TtrpcError(
    Code.Unavailable,
    "ttrpc: closed",
    [],
    cause ? { cause } : undefined,
  );
}

function deadlineError(): TtrpcError {
  return new TtrpcError(Code.DeadlineExceeded, "context deadline exceeded");
}

function canceledError(reason: unknown): TtrpcError {
  return new TtrpcError(Code.Canceled, "context canceled", [], {
    cause: reason,
  });
}

function lowerKeys(
  md: MetadataInit | undefined,
): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = Object.create(null);
  if (md) { for (const k of Object.keys(md)) out[k.toLowerCase()] = md[k]; }
  return out;
}

/**
 * A TTRPC client on one connection. Create it with {@link Client.dial} or from
 * an existing {@link Conn}.
 */
export class Client {
  readonly #conn: Conn;
  readonly #decoder: FrameDecoder;
  readonly #calls = new Map<number, Receiver>();
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #defaultMd: Record<string, string | readonly string[]>;
  readonly #defaultMdBytes: Uint8Array;
  readonly #prefixes = new Map<string, Map<string, Uint8Array>>();
  readonly #closeCallbacks = new Set<(err?: Error) => void>();
  #nextId = 1;
  #closed = false;
  #closeError: Error | undefined;

  /**
   * Dials `address` and returns a client on the new connection.
   *
   * @param address `unix:///path`, `/path`, `unix://@name` or `\0name`
   * @param options client options plus `dialTimeoutMs` and `signal`
   * @returns the connected client
   * @throws {DialError} with the errno `code` (ECONNREFUSED, ENOENT, ETIMEDOUT, …); no retries
   */
  static async dial(
    address: string,
    options: ClientDialOptions = {},
  ): Promise<Client> {
    const dialOpts: DialOptions = {
      timeoutMs: options.dialTimeoutMs,
      signal: options.signal,
    };
    return new Client(await dial(address, dialOpts), options);
  }

  /**
   * @param conn an open connection; the client owns it from now on
   * @param options default metadata and timeout, message limit, close callback
   */
  constructor(conn: Conn, options: ClientOptions = {}) {
    this.#conn = conn;
    this.#max = options.maxMessageLength ?? MESSAGE_LENGTH_MAX;
    this.#decoder = new FrameDecoder({ maxMessageLength: this.#max });
    this.#timeoutMs = options.timeoutMs ?? 0;
    this.#defaultMd = lowerKeys(options.metadata);
    this.#defaultMdBytes = encodeMetadata(this.#defaultMd);
    if (options.onClose) this.#closeCallbacks.add(options.onClose);
    conn.start({
      data: (chunk) => this.#onData(chunk),
      close: (err) => this.#shutdown(err),
    });
  }

  /** True once the connection is gone or {@link Client.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of calls and streams waiting for the server. */
  get pending(): number {
    return this.#calls.size;
  }

  /**
   * Registers a callback for the end of the connection. It runs exactly once:
   * with the socket error when the connection broke, without one on EOF or
   * after {@link Client.close}. If the client is already closed it runs in a
   * microtask.
   *
   * @param callback the callback
   * @returns a function that unregisters it
   */
  onClose(callback: (err?: Error) => void): () => void {
    if (this.#closed) {
      const err = this.#closeError;
      queueMicrotask(() => callback(err));
      return () => {};
    }
    const once = (err?: Error) => callback(err);
    this.#closeCallbacks.add(once);
    return () => this.#closeCallbacks.delete(once);
  }

  /** Closes the connection; pending calls reject with Unavailable (14). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#shutdown(undefined);
    this.#conn.close();
  }

  /**
   * Makes a unary call with a serialized request.
   *
   * @param service fully qualified service name, e.g. `containerd.task.v2.Task`
   * @param method method name, e.g. `Connect`
   * @param payload the serialized request message
   * @param options timeout, metadata, signal
   * @returns the serialized response message
   * @throws {TtrpcError} the server's status, or DeadlineExceeded / Canceled / Unavailable / ResourceExhausted
   */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    options?: CallOptions,
  ): Promise<Uint8Array> {
    return this[kUnary](
      this.#prefix(service, method),
      payload,
      options,
      identity,
    );
  }

  /**
   * Unary call with a precomputed request prefix (fields 1 and 2); used by typed clients.
   *
   * @param prefix output of `encodeRequestPrefix(service, method)`
   * @param payload serialized request
   * @param options call options
   * @param decode turns the response payload into the result
   * @returns the decoded response
   */
  [kUnary]<T>(
    prefix: Uint8Array,
    payload: Uint8Array,
    options: CallOptions | undefined,
    decode: (payload: Uint8Array) => T,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(closedError(this.#closeError));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(canceledError(signal.reason));
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const timeoutNano = timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0;
    const md = options?.metadata === undefined ? this.#defaultMdBytes : this.#mergeMetadata(options.metadata);
    const size = requestSize(prefix, payload, timeoutNano, md);
    if (size > this.#max) {
      return Promise.reject(
        new TtrpcError(
          Code.ResourceExhausted,
          oversizedMessage(size, this.#max),
        ),
      );
    }
    const id = this.#allocateId();
    if (id < 0) {
      return Promise.reject(
        new TtrpcError(Code.ResourceExhausted, "ttrpc: stream ids exhausted"),
      );
    }
    const frame = writeRequestFrame(
      id,
      0,
      size,
      prefix,
      payload,
      timeoutNano,
      md,
    );
    return new Promise<T>((resolve, reject) => {
      const call = new UnaryCall(this.#calls, id, resolve, reject, decode);
      this.#calls.set(id, call);
      if (timeoutMs > 0) call.startTimer(timeoutMs);
      if (signal !== undefined) call.watch(signal);
      this.#conn.write(frame);
    });
  }

  /**
   * Opens a streaming call with serialized messages.
   *
   * - `server_streaming`: pass the request as `options.payload`; read replies with `recv()`.
   * - `client_streaming`: `send()` requests, `closeSend()`, then `recv()` the single reply.
   * - `bidi_streaming`: `send()`, `closeSend()` and `recv()` in any interleaving.
   *
   * @param service fully qualified service name
   * @param method method name
   * @param kind the streaming shape of the method
   * @param options first payload, timeout, metadata, signal
   * @returns the stream; failures (including a closed client) surface from `recv()`
   */
  stream(
    service: string,
    method: string,
    kind: StreamKind,
    options: StreamOptions = {},
  ): ClientStream {
    return this.openStream(this.#prefix(service, method), kind, options);
  }

  /**
   * Opens a streaming call with a precomputed request prefix; used by typed clients.
   *
   * @param prefix output of `encodeRequestPrefix(service, method)`
   * @param kind the streaming shape
   * @param options first payload, timeout, metadata, signal
   * @returns the stream
   */
  openStream(
    prefix: Uint8Array,
    kind: StreamKind,
    options: StreamOptions = {},
  ): ClientStream {
    const stream = new ClientStream(
      kind,
      this.#max,
      (b) => this.#conn.write(b),
      (id) => this.#release(id),
    );
    if (this.#closed) {
      stream.fail(closedError(this.#closeError));
      return stream;
    }
    const signal = options.signal;
    if (signal?.aborted) {
      stream.fail(canceledError(signal.reason));
      return stream;
    }
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeoutNano = timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0;
    const md = options.metadata === undefined ? this.#defaultMdBytes : this.#mergeMetadata(options.metadata);
    const payload = options.payload ?? EMPTY;
    const size = requestSize(prefix, payload, timeoutNano, md);
    if (size > this.#max) {
      stream.fail(
        new TtrpcError(
          Code.ResourceExhausted,
          oversizedMessage(size, this.#max),
        ),
      );
      return stream;
    }
    const id = this.#allocateId();
    if (id < 0) {
      stream.fail(
        new TtrpcError(Code.ResourceExhausted, "ttrpc: stream ids exhausted"),
      );
      return stream;
    }
    const flags = kind === "server_streaming" ? Flags.RemoteClosed : Flags.RemoteOpen;
    stream.attach(id);
    this.#calls.set(id, stream);
    if (timeoutMs > 0) stream.startTimer(timeoutMs);
    if (signal !== undefined) stream.watch(signal);
    this.#conn.write(
      writeRequestFrame(id, flags, size, prefix, payload, timeoutNano, md),
    );
    return stream;
  }

  /**
   * Returns the cached request prefix for a method.
   *
   * @param service fully qualified service name
   * @param method method name
   * @returns encoded Request fields 1 and 2
   */
  #prefix(service: string, method: string): Uint8Array {
    let byMethod = this.#prefixes.get(service);
    if (byMethod === undefined) {
      this.#prefixes.set(service, byMethod = new Map());
    }
    let prefix = byMethod.get(method);
    if (prefix === undefined) {
      byMethod.set(method, prefix = encodeRequestPrefix(service, method));
    }
    return prefix;
  }

  #mergeMetadata(md: MetadataInit): Uint8Array {
    const merged = Object.assign(
      Object.create(null),
      this.#defaultMd,
      lowerKeys(md),
    );
    return encodeMetadata(merged);
  }

  #allocateId(): number {
    const id = this.#nextId;
    if (id > MAX_STREAM_ID) return -1;
    this.#nextId = id + 2;
    return id;
  }

  #release(id: number): void {
    this.#calls.delete(id);
  }

  #onData(chunk: Uint8Array): void {
    const frames = this.#decoder.push(chunk);
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      const r = this.#calls.get(f.streamId);
      if (r === undefined) continue;
      if (f.oversized) {
        this.#calls.delete(f.streamId);
        r.fail(
          new TtrpcError(
            Code.ResourceExhausted,
            oversizedMessage(f.length, this.#max),
          ),
        );
      } else if (r.frame(f)) {
        this.#calls.delete(f.streamId);
      }
    }
  }

  #shutdown(err: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    const e = closedError(err);
    for (const r of calls) r.fail(e);
    const callbacks = [...this.#closeCallbacks];
    this.#closeCallbacks.clear();
    for (const cb of callbacks) {
      try {
        cb(err);
      } catch (cbErr) {
        queueMicrotask(() => {
          throw cbErr;
        });
      }
    }
  }
}

function identity(b: Uint8Array): Uint8Array {
  return b;
}

/** One pending unary call. */
class UnaryCall<T> implements Receiver {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  readonly calls: Map<number, Receiver>;
  readonly id: number;
  readonly resolve: (v: T) => void;
  readonly reject: (err: unknown) => void;
  readonly decode: (payload: Uint8Array) => T;

  constructor(
    calls: Map<number, Receiver>,
    id: number,
    resolve: (v: T) => void,
    reject: (err: unknown) => void,
    decode: (payload: Uint8Array) => T,
  ) {
    this.calls = calls;
    this.id = id;
    this.resolve = resolve;
    this.reject = reject;
    this.decode = decode;
  }

  startTimer(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.calls.delete(this.id);
      this.fail(deadlineError());
    }, ms);
  }

  watch(signal: AbortSignal): void {
    this.#signal = signal;
    this.#onAbort = () => {
      this.calls.delete(this.id);
      this.fail(canceledError(signal.reason));
    };
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  #cleanup(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#onAbort !== undefined) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
      this.#onAbort = undefined;
    }
  }

  frame(f: Frame): boolean {
    this.#cleanup();
    if (f.type !== MessageType.Response) {
      this.reject(
        new TtrpcError(
          Code.Internal,
          `ttrpc: unexpected frame type ${f.type} on a unary call`,
        ),
      );
      return true;
    }
    let payload: Uint8Array;
    try {
      const res = decodeResponse(f.data);
      const st = res.status;
      if (st !== undefined && st.code !== 0) {
        this.reject(new TtrpcError(st.code, st.message, st.details));
        return true;
      }
      payload = res.payload;
    } catch (err) {
      this.reject(
        new TtrpcError(
          Code.Internal,
          `ttrpc: unmarshal response: ${(err as Error).message}`,
        ),
      );
      return true;
    }
    let value: T;
    try {
      value = this.decode(payload);
    } catch (err) {
      this.reject(
        new TtrpcError(
          Code.Internal,
          `ttrpc: unmarshal response payload: ${(err as Error).message}`,
        ),
      );
      return true;
    }
    this.resolve(value);
    return true;
  }

  fail(err: TtrpcError): void {
    this.#cleanup();
    this.reject(err);
  }
}

/**
 * One streaming call on the client side, working on serialized messages.
 * Iterate it (or call `recv()`) for the server's messages.
 */
export class ClientStream implements Receiver, AsyncIterable<Uint8Array> {
  readonly #kind: StreamKind;
  readonly #max: number;
  readonly #write: (b: Uint8Array) => void;
  readonly #release: (id: number) => void;
  readonly #queue = new MessageQueue<Uint8Array>();
  #id = 0;
  #localClosed: boolean;
  #finished = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  /**
   * Created by {@link Client.stream}; not meant to be constructed directly.
   *
   * @param kind streaming shape
   * @param max largest message accepted by `send`
   * @param write writes a frame on the connection
   * @param release forgets the stream id on the client
   */
  constructor(
    kind: StreamKind,
    max: number,
    write: (b: Uint8Array) => void,
    release: (id: number) => void,
  ) {
    this.#kind = kind;
    this.#max = max;
    this.#write = write;
    this.#release = release;
    this.#localClosed = kind === "server_streaming";
  }

  /** The stream id (0 if the stream failed before it was sent). */
  get streamId(): number {
    return this.#id;
  }

  /** True once the server finished the stream or it failed. */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Binds the stream to its id; called by the client.
   *
   * @param id the stream id
   */
  attach(id: number): void {
    this.#id = id;
  }

  /**
   * Starts the local deadline; called by the client.
   *
   * @param ms milliseconds
   */
  startTimer(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#stop(deadlineError());
    }, ms);
  }

  /**
   * Fails the stream with Canceled when `signal` aborts; called by the client.
   *
   * @param signal the caller's signal
   */
  watch(signal: AbortSignal): void {
    this.#signal = signal;
    this.#onAbort = () => this.#stop(canceledError(signal.reason));
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Sends one serialized message (client and bidi streaming). Does nothing once
   * the stream has finished; its outcome is then reported by `recv()`.
   *
   * @param payload the serialized message
   * @throws {Error} on a server-streaming call or after `closeSend()`;
   *   {TtrpcError} ResourceExhausted when the message exceeds the limit
   */
  send(payload: Uint8Array): void {
    if (this.#kind === "server_streaming") {
      throw new Error("ttrpc: cannot send on a server-streaming call");
    }
    if (this.#localClosed) throw new Error("ttrpc: send after closeSend");
    if (this.#finished) return;
    if (payload.length > this.#max) {
      throw new TtrpcError(
        Code.ResourceExhausted,
        oversizedMessage(payload.length, this.#max),
      );
    }
    this.#write(encodeFrame(this.#id, MessageType.Data, 0, payload));
  }

  /** Tells the server no more messages follow (Data frame with RemoteClosed|NoData). Idempotent. */
  closeSend(): void {
    if (this.#localClosed) return;
    this.#localClosed = true;
    if (!this.#finished) {
      this.#write(
        encodeFrame(
          this.#id,
          MessageType.Data,
          Flags.RemoteClosed | Flags.NoData,
        ),
      );
    }
  }

  /**
   * Receives the next message from the server.
   *
   * @returns the serialized message, or undefined when the stream ended normally
   * @throws {TtrpcError} the server's status, or a local DeadlineExceeded / Canceled / Unavailable
   */
  async recv(): Promise<Uint8Array | undefined> {
    const r = await this.#queue.next();
    return r.done ? undefined : r.value;
  }

  /**
   * Stops the stream locally: pending and later `recv()` calls reject, and the
   * server is told this side sends nothing more. TTRPC has no cancel frame, so
   * the server learns nothing else.
   *
   * @param err the error `recv()` rejects with; default Canceled (1)
   */
  cancel(err?: Error): void {
    this.#stop(err ?? canceledError(undefined));
  }

  /** @returns an iterator over the server's messages; breaking out of it cancels the stream */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#queue.next(),
      return: (): Promise<IteratorResult<Uint8Array>> => {
        if (!this.#finished) this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /**
   * Handles a frame for this stream; called by the client.
   *
   * @param f the frame
   * @returns true when the stream is finished
   */
  frame(f: Frame): boolean {
    if (f.type === MessageType.Response) {
      let payload: Uint8Array;
      try {
        const res = decodeResponse(f.data);
        const st = res.status;
        if (st !== undefined && st.code !== 0) {
          this.#finish(new TtrpcError(st.code, st.message, st.details));
          return true;
        }
        payload = res.payload;
      } catch (err) {
        this.#finish(
          new TtrpcError(
            Code.Internal,
            `ttrpc: unmarshal response: ${(err as Error).message}`,
          ),
        );
        return true;
      }
      if (this.#kind === "client_streaming" || payload.length > 0) {
        this.#queue.push(payload);
      }
      this.#finish(undefined);
      return true;
    }
    if (f.type === MessageType.Data) {
      if (this.#kind === "client_streaming") {
        this.#finish(
          new TtrpcError(
            Code.Internal,
            "ttrpc: received data from non-streaming server",
          ),
        );
        return true;
      }
      if ((f.flags & Flags.NoData) === 0) this.#queue.push(f.data);
      if ((f.flags & Flags.RemoteClosed) !== 0) {
        this.#finish(undefined);
        return true;
      }
    }
    return false;
  }

  /**
   * Fails the stream; called by the client when the connection is lost.
   *
   * @param err the error `recv()` rejects with
   */
  fail(err: TtrpcError): void {
    this.#finish(err);
  }

  #stop(err: Error): void {
    if (this.#finished) return;
    this.closeSend();
    this.#release(this.#id);
    this.#finish(err);
    this.#queue.abort(err);
  }

  #finish(err: Error | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#localClosed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#onAbort !== undefined) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
    }
    if (err === undefined) this.#queue.end();
    else this.#queue.fail(err);
  }
}
