import { toBinary } from "@bufbuild/protobuf";
import assert from "node:assert/strict";
import { existsSync, lstatSync, statSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, type ClientOptions } from "../src/client.ts";
import { encodeRequest, encodeResponse } from "../src/envelope.ts";
import { encodeFrame, MESSAGE_HEADER_LENGTH, MessageType, writeHeader } from "../src/frame.ts";
import { Server } from "../src/server.ts";
import { createClient } from "../src/service_client.ts";
import { Code, TtrpcError } from "../src/status.ts";
import { Echo, EchoRequestSchema } from "./gen/echo_pb.ts";
import {
  type EchoFixture,
  echoImpl,
  type EchoLog,
  rawPeer,
  sleep,
  startEcho,
  tempDir,
  waitFor,
} from "./helpers.ts";

function isTtrpc(code: number, message?: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TtrpcError, `expected TtrpcError, got ${err}`);
    assert.equal(err.name, "TtrpcError");
    assert.equal(err.code, code, `code of "${err.message}"`);
    if (typeof message === "string") assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    return true;
  };
}

describe("unary calls", () => {
  let fx: EchoFixture;
  before(async () => {
    fx = await startEcho();
  });
  after(() => fx.cleanup());

  it("createClient() answers 1,000 concurrent calls on one connection correctly", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    const replies = await Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) => echo.echo({ text: `m${i}`, n: i, blob: new Uint8Array([i & 0xff]) }),
      ),
    );
    replies.forEach((r, i) => {
      assert.equal(r.text, `m${i}`);
      assert.equal(r.n, i);
      assert.deepEqual([...r.blob], [i & 0xff]);
    });
    assert.equal(client.pending, 0);
  });

  it("client uses odd, strictly increasing stream ids starting at 1", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    const start = fx.log.contexts.length;
    await echo.echo({});
    await Promise.all([echo.echo({}), echo.echo({}), echo.echo({})]);
    const ids = fx.log.contexts.slice(start).map((c) => c.streamId).sort((
      a,
      b,
    ) => a - b);
    assert.deepEqual(ids, [1, 3, 5, 7]);
  });

  it("createClient() accepts a ready message as well as an init object", async () => {
    const echo = createClient(Echo, await fx.dial());
    const msg = {
      $typeName: "ttrpctest.v1.EchoRequest",
      text: "ready",
      n: 1,
      blob: new Uint8Array(),
      delayMs: 0,
    } as const;
    assert.equal((await echo.echo(msg)).text, "ready");
    assert.equal((await echo.ping({})).$typeName, "ttrpctest.v1.Empty");
  });

  it("client.call() sends and returns serialized payloads", async () => {
    const client = await fx.dial();
    const payload = toBinary(EchoRequestSchema, {
      $typeName: "ttrpctest.v1.EchoRequest",
      text: "raw",
      n: 0,
      blob: new Uint8Array(),
      delayMs: 0,
    });
    const out = await client.call("ttrpctest.v1.Echo", "Echo", payload);
    assert.deepEqual([...out], [0x0a, 0x03, 0x72, 0x61, 0x77]);
  });

  it("metadata round-trips: client defaults, per-call overrides, repeated values, lowercased keys", async () => {
    const client = await fx.dial({
      metadata: { "Containerd-Namespace-TTRPC": "default", "x-keep": "k" },
    });
    const echo = createClient(Echo, client);
    const plain = await echo.echo({});
    assert.deepEqual(plain.metadata, [
      "containerd-namespace-ttrpc=default",
      "x-keep=k",
    ]);
    const over = await echo.echo({}, {
      metadata: {
        "containerd-namespace-ttrpc": "other",
        "X-Multi": ["a", "b"],
      },
    });
    assert.deepEqual(over.metadata, [
      "containerd-namespace-ttrpc=other",
      "x-keep=k",
      "x-multi=a,b",
    ]);
  });

  it("unknown service and method answer Unimplemented (12)", async () => {
    const client = await fx.dial();
    await assert.rejects(
      client.call("no.such.Service", "X", new Uint8Array()),
      isTtrpc(12, "service no.such.Service"),
    );
    await assert.rejects(
      client.call("ttrpctest.v1.Echo", "Nope", new Uint8Array()),
      isTtrpc(12, "method Nope"),
    );
  });

  it("an unparsable payload answers Internal (13)", async () => {
    const client = await fx.dial();
    await assert.rejects(
      client.call("ttrpctest.v1.Echo", "Echo", new Uint8Array([0xff, 0xff])),
      isTtrpc(13, /^ttrpc: error unmarshalling payload: /),
    );
  });

  const throwing: Array<[string, number, number, string]> = [
    ["a TtrpcError", 6, 6, "custom failure"],
    ["an Error with grpcCode", 5, 5, "failure with grpc code"],
    ["a plain Error", 0, 2, "plain failure"],
    ["a string", 0, 2, "a string"],
  ];
  for (const [name, n, code, message] of throwing) {
    it(`a handler throwing ${name} answers code ${code}`, async () => {
      const echo = createClient(Echo, await fx.dial());
      const text = {
        "a TtrpcError": "ttrpc",
        "an Error with grpcCode": "grpc",
        "a plain Error": "plain",
        "a string": "string",
      }[name]!;
      await assert.rejects(echo.fail({ text, n }), isTtrpc(code, message));
    });
  }

  it("a call past its timeout rejects with DeadlineExceeded (4); the server sees the deadline", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    const start = fx.log.contexts.length;
    const before = Date.now();
    await assert.rejects(
      echo.echo({ delayMs: 500 }, { timeoutMs: 50 }),
      isTtrpc(Code.DeadlineExceeded),
    );
    assert.ok(Date.now() - before < 400);
    const ctx = fx.log.contexts[start];
    const lag = (ctx.deadline ?? 0) - (before + 50);
    assert.ok(
      ctx.deadline !== undefined && lag > -5 && lag < 500,
      `deadline ${lag}ms after the expected one`,
    );
    await waitFor(() => fx.log.aborted.length > 0);
    assert.equal((fx.log.aborted[0] as TtrpcError).code, Code.DeadlineExceeded);
    assert.equal(client.pending, 0);
    assert.equal((await echo.echo({ text: "after" })).text, "after");
  });

  it("the client's default timeout applies and a per-call one overrides it", async () => {
    const echo = createClient(Echo, await fx.dial({ timeoutMs: 30 }));
    await assert.rejects(echo.echo({ delayMs: 300 }), isTtrpc(4));
    assert.equal((await echo.echo({ delayMs: 60 }, { timeoutMs: 2000 })).n, 0);
  });

  it("an aborted signal rejects with Canceled (1), before or during the call", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    const pre = new AbortController();
    pre.abort(new Error("stop"));
    await assert.rejects(
      echo.echo({}, { signal: pre.signal }),
      isTtrpc(Code.Canceled),
    );
    const during = new AbortController();
    const p = echo.echo({ delayMs: 300 }, { signal: during.signal });
    setTimeout(() => during.abort(), 20);
    await assert.rejects(p, isTtrpc(Code.Canceled));
    assert.equal(client.pending, 0);
  });

  it("client refuses a request above the message limit with ResourceExhausted (8)", async () => {
    const echo = createClient(Echo, await fx.dial({ maxMessageLength: 1024 }));
    await assert.rejects(
      echo.echo({ blob: new Uint8Array(2000) }),
      isTtrpc(8, /^message length \d+ exceed maximum message size of 1024$/),
    );
  });
});

