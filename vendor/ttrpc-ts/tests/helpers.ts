/**
 * Test helpers: temp dirs, an Echo service implementation with fault hooks,
 * a server on a unix socket, and a raw frame-level peer. Every helper returns
 * what is needed to clean up behind it.
 *
 * @module
 */

import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type ClientOptions } from "../src/client.ts";
import { decodeResponse, type ResponseEnvelope } from "../src/envelope.ts";
import { type Frame, FrameDecoder } from "../src/frame.ts";
import { Server, type ServerContext, type ServerOptions, type ServiceImpl } from "../src/server.ts";
import { TtrpcError } from "../src/status.ts";
import { Echo } from "./gen/echo_pb.ts";

/** A temp dir removed by `cleanup`. */
export function tempDir(
  prefix = "ttrpc-test-",
): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Sleeps `ms`, rejecting early with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Polls `cond` every 5 ms until it holds or `ms` passes. */
export async function waitFor(
  cond: () => boolean,
  ms = 2000,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** What the Echo implementation saw, for assertions. */
export interface EchoLog {
  contexts: ServerContext[];
  aborted: unknown[];
}

/**
 * The Echo service used by the tests.
 *
 * - `echo` returns text, n, blob and the request metadata as sorted `key=v1,v2` strings;
 *   `delayMs` waits first (abortable through ctx.signal).
 * - `fail` throws according to `text`: "ttrpc" → TtrpcError(n), "grpc" → Error with grpcCode n,
 *   "plain" → Error, "string" → a string, "abort" → closes the connection mid-call.
 * - `sum` adds up `n` over the requests; a request with text "fail" throws FailedPrecondition.
 * - `count` yields n messages {n: i}; text "fail-mid" throws Aborted after two.
 * - `chat` answers each request with its text uppercased.
 */
export function echoImpl(
  log: EchoLog = { contexts: [], aborted: [] },
): ServiceImpl<typeof Echo> {
  return {
    async echo(req, ctx) {
      log.contexts.push(ctx);
      if (req.delayMs > 0) {
        try {
          await sleep(req.delayMs, ctx.signal);
        } catch (err) {
          log.aborted.push(err);
          throw err;
        }
      }
      const metadata = Object.keys(ctx.metadata).sort().map((k) => `${k}=${ctx.metadata[k].join(",")}`);
      return { text: req.text, n: req.n, blob: req.blob, metadata };
    },
    ping() {},
    async fail(req, ctx) {
      switch (req.text) {
        case "ttrpc":
          throw new TtrpcError(req.n, "custom failure");
        case "grpc":
          throw Object.assign(new Error("failure with grpc code"), {
            grpcCode: req.n,
          });
        case "plain":
          throw new Error("plain failure");
        case "string":
          throw "a string";
        case "abort":
          ctx.abortConnection();
          await sleep(10_000, ctx.signal).catch(() => {});
          return {};
      }
      return {};
    },
    async sum(requests) {
      let n = 0;
      let text = "";
      for await (const r of requests) {
        if (r.text === "fail") throw new TtrpcError(9, "sum refused");
        n += r.n;
        text += r.text;
      }
      return { n, text };
    },
    async *count(req, ctx) {
      for (let i = 0; i < req.n; i++) {
        if (req.text === "fail-mid" && i === 2) {
          throw new TtrpcError(10, "count aborted");
        }
        if (req.delayMs > 0) await sleep(req.delayMs, ctx.signal);
        yield { n: i, text: req.text };
      }
    },
    async *chat(requests) {
      for await (const r of requests) {
        yield { text: r.text.toUpperCase(), n: r.n };
      }
    },
  };
}

/** A server with the Echo service listening on a fresh socket, and a client factory. */
export interface EchoFixture {
  dir: string;
  path: string;
  server: Server;
  log: EchoLog;
  clients: Client[];
  dial(options?: ClientOptions): Promise<Client>;
  cleanup(): Promise<void>;
}

/** Starts an Echo server in a temp dir; `cleanup` closes clients and server and removes the dir. */
export async function startEcho(
  options: ServerOptions = {},
): Promise<EchoFixture> {
  const { dir, cleanup: rmDir } = tempDir();
  const path = join(dir, "echo.sock");
  const log: EchoLog = { contexts: [], aborted: [] };
  const server = new Server(options).register(Echo, echoImpl(log));
  await server.listen(path);
  const clients: Client[] = [];
  return {
    dir,
    path,
    server,
    log,
    clients,
    async dial(opts?: ClientOptions) {
      const c = await Client.dial(path, opts);
      clients.push(c);
      return c;
    },
    async cleanup() {
      for (const c of clients) c.close();
      await server.close();
      rmDir();
    },
  };
}

/** A raw frame-level peer for protocol tests. */
export interface RawPeer {
  socket: net.Socket;
  send(bytes: Uint8Array): void;
  /** Waits for the next frame. */
  next(ms?: number): Promise<Frame>;
  /** Decodes the next frame as a Response. */
  nextResponse(
    ms?: number,
  ): Promise<{ frame: Frame; response: ResponseEnvelope }>;
  /** Resolves when the peer has closed the connection. */
  closed: Promise<void>;
  close(): void;
}

/** Connects a raw peer to `path`. */
export async function rawPeer(path: string): Promise<RawPeer> {
  const socket = net.createConnection({ path });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  const waiters: Array<(f: Frame) => void> = [];
  socket.on("data", (chunk: Uint8Array) => {
    for (const f of decoder.push(chunk)) {
      const w = waiters.shift();
      if (w) w(f);
      else frames.push(f);
    }
  });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const next = (ms = 2000) =>
    new Promise<Frame>((resolve, reject) => {
      const f = frames.shift();
      if (f) return resolve(f);
      const t = setTimeout(
        () => reject(new Error("no frame within " + ms + "ms")),
        ms,
      );
      waiters.push((fr) => {
        clearTimeout(t);
        resolve(fr);
      });
    });
  return {
    socket,
    send: (b) => socket.write(b),
    next,
    async nextResponse(ms) {
      const frame = await next(ms);
      return { frame, response: decodeResponse(frame.data) };
    },
    closed,
    close: () => socket.destroy(),
  };
}
