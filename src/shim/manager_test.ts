import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isInvalidArgument, isNotImplemented } from "../errors.ts";
import { parseSandboxAddress, parseShimLogLine, scanLogfmt, SHIM_LOG_PARSE_MAX } from "./manager.ts";

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
  it("parseShimLogLine() logs a line over SHIM_LOG_PARSE_MAX whole, at the level it names", () => {
    const line = "level=error msg=" + "x".repeat(SHIM_LOG_PARSE_MAX);
    assert.deepEqual(parseShimLogLine(line), { level: "error", msg: line, fields: {} });
  });
  it("parseShimLogLine() finds keys only at the start of a token", () => {
    assert.deepEqual(parseShimLogLine("level=warn msg=m x=a=b"), {
      level: "warn",
      msg: "m",
      fields: { x: "a=b" },
    });
  });
});

describe("scanLogfmt()", () => {
  const pairsOf = (line: string) => {
    const out: [string, string][] = [];
    scanLogfmt(line, (k, v) => out.push([k, v]));
    return out;
  };
  const cases: [string, string, [string, string][]][] = [
    ["reads quoted and bare values", 'a=1 b="x y" c=', [["a", "1"], ["b", "x y"], ["c", ""]]],
    ["unescapes \\n, \\t and any other escaped character", 'm="a\\nb\\t\\"q\\\\"', [["m", 'a\nb\t"q\\']]],
    ["skips tokens without =, and = at a token's start", "foo =x bar=1", [["bar", "1"]]],
    ["drops what follows a closing quote up to the next space", 'a="x"tail b=2', [["a", "x"], ["b", "2"]]],
    ["reads a quote never closed as a bare value", 'a="x b=2', [["a", '"x'], ["b", "2"]]],
    ["ends a quoted value at the next quote", 'a="x b="y c=3', [["a", "x b="], ["c", "3"]]],
    ["does not end a quoted value at an escaped quote", 'a="x\\" b=2" c=3', [["a", 'x" b=2'], ["c", "3"]]],
    ["splits on tabs and runs of spaces", "a=1\t  b=2", [["a", "1"], ["b", "2"]]],
  ];
  for (const [name, line, want] of cases) {
    it(`scanLogfmt() ${name}`, () => assert.deepEqual(pairsOf(line), want));
  }

  it("scanLogfmt() reads each character at most twice, so a 64 KiB line without = costs 4× a 16 KiB one", () => {
    // Shapes that made the old pattern retry from every offset, or re-scan per quote.
    const shapes: [string, (n: number) => string][] = [
      ["no =", (n) => "x".repeat(n)],
      ["no space", (n) => "k" + "=".repeat(n - 1)],
      ["an unclosed quote", (n) => 'msg="' + "a".repeat(n - 5)],
      ["many quotes", (n) => 'a="x '.repeat(n / 5)],
      ["escapes", (n) => 'm="' + "\\".repeat(n / 2)],
      ["short tokens", (n) => "a b=c ".repeat(n / 6)],
    ];
    for (const [shape, make] of shapes) {
      const steps = [16 * 1024, 64 * 1024].map((n) => {
        const line = make(n);
        const s = scanLogfmt(line, () => {});
        assert.ok(s <= 2 * line.length, `${shape}: ${s} steps for ${line.length} characters`);
        return s / line.length;
      });
      // Linear: the same steps per character at both sizes (quadratic would quadruple them).
      assert.ok(
        Math.abs(steps[1] - steps[0]) < 0.01,
        `${shape}: ${steps[0]} vs ${steps[1]} steps per character`,
      );
    }
    // A loose wall-clock guard besides: the old pattern took about 5 s for one 64 KiB line without =.
    const t0 = performance.now();
    scanLogfmt("x".repeat(64 * 1024), () => {});
    assert.ok(performance.now() - t0 < 250, `took ${Math.round(performance.now() - t0)}ms`);
  });
});