describe("connection loss", () => {
  let fx: EchoFixture;
  before(async () => {
    fx = await startEcho();
  });
  after(() => fx.cleanup());

  it("server closing mid-call rejects every pending call with Unavailable (14) and fires onClose once", async () => {
    let closes = 0;
    const fromOption: unknown[] = [];
    const client = await fx.dial({ onClose: (err) => fromOption.push(err) });
    client.onClose(() => closes++);
    const echo = createClient(Echo, client);
    const slow = echo.echo({ delayMs: 5000 });
    await sleep(10);
    await assert.rejects(
      echo.fail({ text: "abort" }),
      isTtrpc(Code.Unavailable, "ttrpc: closed"),
    );
    await assert.rejects(slow, isTtrpc(Code.Unavailable));
    await sleep(20);
    assert.equal(closes, 1);
    assert.equal(fromOption.length, 1);
    assert.equal(client.closed, true);
    await assert.rejects(echo.echo({}), isTtrpc(Code.Unavailable));
    client.close();
    assert.equal(closes, 1);
    let late = 0;
    client.onClose(() => late++);
    await sleep(0);
    assert.equal(late, 1);
  });

  it("server handler signals abort when the connection goes away", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    const start = fx.log.aborted.length;
    const p = echo.echo({ delayMs: 5000 }).catch((e) => e);
    await waitFor(() => fx.log.contexts.some((c) => c.method === "Echo" && !c.signal.aborted));
    client.close();
    assert.equal((await p).code, Code.Unavailable);
    assert.ok(await waitFor(() => fx.log.aborted.length > start));
    assert.equal((fx.log.aborted[start] as TtrpcError).code, Code.Unavailable);
  });

  it("client.close() is idempotent, rejects pending calls and fires onClose exactly once", async () => {
    let closes = 0;
    const client = await fx.dial({ onClose: () => closes++ });
    const p = createClient(Echo, client).echo({ delayMs: 1000 });
    client.close();
    client.close();
    await assert.rejects(p, isTtrpc(Code.Unavailable));
    assert.equal(closes, 1);
  });

  it("connections are not leaked: the server's count returns to 0", async () => {
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => fx.dial()),
    );
    await Promise.all(clients.map((c) => createClient(Echo, c).ping({})));
    assert.ok(await waitFor(() => fx.server.connectionCount === 20));
    for (const c of clients) c.close();
    assert.ok(
      await waitFor(() => fx.server.connectionCount === 0),
      `count ${fx.server.connectionCount}`,
    );
  });
});

