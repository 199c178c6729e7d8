import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../errors.ts";
import { UsageError } from "../exit_codes.ts";
import { parseKeyValues, parseRuntimeOptions, parseSignalFlag, shellQuote } from "./_args.ts";

describe("parseKeyValues()", () => {
  const cases: Array<[string, string[] | undefined, Record<string, string>]> = [
    ["nothing", undefined, {}],
    ["pairs", ["a=1", "b=two"], { a: "1", b: "two" }],
    ["an empty value", ["a="], { a: "" }],
    ["a value holding =", ["a=b=c"], { a: "b=c" }],
    ["a repeated key (last wins)", ["a=1", "a=2"], { a: "2" }],
  ];
  for (const [name, input, want] of cases) {
    it(`parseKeyValues() reads ${name}`, () => assert.deepEqual(parseKeyValues("--label", input), want));
  }
  for (const bad of ["novalue", "=x", ""]) {
    it(`parseKeyValues() rejects "${bad}" as a usage error`, () => {
      assert.throws(() => parseKeyValues("--label", [bad]), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match((e as Error).message, /invalid --label/);
        return true;
      });
    });
  }
});

describe("parseRuntimeOptions()", () => {
  it("parseRuntimeOptions() returns undefined without options", () => {
    assert.equal(parseRuntimeOptions(undefined), undefined);
    assert.equal(parseRuntimeOptions([]), undefined);
  });
  it("parseRuntimeOptions() types booleans and integers, keeps the rest as strings", () => {
    assert.deepEqual(
      parseRuntimeOptions([
        "SystemdCgroup=true",
        "NoPivotRoot=false",
        "IoUid=1000",
        "BinaryName=crun",
        "Root=-1x",
      ]),
      { SystemdCgroup: true, NoPivotRoot: false, IoUid: 1000, BinaryName: "crun", Root: "-1x" },
    );
  });
});

describe("parseSignalFlag()", () => {
  it("parseSignalFlag() defaults to SIGTERM", () => assert.equal(parseSignalFlag(undefined), 15));
  it("parseSignalFlag() reads names and numbers", () => {
    assert.equal(parseSignalFlag("KILL"), 9);
    assert.equal(parseSignalFlag("2"), 2);
  });
  it("parseSignalFlag() rejects an unknown signal", () => {
    assert.throws(() => parseSignalFlag("SIGNOPE"), InvalidArgumentError);
  });
});

describe("shellQuote()", () => {
  const cases: Array<[string, string]> = [
    ["/usr/bin/bun", "/usr/bin/bun"],
    ["a b", "'a b'"],
    ["it's", `'it'\\''s'`],
    ["$HOME", "'$HOME'"],
    ["", "''"],
  ];
  for (const [input, want] of cases) {
    it(`shellQuote() quotes ${JSON.stringify(input)}`, () => assert.equal(shellQuote(input), want));
  }
});
