import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  Client,
  type ClientOptions,
  Code,
  type Conn,
  createClient,
  Server,
  TtrpcError,
} from "../../vendor/ttrpc-ts/mod.ts";
import { Echo } from "../../vendor/ttrpc-ts/tests/gen/echo_pb.ts";
import { echoImpl } from "../../vendor/ttrpc-ts/tests/helpers.ts";
import { dialConn } from "./ttrpc_conn.ts";

/** Open file descriptors of this process. */
function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

describe("dialConn()", () => {
  const dir = mkdtempSync(join(tmpdir(), "shimkit-ttrpc-conn-"));
  const path = join(dir, "echo.sock");
  const abstractName = `shimkit-ttrpc-conn-test-${process.pid}`;
  const server = new Server().register(Echo, echoImpl());
  const abstractServer = new Server().register(Echo, echoImpl());
  const bigPath = join(dir, "big.sock");
  const bigServer = new Server().register(Echo, { echo: (req) => ({ blob: new Uint8Array(req.n) }) });
  const clients: Client[] = [];

  async function connect(address = path, options: ClientOptions = {}) {
    const client = new Client(await dialConn(address), options);
    clients.push(client);
    return { client, echo: createClient(Echo, client) };
  }

  before(async () => {
    await server.listen(path);
    await abstractServer.listen(`unix://@${abstractName}`);
    await bigServer.listen(bigPath);
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await abstractServer.close();
    await bigServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const forms: Array<[string, () => string]> = [
    ["a plain path", () => path],
    ["a unix:// path", () => `unix://${path}`],
    ["a unix://@ abstract name", () => `unix://@${abstractName}`],
    ["a \\0 abstract name", () => `\0${abstractName}`],
  ];
  for (const [name, address] of forms) {
    it(`dialConn() connects to ${name} and carries unary calls`, async () => {
      const { client, echo } = await connect(address());
      const res = await echo.echo({ text: "hi", n: 7, blob: new Uint8Array([1, 2, 3]) });
      assert.equal(res.text, "hi");
      assert.equal(res.n, 7);
      assert.deepEqual([...res.blob], [1, 2, 3]);
      await echo.ping({});
      client.close();
    });
  }

  it("dialConn() sends default and per-call metadata", async () => {
    const { echo } = await connect(path, { metadata: { "containerd-namespace-ttrpc": "ns1" } });
    const res = await echo.echo({ text: "md" }, { metadata: { extra: ["a", "b"] } });
    assert.deepEqual(res.metadata, ["containerd-namespace-ttrpc=ns1", "extra=a,b"]);
  });

  it("dialConn() carries 1000 concurrent calls on one connection", async () => {
    const { echo } = await connect();
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => echo.echo({ text: `m${i}`, n: i, delayMs: i % 3 })),
    );
    replies.forEach((r, i) => {
      assert.equal(r.text, `m${i}`);
      assert.equal(r.n, i);
    });
  });

  it("dialConn() round-trips a 3 MiB message split over many reads and writes", async () => {
    const { echo } = await connect();
    const blob = new Uint8Array(3 << 20);
    for (let i = 0; i < blob.length; i++) blob[i] = i % 251;
    const [a, b] = await Promise.all([echo.echo({ blob }), echo.echo({ text: "small" })]);
    assert.equal(a.blob.length, blob.length);
    assert.ok(a.blob.every((v, i) => v === i % 251));
    assert.equal(b.text, "small");
  });

  it("dialConn() carries a server-streaming call", async () => {
    const { echo } = await connect();
    const got: number[] = [];
    for await (const m of echo.count({ n: 5, text: "s" })) got.push(m.n);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
  });

  it("dialConn() rejects an oversized reply with ResourceExhausted (8) and keeps the connection", async () => {
    const { client, echo } = await connect(bigPath, { maxMessageLength: 1024 });
    await assert.rejects(echo.echo({ n: 4096 }), (err: unknown) => {
      assert.ok(err instanceof TtrpcError);
      assert.equal(err.code, Code.ResourceExhausted);
      return true;
    });
    const res = await echo.echo({ n: 16 });
    assert.equal(res.blob.length, 16);
    assert.equal(client.closed, false);
  });

  it("dialConn() rejects every pending call with Unavailable (14) and fires onClose once when the server drops the connection", async () => {
    let closes = 0;
    const { client, echo } = await connect(path, { onClose: () => closes++ });
    const pending = echo.echo({ text: "slow", delayMs: 5000 });
    const aborting = echo.fail({ text: "abort" });
    for (const p of [pending, aborting]) {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof TtrpcError);
        assert.equal(err.code, Code.Unavailable);
        return true;
      });
    }
    assert.ok(await waitFor(() => client.closed));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closes, 1);
    await assert.rejects(echo.ping({}), { code: Code.Unavailable });
  });

  const dialFailures: Array<[string, () => string, string]> = [
    ["a missing socket", () => join(dir, "missing.sock"), "ENOENT"],
    ["a missing abstract name", () => `unix://@${abstractName}-missing`, "ECONNREFUSED"],
    ["a file nobody listens on", () => {
      const p = join(dir, "not-a-listener");
      writeFileSync(p, "");
      return p;
    }, "ECONNREFUSED"],
  ];
  for (const [name, address, code] of dialFailures) {
    it(`dialConn() fails fast with ${code} for ${name}`, async () => {
      const t0 = Date.now();
      await assert.rejects(dialConn(address(), { timeoutMs: 5000 }), (err: unknown) => {
        assert.equal((err as Error).name, "DialError");
        assert.equal((err as { code?: string }).code, code);
        assert.match((err as Error).message, /^dial ".*": /);
        return true;
      });
      assert.ok(Date.now() - t0 < 1000, "no retry or wait before failing");
    });
  }

  it("dialConn() fails with ABORT_ERR for an aborted signal", async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(dialConn(path, { signal: c.signal }), { name: "DialError", code: "ABORT_ERR" });
  });

  it("dialConn() rejects a malformed address with TypeError", async () => {
    await assert.rejects(dialConn("tcp://127.0.0.1:1"), TypeError);
  });

  it("dialConn() close() sends what was written before it, then ends with no error", async () => {
    const echoPath = join(dir, "raw-echo.sock");
    const raw = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => raw.listen(echoPath, r));
    try {
      const conn: Conn = await dialConn(echoPath);
      const got: number[] = [];
      const closed = new Promise<Error | undefined>((resolve) => {
        conn.start({ data: (chunk) => got.push(...chunk), close: resolve });
      });
      conn.write(new Uint8Array([1, 2, 3]));
      conn.write(new Uint8Array([4, 5, 6]));
      conn.close();
      conn.write(new Uint8Array([7]));
      assert.equal(await closed, undefined);
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
    } finally {
      await new Promise((r) => raw.close(r));
    }
  });

  /** Runs `body` against a server that sends `greeting` to each client and ends the stream. */
  async function withGreeter(greeting: number[], body: (address: string) => Promise<void>): Promise<void> {
    const greetPath = join(dir, "greet.sock");
    const greeter = net.createServer((s) => s.end(new Uint8Array(greeting)));
    await new Promise<void>((r) => greeter.listen(greetPath, r));
    try {
      await body(greetPath);
    } finally {
      await new Promise((r) => greeter.close(r));
    }
  }

  it("dialConn() delivers what the peer sent before start(), in order, and then the peer's end", async () => {
    await withGreeter([9, 8, 7], async (address) => {
      const conn: Conn = await dialConn(address);
      // Let the greeting (and the peer's end) arrive before anyone listens.
      await new Promise((r) => setTimeout(r, 50));
      const got: number[] = [];
      const closed = new Promise<Error | undefined>((resolve) => {
        conn.start({ data: (chunk) => got.push(...chunk), close: resolve });
      });
      assert.equal(await closed, undefined);
      assert.deepEqual(got, [9, 8, 7]);
    });
  });

  it("dialConn() hands the handler plain Uint8Array chunks on Deno and Bun (node's Buffer elsewhere)", async () => {
    await withGreeter([1, 2, 3], async (address) => {
      const conn: Conn = await dialConn(address);
      const prototypes: unknown[] = [];
      await new Promise<Error | undefined>((resolve) => {
        conn.start({ data: (chunk) => prototypes.push(Object.getPrototypeOf(chunk)), close: resolve });
      });
      assert.ok(prototypes.length > 0);
      const native = "Deno" in globalThis || "Bun" in globalThis;
      for (const p of prototypes) assert.equal(p === Uint8Array.prototype, native);
    });
  });

  it("dialConn() destroy() before start() reports close once with the reason", async () => {
    const conn = await dialConn(path);
    const reason = new Error("gone");
    conn.destroy(reason);
    conn.destroy();
    let closes = 0;
    const err = await new Promise<Error | undefined>((resolve) => {
      conn.start({ data: () => {}, close: (e) => (closes++, resolve(e)) });
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(err, reason);
    assert.equal(closes, 1);
  });

  it("dialConn() leaks no file descriptor over 1000 dial/close and dial/destroy cycles", async () => {
    const leakPath = join(dir, "leak.sock");
    const leakServer = new Server().register(Echo, echoImpl());
    await leakServer.listen(leakPath);
    try {
      // One cycle first, so fds the runtime opens lazily are in the baseline.
      (await dialConn(leakPath)).destroy();
      assert.ok(await waitFor(() => leakServer.connectionCount === 0));
      const baseline = fdCount();
      for (let i = 0; i < 1000; i++) {
        const conn = await dialConn(leakPath);
        const closed = new Promise<void>((resolve) => conn.start({ data: () => {}, close: () => resolve() }));
        if (i % 2 === 0) conn.close();
        else conn.destroy();
        await closed;
      }
      assert.ok(await waitFor(() => leakServer.connectionCount === 0), "the server saw every connection end");
      assert.ok(await waitFor(() => fdCount() <= baseline), `fds back to ${baseline}, have ${fdCount()}`);
    } finally {
      await leakServer.close();
    }
  });
});