describe("protocol enforcement (raw frames)", () => {
  let fx: EchoFixture;
  before(async () => {
    fx = await startEcho();
  });
  after(() => fx.cleanup());

  function request(
    id: number,
    method = "Ping",
    type: number = MessageType.Request,
  ): Uint8Array {
    return encodeFrame(
      id,
      type,
      0,
      encodeRequest({ service: "ttrpctest.v1.Echo", method }),
    );
  }

  it("an unparsable request envelope answers InvalidArgument (3)", async () => {
    const peer = await rawPeer(fx.path);
    peer.send(
      encodeFrame(
        1,
        MessageType.Request,
        0,
        new Uint8Array([0x0a, 0x09, 0x61]),
      ),
    );
    const { frame, response } = await peer.nextResponse();
    assert.equal(frame.streamId, 1);
    assert.equal(response.status?.code, 3);
    assert.match(response.status!.message, /^unmarshal request error: /);
    peer.close();
  });

  it("even and reused stream ids answer InvalidArgument (3) and the connection survives", async () => {
    const peer = await rawPeer(fx.path);
    peer.send(request(2));
    let r = await peer.nextResponse();
    assert.equal(r.frame.streamId, 2);
    assert.deepEqual([r.response.status?.code, r.response.status?.message], [
      3,
      "StreamID must be odd for client initiated streams",
    ]);
    peer.send(request(5));
    r = await peer.nextResponse();
    assert.deepEqual([r.frame.streamId, r.frame.length, r.response.status], [
      5,
      0,
      undefined,
    ]);
    peer.send(request(3));
    r = await peer.nextResponse();
    assert.deepEqual([r.response.status?.code, r.response.status?.message], [
      3,
      "StreamID cannot be re-used and must increment",
    ]);
    peer.send(encodeFrame(9, MessageType.Data, 0, new Uint8Array()));
    r = await peer.nextResponse();
    assert.deepEqual([r.frame.streamId, r.response.status?.message], [
      9,
      "StreamID is no longer active",
    ]);
    peer.send(request(7));
    assert.equal((await peer.nextResponse()).response.status, undefined);
    peer.close();
  });

  it("an oversized frame answers ResourceExhausted (8) on its stream and the connection survives", async () => {
    const peer = await rawPeer(fx.path);
    const length = 4 * 1024 * 1024 + 1;
    const header = new Uint8Array(MESSAGE_HEADER_LENGTH);
    writeHeader(header, 0, length, 1, MessageType.Request, 0);
    peer.send(header);
    const body = new Uint8Array(256 * 1024);
    for (let left = length; left > 0; left -= body.length) {
      peer.send(body.subarray(0, Math.min(left, body.length)));
    }
    const { frame, response } = await peer.nextResponse(5000);
    assert.equal(frame.streamId, 1);
    assert.equal(response.status?.code, 8);
    assert.equal(
      response.status?.message,
      "message length 4194305 exceed maximum message size of 4194304",
    );
    peer.send(request(3));
    const ok = await peer.nextResponse(5000);
    assert.deepEqual([ok.frame.streamId, ok.response.status], [3, undefined]);
    peer.close();
  });

  it("a successful reply to an Empty method is a zero-length Response frame", async () => {
    const peer = await rawPeer(fx.path);
    peer.send(request(1));
    const f = await peer.next();
    assert.deepEqual([f.streamId, f.type, f.flags, f.length], [
      1,
      MessageType.Response,
      0,
      0,
    ]);
    peer.close();
  });

  it("client ignores replies for unknown streams and accepts an explicit OK status", async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, "fake.sock");
    const srv = net.createServer((s) => {
      s.on("data", () => {
        s.write(
          encodeFrame(
            99,
            MessageType.Response,
            0,
            encodeResponse(undefined, new Uint8Array([1])),
          ),
        );
        s.write(
          encodeFrame(
            1,
            MessageType.Response,
            0,
            encodeResponse(
              { code: 0, message: "", details: [] },
              new Uint8Array([0x08, 0x07]),
            ),
          ),
        );
      });
    });
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      const client = await Client.dial(path);
      const out = await client.call("a.B", "C", new Uint8Array());
      assert.deepEqual([...out], [0x08, 0x07]);
      client.close();
    } finally {
      await new Promise((r) => srv.close(r));
      cleanup();
    }
  });

  it("server answers ResourceExhausted (8) when its response exceeds the limit", async () => {
    const { dir, cleanup } = tempDir();
    const server = new Server({ maxMessageLength: 4096 }).register(
      Echo,
      echoImpl(),
    );
    await server.listen(join(dir, "s.sock"));
    try {
      const client = await Client.dial(join(dir, "s.sock"), {
        maxMessageLength: 1 << 20,
      });
      const echo = createClient(Echo, client);
      await assert.rejects(
        echo.echo({ text: "x".repeat(3000), blob: new Uint8Array(3000) }),
        isTtrpc(8),
      );
      assert.equal((await echo.echo({ text: "small" })).text, "small");
      client.close();
    } finally {
      await server.close();
      cleanup();
    }
  });
});

