/**
 * The TTRPC server: services registered from protobuf-es descriptors,
 * unary and streaming handlers, unix-socket listening (0600), inherited
 * listeners and sockets, graceful shutdown.
 *
 * @module
 */

import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { chmod, link, lstat, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import * as net from "node:net";
import { type Conn, dialSocket, parseAddress, socketConn } from "./conn.ts";
import { decodeRequest, type Metadata, type RequestEnvelope, writeResponseFrame } from "./envelope.ts";
import {
  encodeFrame,
  Flags,
  type Frame,
  FrameDecoder,
  MESSAGE_LENGTH_MAX,
  MessageType,
  oversizedMessage,
} from "./frame.ts";
import { encodeMessage } from "./encoder.ts";
import { create, isMessage } from "./protobuf.ts";
import { decodeMessage } from "./decoder.ts";
import { MessageQueue } from "./queue.ts";
import { Code, TtrpcError } from "./status.ts";

/** What a handler knows about its call. */
export interface ServerContext {
  /** Fully qualified service name of the call. */
  readonly service: string;
  /** Method name of the call. */
  readonly method: string;
  /** The stream id of the call. */
  readonly streamId: number;
  /** Request metadata, keys lowercased. */
  readonly metadata: Metadata;
  /** Deadline as epoch milliseconds, from the request's `timeout_nano`; undefined when none. */
  readonly deadline: number | undefined;
  /** Aborted when the deadline passes or the connection goes away. */
  readonly signal: AbortSignal;
  /**
   * Closes the whole connection at once, without answering (a test hook for
   * "the peer died mid-call"). Every call on the connection ends.
   */
  abortConnection(): void;
}

type MaybePromise<T> = T | Promise<T>;

/** A response a handler may return: a message, an init object, or nothing for the default message. */
export type ResponseInit<O extends DescMessage> =
  | MessageInitShape<O>
  | undefined
  | void;

/** Handles a unary call. */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: ServerContext,
) => MaybePromise<ResponseInit<O>>;

/** Handles a server-streaming call: yields the responses. */
export type ServerStreamingHandler<
  I extends DescMessage,
  O extends DescMessage,
> = (
  request: MessageShape<I>,
  ctx: ServerContext,
) => AsyncIterable<MessageInitShape<O>> | Iterable<MessageInitShape<O>>;

/** Handles a client-streaming call: consumes the requests, returns the response. */
export type ClientStreamingHandler<
  I extends DescMessage,
  O extends DescMessage,
> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ServerContext,
) => MaybePromise<ResponseInit<O>>;

/** Handles a bidi-streaming call: consumes requests and yields responses. */
export type BidiStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  ctx: ServerContext,
) => AsyncIterable<MessageInitShape<O>> | Iterable<MessageInitShape<O>>;

