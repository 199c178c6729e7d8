import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isInvalidArgument, isNotImplemented } from "../errors.ts";
import { parseSandboxAddress, parseShimLogLine } from "./manager.ts";

describe("parseSandboxAddress()", () => {
  it("splits ttrpc+unix into protocol and a unix address", () => {
    assert.deepEqual(parseSandboxAddress("ttrpc+unix:///run/sb.sock"), {
      protocol: "ttrpc",
      address: "unix:///run/sb.sock",
    });
  });
  const bad: [string, string, (e: unknown) => boolean][] = [
    ["a plain unix address", "unix:///run/sb.sock", isInvalidArgument],
    ["a bare path", "/run/sb.sock", isInvalidArgument],
    ["a plus after the scheme", "unix:///a+b", isInvalidArgument],
    ["an unknown protocol", "http+unix:///x", isInvalidArgument],
    ["a non-unix transport", "ttrpc+vsock://3:1024", isInvalidArgument],
    ["grpc", "grpc+unix:///x", isNotImplemented],
  ];
  for (const [name, addr, kind] of bad) {
    it(`parseSandboxAddress() rejects ${name}`, () => {
      assert.throws(
        () => parseSandboxAddress(addr),
        (e: Error) => kind(e) && e.message.includes(JSON.stringify(addr)),
      );
    });
  }
});

describe("parseShimLogLine()", () => {
  const cases: [string, string, ReturnType<typeof parseShimLogLine>][] = [
    [
      "an info line becomes debug, keeping its fields",
      'time="2026-01-01T00:00:00Z" level=info msg="starting signal loop" namespace=ns path=/b pid=42',
      { level: "debug", msg: "starting signal loop", fields: { namespace: "ns", path: "/b", pid: "42" } },
    ],
    [
      "a warning stays a warning",
      'time="t" level=warning msg="failed to read init pid file" error="open init.pid: no such file"',
      {
        level: "warn",
        msg: "failed to read init pid file",
        fields: { error: "open init.pid: no such file" },
      },
    ],
    ["fatal is an error", "level=fatal msg=boom", { level: "error", msg: "boom", fields: {} }],
    [
      "escaped quotes are unescaped",
      'level=error msg="bad \\"x\\"" a=b',
      { level: "error", msg: 'bad "x"', fields: { a: "b" } },
    ],
    ["a line that is not logfmt is kept whole", "panic: runtime error", {
      level: "debug",
      msg: "panic: runtime error",
      fields: {},
    }],
  ];
  for (const [name, line, want] of cases) {
    it(`parseShimLogLine() ${name}`, () => assert.deepEqual(parseShimLogLine(line), want));
  }
  it("parseShimLogLine() takes linear time on a 64 KiB line without a key (no backtracking per offset)", () => {
    const t0 = performance.now();
    for (const line of ["a".repeat(65536), "k" + "=".repeat(65536), 'msg="' + "a".repeat(65536)]) {
      parseShimLogLine(line);
    }
    // The quadratic pattern took about 5 s for the first line alone.
    assert.ok(performance.now() - t0 < 500, `took ${Math.round(performance.now() - t0)}ms`);
  });
  it("parseShimLogLine() finds keys only at the start of a token", () => {
    assert.deepEqual(parseShimLogLine("level=warn msg=m x=a=b"), {
      level: "warn",
      msg: "m",
      fields: { x: "a=b" },
    });
  });
});
