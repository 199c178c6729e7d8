import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../errors.ts";
import { UsageError } from "../exit_codes.ts";
import {
  flagError,
  onlyPositional,
  parseFlags,
  parseKeyValues,
  parseRuntimeOptions,
  parseSignalFlag,
  shellQuote,
  splitAtPositionals,
} from "./_args.ts";

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

const FLAGS = {
  rm: { type: "boolean" },
  tty: { type: "boolean", short: "t" },
  interactive: { type: "boolean", short: "i" },
  runtime: { type: "string" },
  env: { type: "string", multiple: true, short: "e" },
  help: { type: "boolean", short: "h" },
} as const;

describe("parseFlags() / flagError()", () => {
  const cases: Array<[string, string[], boolean, RegExp]> = [
    [
      "an unknown long flag",
      ["--bogus"],
      true,
      /^run: unknown flag "--bogus"\nrun "shimkit run --help" for usage$/,
    ],
    ["an unknown short flag", ["-x"], true, /^run: unknown flag "-x"\n/],
    ["an unknown flag in a group", ["-tx"], true, /^run: unknown flag "-x"\n/],
    ["a value flag without a value", ["--runtime"], true, /^run: flag "--runtime" needs a value\n/],
    ["a short value flag without a value", ["-e"], true, /^run: flag "--env" needs a value\n/],
    [
      "a value flag followed by a flag",
      ["--runtime", "--rm"],
      true,
      /^run: flag "--runtime" needs a value \(write --runtime=VALUE/,
    ],
    ["a boolean flag given a value", ["--rm=yes"], true, /^run: flag "--rm" takes no value\n/],
    ["an argument where none is taken", ["c1"], false, /^run: unexpected argument "c1"\n/],
    [
      "a global flag after the command",
      ["--state", "/x"],
      true,
      /^run: unknown flag "--state": "--state" is a global flag; put it before the command \(shimkit --state VALUE run \.\.\.\)/,
    ],
    ["-n after the command", ["-n", "ns"], true, /^run: unknown flag "-n": "-n" is a global flag/],
    [
      "--json after a command that is no listing",
      ["--json"],
      true,
      /^run: unknown flag "--json": "--json" is a global flag; put it before the command \(shimkit --json run \.\.\.\)/,
    ],
  ];
  for (const [name, args, positionals, re] of cases) {
    it(`parseFlags() rejects ${name} with a usage error naming the flag`, () => {
      assert.throws(() => parseFlags("run", args, FLAGS, positionals), (e: unknown) => {
        assert.ok(e instanceof UsageError, String(e));
        assert.match((e as Error).message, re);
        return true;
      });
    });
  }
  it("parseFlags() returns values and positionals", () => {
    const r = parseFlags("run", ["--rm", "-e", "A=1", "c1"], FLAGS);
    assert.equal(r.values.rm, true);
    assert.deepEqual(r.values.env, ["A=1"]);
    assert.deepEqual(r.positionals, ["c1"]);
  });
  it("flagError() can leave out the --help hint", () => {
    let err: unknown;
    try {
      parseFlags("call", ["--nope"], FLAGS);
    } catch (e) {
      err = (e as Error).cause;
    }
    assert.equal(flagError("call", err, false).message, 'call: unknown flag "--nope"');
  });
  it("flagError() keeps a message it does not know, lowercased", () => {
    assert.equal(
      flagError("x", new Error("Something odd")).message,
      'x: something odd\nrun "shimkit x --help" for usage',
    );
  });
});

describe("splitAtPositionals()", () => {
  const cases: Array<[string, string[], number, string[], string[]]> = [
    ["flags, id and a command with its own flags", ["--rm", "c1", "sh", "-c", "echo hi"], 1, ["--rm", "c1"], [
      "sh",
      "-c",
      "echo hi",
    ]],
    ["a -- after the id", ["c1", "--", "ls", "-l"], 1, ["c1"], ["ls", "-l"]],
    ["a -- inside the command", ["c1", "echo", "--", "x"], 1, ["c1"], ["echo", "--", "x"]],
    ["flags after the id, which belong to the command", ["c1", "--rm"], 1, ["c1"], ["--rm"]],
    ["a value flag's value that looks like an id", ["--runtime", "io.x.v1", "c1", "true"], 1, [
      "--runtime",
      "io.x.v1",
      "c1",
    ], ["true"]],
    ["a short value flag", ["-e", "A=1", "c1", "env"], 1, ["-e", "A=1", "c1"], ["env"]],
    ["a value flag last in a short group", ["-ie", "A=1", "c1", "env"], 1, ["-ie", "A=1", "c1"], ["env"]],
    ["an inline value", ["--runtime=io.x.v1", "c1", "true"], 1, ["--runtime=io.x.v1", "c1"], ["true"]],
    ["a -- before the id", ["--rm", "--", "c1", "true"], 1, ["--rm", "--", "c1"], ["true"]],
    ["two ids (exec)", ["-t", "c1", "e1", "sh", "-c", "x"], 2, ["-t", "c1", "e1"], ["sh", "-c", "x"]],
    ["no id at all", ["--rm"], 1, ["--rm"], []],
    ["only an id", ["c1"], 1, ["c1"], []],
  ];
  for (const [name, args, count, head, rest] of cases) {
    it(`splitAtPositionals() handles ${name}`, () => {
      assert.deepEqual(splitAtPositionals(args, FLAGS, count), { head, rest });
    });
  }
});

describe("onlyPositional()", () => {
  it("onlyPositional() returns the one argument", () => assert.equal(onlyPositional("kill", ["c1"]), "c1"));
  it("onlyPositional() names what is missing", () => {
    assert.throws(() => onlyPositional("info", [], "RUNTIME"), /^UsageError: info: missing RUNTIME\n/);
  });
  it("onlyPositional() lists extra arguments", () => {
    assert.throws(
      () => onlyPositional("wait", ["a", "b"]),
      (e: unknown) =>
        e instanceof UsageError && /^wait: want one container ID, got 2 \("a", "b"\)/.test(e.message),
    );
  });
});