/** The handler type for one method descriptor. */
export type HandlerFor<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
} ? UnaryHandler<I, O>
  : M extends {
    methodKind: "server_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? ServerStreamingHandler<I, O>
  : M extends {
    methodKind: "client_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? ClientStreamingHandler<I, O>
  : M extends {
    methodKind: "bidi_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? BidiStreamingHandler<I, O>
  : never;

/** An implementation of a service: handlers keyed by method `localName`; missing ones answer Unimplemented. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]?: HandlerFor<S["method"][K]>;
};

/** Options of a {@link Server}. */
export interface ServerOptions {
  /** Largest frame data accepted or sent; default 4 MiB. */
  maxMessageLength?: number;
}

/** Options of {@link Server.shutdown}. */
export interface ShutdownOptions {
  /** How long in-flight calls may take before connections are cut; default 10 000 ms. */
  timeoutMs?: number;
}

// deno-lint-ignore no-explicit-any
type AnyHandler = (...args: any[]) => unknown;

interface MethodEntry {
  readonly kind: DescMethod["methodKind"];
  readonly input: DescMessage;
  readonly output: DescMessage;
  readonly handler: AnyHandler;
}

interface Listener {
  readonly server: net.Server;
  /** The socket file this listener answers on, with its identity (an unlink removes it only while it is ours). */
  readonly file: SocketFile | undefined;
}

/** A socket file and the inode it was bound to. */
interface SocketFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/** sockaddr_un's sun_path holds 108 bytes including the terminating NUL. */
const SUN_PATH_MAX = 107;

function errnoError(message: string, code: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** A TTRPC server. Register services, then listen or hand it connections. */
export class Server {
  readonly #services = new Map<string, Map<string, MethodEntry>>();
  readonly #conns = new Set<ServerConnection>();
  readonly #listeners: Listener[] = [];
  readonly #max: number;
  readonly #drained: Array<() => void> = [];
  #closing = false;

  /** @param options message size limit */
  constructor(options: ServerOptions = {}) {
    this.#max = options.maxMessageLength ?? MESSAGE_LENGTH_MAX;
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /**
   * Registers a service implementation.
   *
   * @param service a protobuf-es (codegenv2) service descriptor
   * @param impl handlers keyed by method `localName`
   * @returns this server
   * @throws {Error} when the service is already registered; {TypeError} for a key that is not a method
   */
  register<S extends DescService>(service: S, impl: ServiceImpl<S>): this {
    if (this.#services.has(service.typeName)) {
      throw new Error(
        `register service "${service.typeName}": already registered`,
      );
    }
    const methods = new Map<string, MethodEntry>();
    const known = new Set<string>();
    for (const m of service.methods) {
      known.add(m.localName);
      const handler = (impl as Record<string, AnyHandler | undefined>)[m.localName];
      if (typeof handler !== "function") continue;
      methods.set(m.name, {
        kind: m.methodKind,
        input: m.input,
        output: m.output,
        handler: handler.bind(impl),
      });
    }
    for (const key of Object.keys(impl)) {
      if (!known.has(key)) {
        throw new TypeError(
          `register service "${service.typeName}": no method "${key}"`,
        );
      }
    }
    this.#services.set(service.typeName, methods);
    return this;
  }

  /**
   * Listens on a unix socket. A stale socket file (nothing listening) is
   * removed first; the new socket is chmod 0600.
   *
   * The socket is bound under a temporary name beside `path` and then
   * hard-linked to `path`, which fails if another process created `path`
   * meanwhile: two servers racing for the same path never both believe they
   * own it. Closing removes `path` only while it still names this socket
   * (runtimes unlink a closed server's bind path by name, which would remove
   * a successor's socket), and removes it before the listening socket
   * closes, so a client sees "no such file" (which dialers retry) rather
   * than "connection refused".
   *
   * @param address `unix:///path`, `/path`, `unix://@name` or `\0name`
   * @throws {Error} with code EADDRINUSE when something listens there or the path is not a socket
   */
  async listen(address: string): Promise<void> {
    const { path, abstract } = parseAddress(address);
    if (abstract) {
      this.#addListener(await listenPath(path), undefined);
      return;
    }
    await removeStaleSocket(path);
    const temp = join(
      dirname(path),
      `.${basename(path).slice(0, 8)}.${Math.random().toString(36).slice(2, 8)}`,
    );
    if (new TextEncoder().encode(temp).length > SUN_PATH_MAX) {
      // No room for a temporary name: bind the path itself (the pre-link behaviour).
      const srv = await listenPath(path);
      const file = await this.#own(srv, path, path);
      this.#addListener(srv, file);
      return;
    }
    const srv = await listenPath(temp);
    try {
      const file = await this.#own(srv, temp, path);
      try {
        await link(temp, path);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "EEXIST") {
          throw errnoError(`listen "${path}": address already in use`, "EADDRINUSE");
        }
        // A filesystem without hard links for sockets: move it into place instead (not race-free,
        // but the file is still only removed while it is ours).
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw err;
        await rename(temp, path);
      }
      this.#addListener(srv, file);
    } catch (err) {
      srv.close();
      await unlink(temp).catch(() => {});
      throw err;
    } finally {
      // The name the runtime bound is only a handle now; `path` holds the socket.
      await unlink(temp).catch(() => {});
    }
  }

  /** chmods a freshly bound socket file and records its identity under `path`. */
  async #own(srv: net.Server, bound: string, path: string): Promise<SocketFile> {
    try {
      await chmod(bound, 0o600);
      const st = await lstat(bound);
      return { path, dev: st.dev, ino: st.ino };
    } catch (err) {
      srv.close();
      throw err;
    }
  }

  /**
   * Whether every socket file this server listens on still names its own
   * socket: false once another process replaced or removed it (then clients
   * reach the other process, or nobody). Abstract and inherited sockets
   * always count as intact.
   *
   * @returns true when all socket files are in place
   */
  async socketsIntact(): Promise<boolean> {
    for (const l of this.#listeners) {
      if (l.file && !(await isSameFile(l.file))) return false;
    }
    return true;
  }

  /**
   * Serves an inherited listening socket, e.g. fd 3 passed by a parent.
   *
   * @param fd the listening file descriptor
   */
  async listenFd(fd: number): Promise<void> {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen({ fd }, () => {
        srv.off("error", reject);
        resolve();
      });
    });
    this.#addListener(srv, undefined);
  }

  /**
   * Serves the connections of an existing, listening `node:net` server.
   *
   * @param listener the listening server; {@link Server.shutdown} closes it
   */
  serveListener(listener: net.Server): void {
    this.#addListener(listener, undefined);
  }

  /**
   * Serves one already-accepted socket.
   *
   * @param socket a connected socket
   */
  serveSocket(socket: net.Socket): void {
    this.serveConn(socketConn(socket));
  }

  /**
   * Serves one connection.
   *
   * @param conn the connection; the server owns it from now on
   */
  serveConn(conn: Conn): void {
    if (this.#closing) {
      conn.destroy();
      return;
    }
    const sc = new ServerConnection(
      conn,
      this.#max,
      this.#lookup,
      this.#removeConnection,
    );
    this.#conns.add(sc);
    sc.start();
  }

  /**
   * Stops accepting, lets in-flight calls finish (bounded by `timeoutMs`),
   * closes every connection and removes the socket files.
   *
   * @param options the bound on waiting for in-flight calls
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.#closing = true;
    await this.#closeListeners();
    for (const c of this.#conns) c.closeWhenIdle();
    if (!(await this.#waitDrained(options.timeoutMs ?? 10_000))) {
      for (const c of this.#conns) c.abort();
      await this.#waitDrained(1000);
    }
  }

  /** Closes listeners and every connection at once; in-flight calls are dropped. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#closeListeners();
    for (const c of this.#conns) c.abort();
    await this.#waitDrained(1000);
  }

  readonly #lookup = (
    service: string,
    method: string,
  ): MethodEntry | TtrpcError => {
    const methods = this.#services.get(service);
    if (methods === undefined) {
      return new TtrpcError(Code.Unimplemented, `service ${service}`);
    }
    return methods.get(method) ??
      new TtrpcError(Code.Unimplemented, `method ${method}`);
  };

  readonly #removeConnection = (sc: ServerConnection): void => {
    this.#conns.delete(sc);
    if (this.#conns.size === 0) {
      for (const w of this.#drained.splice(0)) {
        w();
      }
    }
  };

  #addListener(srv: net.Server, file: SocketFile | undefined): void {
    if (this.#closing) {
      srv.close();
      return;
    }
    srv.on("connection", (socket: net.Socket) => this.serveSocket(socket));
    this.#listeners.push({ server: srv, file });
  }

  async #closeListeners(): Promise<void> {
    const listeners = this.#listeners.splice(0);
    // Unlink first (only while the file is still ours), then close: a client dialing meanwhile
    // gets ENOENT, which dialers retry, instead of ECONNREFUSED.
    await Promise.all(listeners.map(async (l) => {
      if (l.file === undefined || !(await isSameFile(l.file))) return;
      try {
        await unlink(l.file.path);
      } catch (err) {
        if ((err as { code?: string }).code !== "ENOENT") throw err;
      }
    }));
    for (const l of listeners) l.server.close();
  }

  #waitDrained(ms: number): Promise<boolean> {
    if (this.#conns.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(() => {
        const i = this.#drained.indexOf(done);
        if (i >= 0) this.#drained.splice(i, 1);
        resolve(this.#conns.size === 0);
      }, ms);
      this.#drained.push(done);
    });
  }
}

/** Whether `f.path` still names the socket inode `f` recorded. */
async function isSameFile(f: SocketFile): Promise<boolean> {
  try {
    const st = await lstat(f.path);
    return st.dev === f.dev && st.ino === f.ino;
  } catch {
    return false;
  }
}

/** Binds a `node:net` server to a unix socket path. */
async function listenPath(path: string): Promise<net.Server> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(path, () => {
      srv.off("error", reject);
      resolve();
    });
  });
  return srv;
}

