import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { dial, DialError, parseAddress, socketConn } from "./conn.ts";

describe("parseAddress()", () => {
  const ok: Array<[string, string, boolean]> = [
    ["unix:///run/containerd/s/abc", "/run/containerd/s/abc", false],
    ["/tmp/x.sock", "/tmp/x.sock", false],
    ["relative.sock", "relative.sock", false],
    [
      "unix://@containerd-shim/ns/id/shim.sock",
      "\0containerd-shim/ns/id/shim.sock",
      true,
    ],
    ["\0legacy/abstract", "\0legacy/abstract", true],
  ];
  for (const [input, path, abstract] of ok) {
    it(`parseAddress() accepts ${JSON.stringify(input)}`, () => {
      assert.deepEqual(parseAddress(input), { path, abstract });
    });
  }
  const bad = [
    "",
    "unix://",
    "unix://@",
    "tcp://127.0.0.1:80",
    "vsock://3:1024",
  ];
  for (const input of bad) {
    it(`parseAddress() rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseAddress(input), TypeError);
    });
  }
});

describe("dial()", () => {
  const dir = mkdtempSync(join(tmpdir(), "ttrpc-conn-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("dial() fails fast with ENOENT for a missing socket", async () => {
    const t0 = Date.now();
    await assert.rejects(dial(join(dir, "missing.sock")), (err: unknown) => {
      assert.ok(err instanceof DialError);
      assert.equal(err.code, "ENOENT");
      assert.match(err.message, /^dial ".*missing\.sock": /);
      return true;
    });
    assert.ok(Date.now() - t0 < 1000);
  });

  it("dial() fails with ECONNREFUSED when nothing listens", async () => {
    const path = join(dir, "not-a-listener");
    writeFileSync(path, "");
    await assert.rejects(dial(path), {
      name: "DialError",
      code: "ECONNREFUSED",
    });
  });

  it("dial() honours an aborted signal", async () => {
    const c = new AbortController();
    c.abort();
    await assert.rejects(dial(join(dir, "x.sock"), { signal: c.signal }), {
      code: "ABORT_ERR",
    });
  });

  it("dial() connects and socketConn() carries bytes both ways", async () => {
    const path = join(dir, "echo.sock");
    const srv = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      const conn = await dial(`unix://${path}`);
      const got: number[] = [];
      const closed = new Promise<Error | undefined>((resolve) => {
        conn.start({
          data: (chunk) => {
            got.push(...chunk);
            if (got.length === 6) conn.close();
          },
          close: resolve,
        });
      });
      conn.write(new Uint8Array([1, 2, 3]));
      conn.write(new Uint8Array([4, 5, 6]));
      assert.equal(await closed, undefined);
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it("socketConn() reports close once for a socket destroyed before start()", async () => {
    const path = join(dir, "d.sock");
    const srv = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      const sock = net.createConnection({ path });
      await new Promise((r) => sock.once("connect", r));
      const conn = socketConn(sock);
      conn.destroy();
      let closes = 0;
      await new Promise<void>((resolve) => {
        conn.start({ data: () => {}, close: () => (closes++, resolve()) });
      });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(closes, 1);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