describe("server lifecycle", () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  let n = 0;
  const fresh = () => join(dir, `s${++n}.sock`);

  async function connect(path: string, opts?: ClientOptions) {
    const client = await Client.dial(path, opts);
    return { client, echo: createClient(Echo, client) };
  }

  it("listen() creates the socket with mode 0600", async () => {
    const path = fresh();
    const server = new Server().register(Echo, echoImpl());
    await server.listen(`unix://${path}`);
    try {
      assert.ok(statSync(path).isSocket());
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      await server.close();
    }
    assert.equal(existsSync(path), false);
  });

  it("listen() replaces a stale socket file but refuses a live one or a non-socket", async () => {
    const path = fresh();
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(path, r));
    // Closing a node:net server normally unlinks its socket; re-create a dead one by hand.
    await new Promise((r) => stale.close(r));
    if (!existsSync(path)) {
      const { spawnSync } = await import("node:child_process");
      spawnSync("python3", [
        "-c",
        `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`,
      ]);
    }
    assert.ok(lstatSync(path).isSocket(), "stale socket present");
    const a = new Server().register(Echo, echoImpl());
    await a.listen(path);
    const b = new Server().register(Echo, echoImpl());
    await assert.rejects(b.listen(path), { code: "EADDRINUSE" });
    const { client, echo } = await connect(path);
    await echo.ping({});
    client.close();
    await a.close();
    const file = fresh();
    writeFileSync(file, "not a socket");
    await assert.rejects(new Server().listen(file), { code: "EADDRINUSE" });
    assert.equal(lstatSync(file).isFile(), true);
  });

  it("servers racing to listen() on one path: exactly one owns it, the others get EADDRINUSE", async () => {
    for (let round = 0; round < 10; round++) {
      const path = fresh();
      const servers = Array.from({ length: 4 }, () => new Server().register(Echo, echoImpl()));
      const results = await Promise.allSettled(servers.map((s) => s.listen(path)));
      const won = results.filter((r) => r.status === "fulfilled").length;
      assert.equal(won, 1, `round ${round}: ${won} servers listen`);
      for (const r of results) {
        if (r.status === "rejected") assert.equal((r.reason as { code?: string }).code, "EADDRINUSE");
      }
      const { client, echo } = await connect(path);
      assert.equal((await echo.echo({ text: "one" })).text, "one");
      client.close();
      await Promise.all(servers.map((s) => s.close()));
      assert.equal(existsSync(path), false, "the owner removed its socket");
      // No temporary names are left beside it.
      const { readdirSync } = await import("node:fs");
      const { basename, dirname } = await import("node:path");
      assert.deepEqual(readdirSync(dirname(path)).filter((n) => n.includes(basename(path).slice(0, 8))), []);
    }
  });

  it("a server whose socket file was replaced reports it and leaves the successor's socket alone", async () => {
    const path = fresh();
    const a = new Server().register(Echo, echoImpl());
    await a.listen(path);
    assert.equal(await a.socketsIntact(), true);
    // Another process decides the file is stale and replaces it.
    const { renameSync, unlinkSync } = await import("node:fs");
    renameSync(path, `${path}.moved`);
    const b = new Server().register(Echo, echoImpl());
    await b.listen(path);
    try {
      assert.equal(await a.socketsIntact(), false);
      assert.equal(await b.socketsIntact(), true);
      await a.close();
      assert.ok(existsSync(path), "closing the replaced server keeps the successor's socket");
      const { client, echo } = await connect(path);
      assert.equal((await echo.echo({ text: "b" })).text, "b");
      client.close();
    } finally {
      await b.close();
      unlinkSync(`${path}.moved`);
    }
    assert.equal(existsSync(path), false);
  });

  it("close() removes the socket file before the listener stops: a dialer sees ENOENT, never ECONNREFUSED", async () => {
    const path = fresh();
    const server = new Server().register(Echo, echoImpl());
    await server.listen(path);
    const codes = new Set<string>();
    let dialing = true;
    const dialer = (async () => {
      while (dialing) {
        await new Promise<void>((resolve) => {
          const sock = net.connect(path);
          sock.once("connect", () => {
            sock.destroy();
            resolve();
          });
          sock.once("error", (e: NodeJS.ErrnoException) => {
            codes.add(e.code ?? "?");
            resolve();
          });
        });
        // Errors may settle without a macrotask turn; let timers run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    await new Promise((r) => setTimeout(r, 20));
    dialing = false;
    await dialer;
    assert.ok(codes.has("ENOENT"), `dial errors: ${[...codes].join(", ")}`);
    assert.equal(codes.has("ECONNREFUSED"), false, `dial errors: ${[...codes].join(", ")}`);
  });

  it("listen() and dial() work on an abstract socket", async () => {
    const name = `unix://@ttrpc-ts-test-${process.pid}-${Date.now()}`;
    const server = new Server().register(Echo, echoImpl());
    await server.listen(name);
    try {
      const { client, echo } = await connect(name);
      assert.equal((await echo.echo({ text: "abstract" })).text, "abstract");
      client.close();
    } finally {
      await server.close();
    }
  });

  it("shutdown() lets an in-flight call finish, then closes connections and removes the socket", async () => {
    const path = fresh();
    const log: EchoLog = { contexts: [], aborted: [] };
    const server = new Server().register(Echo, echoImpl(log));
    await server.listen(path);
    let closed = 0;
    const { client, echo } = await connect(path, { onClose: () => closed++ });
    const inflight = echo.echo({ text: "finishing", delayMs: 150 });
    assert.ok(await waitFor(() => log.contexts.length === 1), "call reached the server");
    const t0 = Date.now();
    await server.shutdown({ timeoutMs: 5000 });
    assert.ok(Date.now() - t0 >= 50, "shutdown waited for the call");
    assert.equal((await inflight).text, "finishing");
    assert.equal(existsSync(path), false);
    assert.equal(server.connectionCount, 0);
    assert.ok(await waitFor(() => closed === 1));
    await assert.rejects(Client.dial(path), { code: "ENOENT" });
    client.close();
  });

  it("shutdown() cuts calls that outlive its timeout", async () => {
    const path = fresh();
    const server = new Server().register(Echo, echoImpl());
    await server.listen(path);
    const { client, echo } = await connect(path);
    const slow = echo.echo({ delayMs: 5000 });
    await sleep(20);
    await server.shutdown({ timeoutMs: 50 });
    await assert.rejects(slow, isTtrpc(Code.Unavailable));
    assert.equal(server.connectionCount, 0);
    client.close();
  });

  it("serveSocket() serves an accepted socket and serveListener() an existing listener", async () => {
    const path = fresh();
    const server = new Server().register(Echo, echoImpl());
    const listener = net.createServer();
    await new Promise<void>((r) => listener.listen(path, r));
    server.serveListener(listener);
    const { client, echo } = await connect(path);
    assert.equal((await echo.echo({ text: "listener" })).text, "listener");
    client.close();
    await server.shutdown();
    assert.equal(listener.listening, false);

    const path2 = fresh();
    const server2 = new Server().register(Echo, echoImpl());
    const accept = net.createServer((s) => server2.serveSocket(s));
    await new Promise<void>((r) => accept.listen(path2, r));
    const c2 = await connect(path2);
    assert.equal((await c2.echo.echo({ text: "socket" })).text, "socket");
    c2.client.close();
    await server2.shutdown();
    await new Promise((r) => accept.close(r));
  });

  it("register() rejects duplicate services and unknown method names", () => {
    const server = new Server().register(Echo, {});
    assert.throws(() => server.register(Echo, {}), /already registered/);
    assert.throws(
      () =>
        new Server().register(
          Echo,
          { nope: () => ({}) } as unknown as Parameters<Server["register"]>[1],
        ),
      TypeError,
    );
  });

  it("an unimplemented method of a registered service answers Unimplemented (12)", async () => {
    const path = fresh();
    const server = new Server().register(Echo, { ping() {} });
    await server.listen(path);
    const { client, echo } = await connect(path);
    await echo.ping({});
    await assert.rejects(echo.echo({}), isTtrpc(12, "method Echo"));
    client.close();
    await server.close();
  });
});