/**
 * Removes a socket file nothing listens on. It is removed only if it is still the same file after the
 * probe, so a process that just replaced it is not undone.
 *
 * @throws {Error} EADDRINUSE when something listens, the file changed meanwhile, or it is not a socket
 */
async function removeStaleSocket(path: string): Promise<void> {
  let before: SocketFile;
  try {
    const st = await lstat(path);
    if (!st.isSocket()) {
      throw errnoError(`listen "${path}": exists and is not a socket`, "EADDRINUSE");
    }
    before = { path, dev: st.dev, ino: st.ino };
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return;
    throw err;
  }
  let live: net.Socket;
  try {
    live = await dialSocket(path, { timeoutMs: 1000 });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return;
    if (code !== "ECONNREFUSED") {
      // ECONNRESET and the like: a listener is closing or starting there; not ours to remove.
      throw errnoError(`listen "${path}": address in use (${code ?? (err as Error).message})`, "EADDRINUSE");
    }
    if (!(await isSameFile(before))) {
      throw errnoError(`listen "${path}": replaced while probing`, "EADDRINUSE");
    }
    try {
      await unlink(path);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") throw e;
    }
    return;
  }
  live.destroy();
  throw errnoError(`listen "${path}": address already in use`, "EADDRINUSE");
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** One accepted connection. */
class ServerConnection {
  readonly #lookup: (
    service: string,
    method: string,
  ) => MethodEntry | TtrpcError;
  readonly #onClosed: (sc: ServerConnection) => void;
  readonly #conn: Conn;
  readonly #decoder: FrameDecoder;
  readonly #max: number;
  readonly #calls = new Map<number, CallContext>();
  #lastId = 0;
  #closed = false;
  #closeWhenIdle = false;

  constructor(
    conn: Conn,
    max: number,
    lookup: (service: string, method: string) => MethodEntry | TtrpcError,
    onClosed: (sc: ServerConnection) => void,
  ) {
    this.#lookup = lookup;
    this.#onClosed = onClosed;
    this.#conn = conn;
    this.#max = max;
    this.#decoder = new FrameDecoder({ maxMessageLength: max });
  }

  start(): void {
    this.#conn.start({
      data: (chunk) => this.#onData(chunk),
      close: () => this.#onClose(),
    });
  }

  /** Closes now if no call is in flight, else as soon as the last one finishes. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    if (this.#calls.size === 0) this.#conn.close();
  }

  /** Cuts the connection at once. */
  abort(): void {
    this.#conn.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Writes a frame unless the connection is gone. */
  write(frame: Uint8Array): void {
    if (!this.#closed) this.#conn.write(frame);
  }

  /** Encodes a message for a response, enforcing the size limit. */
  encode(output: DescMessage, value: unknown): Uint8Array {
    const msg = value !== undefined && value !== null && isMessage(value, output) ? value : create(
      output,
      (value ?? undefined) as MessageInitShape<DescMessage> | undefined,
    );
    const bytes = encodeMessage(output, msg);
    if (bytes.length > this.#max) {
      throw new TtrpcError(
        Code.ResourceExhausted,
        oversizedMessage(bytes.length, this.#max),
      );
    }
    return bytes;
  }

  /** Forgets a finished call. */
  finished(ctx: CallContext): void {
    if (this.#calls.get(ctx.streamId) === ctx) this.#calls.delete(ctx.streamId);
    if (this.#closeWhenIdle && this.#calls.size === 0) this.#conn.close();
  }

  #status(streamId: number, code: number, message: string): void {
    this.write(
      writeResponseFrame(streamId, { code, message, details: [] }, EMPTY),
    );
  }

  #onData(chunk: Uint8Array): void {
    const frames = this.#decoder.push(chunk);
    for (let i = 0; i < frames.length && !this.#closed; i++) {
      this.#onFrame(frames[i]);
    }
  }

  #onFrame(f: Frame): void {
    const id = f.streamId;
    if (f.oversized) {
      this.#status(
        id,
        Code.ResourceExhausted,
        oversizedMessage(f.length, this.#max),
      );
      return;
    }
    if ((id & 1) !== 1) {
      this.#status(
        id,
        Code.InvalidArgument,
        "StreamID must be odd for client initiated streams",
      );
      return;
    }
    if (f.type === MessageType.Request) {
      if (id <= this.#lastId) {
        this.#status(
          id,
          Code.InvalidArgument,
          "StreamID cannot be re-used and must increment",
        );
        return;
      }
      this.#lastId = id;
      this.#onRequest(id, f.flags, f.data);
    } else if (f.type === MessageType.Data) {
      const ctx = this.#calls.get(id);
      if (ctx === undefined) {
        this.#status(id, Code.InvalidArgument, "StreamID is no longer active");
        return;
      }
      ctx.data(f);
    }
    // Other frame types are ignored for forward compatibility, as ttrpc does.
  }

  #onRequest(id: number, _flags: number, data: Uint8Array): void {
    let req: RequestEnvelope;
    try {
      req = decodeRequest(data);
    } catch (err) {
      this.#status(
        id,
        Code.InvalidArgument,
        `unmarshal request error: ${(err as Error).message}`,
      );
      return;
    }
    const entry = this.#lookup(req.service, req.method);
    if (entry instanceof TtrpcError) {
      this.#status(id, entry.code, entry.message);
      return;
    }
    const ctx = new CallContext(this, id, req, entry);
    this.#calls.set(id, ctx);
    ctx.run(req);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const ctx of calls) ctx.connectionLost();
    this.#onClosed(this);
  }
}

/** The state of one call on the server; it is also the handler's {@link ServerContext}. */
class CallContext implements ServerContext {
  readonly service: string;
  readonly method: string;
  readonly streamId: number;
  readonly metadata: Metadata;
  readonly deadline: number | undefined;
  readonly #sc: ServerConnection;
  readonly #entry: MethodEntry;
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #requests: MessageQueue<unknown> | undefined;
  #done = false;

  constructor(
    sc: ServerConnection,
    streamId: number,
    req: RequestEnvelope,
    entry: MethodEntry,
  ) {
    this.#sc = sc;
    this.#entry = entry;
    this.streamId = streamId;
    this.service = req.service;
    this.method = req.method;
    this.metadata = req.metadata;
    this.deadline = req.timeoutNano !== 0 ? Date.now() + req.timeoutNano / 1e6 : undefined;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const c = this.#controller = new AbortController();
      if (this.#sc.closed) {
        c.abort(new TtrpcError(Code.Unavailable, "ttrpc: closed"));
      } else if (!this.#done && this.deadline !== undefined) {
        const ms = Math.max(0, this.deadline - Date.now());
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          c.abort(
            new TtrpcError(Code.DeadlineExceeded, "context deadline exceeded"),
          );
        }, ms);
      }
    }
    return this.#controller.signal;
  }

  abortConnection(): void {
    this.#sc.abort();
  }

  run(req: RequestEnvelope): void {
    const e = this.#entry;
    let result: unknown;
    try {
      switch (e.kind) {
        case "unary":
          result = e.handler(this.#decodeInput(req.payload), this);
          if (isThenable(result)) {
            result.then((v) => this.#reply(v), (err) => this.#fail(err));
          } else this.#reply(result);
          return;
        case "server_streaming":
          this.#pipe(e.handler(this.#decodeInput(req.payload), this));
          return;
        case "client_streaming":
        case "bidi_streaming": {
          const q = this.#requests = new MessageQueue<unknown>();
          if (req.hasPayload) q.push(this.#decodeInput(req.payload));
          const requests: AsyncIterable<unknown> = {
            [Symbol.asyncIterator]: () => ({ next: () => q.next() }),
          };
          result = e.handler(requests, this);
          if (e.kind === "bidi_streaming") this.#pipe(result);
          else if (isThenable(result)) {
            result.then((v) => this.#reply(v), (err) => this.#fail(err));
          } else this.#reply(result);
          return;
        }
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Handles a client Data frame on this stream. */
  data(f: Frame): void {
    const q = this.#requests;
    if (q === undefined || this.#done) return;
    const close = (f.flags & Flags.RemoteClosed) !== 0;
    if (close && (f.flags & Flags.NoData) === 0 && f.data.length > 0) {
      q.end();
      this.#fail(
        new TtrpcError(
          Code.InvalidArgument,
          "data close message cannot include data",
        ),
      );
      return;
    }
    if ((f.flags & Flags.NoData) === 0) {
      if (q.closed) {
        this.#fail(
          new TtrpcError(
            Code.InvalidArgument,
            "data handling error: stream closed",
          ),
        );
        return;
      }
      try {
        q.push(this.#decodeInput(f.data));
      } catch (err) {
        q.fail(err);
      }
    }
    if (close) q.end();
  }

  /** The connection went away: abort the signal and drop any later output. */
  connectionLost(): void {
    if (this.#done) return;
    this.#done = true;
    this.#requests?.fail(new TtrpcError(Code.Unavailable, "ttrpc: closed"));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#controller?.abort(new TtrpcError(Code.Unavailable, "ttrpc: closed"));
  }

  #decodeInput(payload: Uint8Array): unknown {
    try {
      return decodeMessage(this.#entry.input, payload);
    } catch (err) {
      throw new TtrpcError(
        Code.Internal,
        `ttrpc: error unmarshalling payload: ${(err as Error).message}`,
      );
    }
  }

  #reply(value: unknown): void {
    if (this.#done) return;
    let payload: Uint8Array;
    try {
      payload = this.#sc.encode(this.#entry.output, value);
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#end(writeResponseFrame(this.streamId, undefined, payload));
  }

  #fail(err: unknown): void {
    if (this.#done) return;
    const e = TtrpcError.from(err);
    const status = {
      code: e.code === Code.OK ? Code.Unknown : e.code,
      message: e.message,
      details: e.details,
    };
    this.#end(writeResponseFrame(this.streamId, status, EMPTY));
  }

  async #pipe(output: unknown): Promise<void> {
    try {
      for await (const item of output as AsyncIterable<unknown>) {
        if (this.#done) return;
        const payload = this.#sc.encode(this.#entry.output, item);
        this.#sc.write(
          encodeFrame(this.streamId, MessageType.Data, 0, payload),
        );
      }
      if (this.#done) return;
      this.#end(
        encodeFrame(
          this.streamId,
          MessageType.Data,
          Flags.RemoteClosed | Flags.NoData,
        ),
      );
    } catch (err) {
      this.#fail(err);
    }
  }

  #end(frame: Uint8Array): void {
    this.#done = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#requests?.end();
    this.#sc.write(frame);
    this.#sc.finished(this);
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}
