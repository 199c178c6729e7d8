import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  configPathOf,
  GLOBAL_VALUE_FLAGS,
  liftJsonFlag,
  parseGlobalArgs,
  resolveGlobalOptions,
} from "./global_args.ts";
import { UsageError } from "./exit_codes.ts";
import { DEFAULT_CONFIG } from "../config/config.ts";

describe("parseGlobalArgs()", () => {
  const cases: Array<[string, string[], ReturnType<typeof parseGlobalArgs>]> = [
    ["no arguments", [], { flags: {}, command: undefined, args: [] }],
    ["a bare command", ["ps"], { flags: {}, command: "ps", args: [] }],
    [
      "value flags in both forms",
      ["--state", "/s", "--root=/r", "-n", "ns", "--config", "/c.toml", "ps", "-q"],
      { flags: { state: "/s", root: "/r", namespace: "ns", config: "/c.toml" }, command: "ps", args: ["-q"] },
    ],
    [
      "log flags and --json",
      ["--log-level", "DEBUG", "--log-format=json", "--json", "state", "c1"],
      { flags: { logLevel: "debug", logFormat: "json", json: true }, command: "state", args: ["c1"] },
    ],
    [
      "the publish callback form",
      ["--address", "/run/x.sock", "publish", "--topic", "/tasks/exit", "--namespace", "default"],
      {
        flags: { address: "/run/x.sock" },
        command: "publish",
        args: ["--topic", "/tasks/exit", "--namespace", "default"],
      },
    ],
    ["help and version", ["-h", "-v"], {
      flags: { help: true, version: true },
      command: undefined,
      args: [],
    }],
    ["-- before the command", ["--", "run", "--rm"], { flags: {}, command: "run", args: ["--rm"] }],
    ["command flags after the command are untouched", ["run", "--state", "x"], {
      flags: {},
      command: "run",
      args: ["--state", "x"],
    }],
  ];
  for (const [name, argv, want] of cases) {
    it(`parses ${name}`, () => assert.deepEqual(parseGlobalArgs(argv), want));
  }

  const bad: Array<[string[], RegExp]> = [
    [["--nope", "ps"], /unknown global flag "--nope"/],
    [["--state"], /flag "--state" needs a value/],
    [["--state="], /flag "--state" needs a non-empty value/],
    [["--log-level", "loud"], /invalid log level "loud"/],
    [["--log-format", "xml"], /invalid log format "xml": want logfmt or json/],
    [["--json=1"], /flag "--json" takes no value/],
  ];
  for (const [argv, re] of bad) {
    it(`rejects ${argv.join(" ")}`, () => {
      assert.throws(
        () => parseGlobalArgs(argv),
        (e: unknown) => e instanceof UsageError && re.test(e.message),
      );
    });
  }
});

describe("liftJsonFlag()", () => {
  it("removes --json before -- only", () => {
    assert.deepEqual(liftJsonFlag(["c1", "--json"]), { args: ["c1"], json: true });
    assert.deepEqual(liftJsonFlag(["c1", "--", "--json"]), { args: ["c1", "--", "--json"], json: false });
    assert.deepEqual(liftJsonFlag([]), { args: [], json: false });
  });
});

describe("resolveGlobalOptions()", () => {
  const config = { state: "/cfg/state", root: "/cfg/root", namespace: "cfgns" };
  it("uses the config's values when nothing overrides them", () => {
    assert.deepEqual(resolveGlobalOptions({}, {}, DEFAULT_CONFIG), {
      state: "/run/shimkit",
      root: "/var/lib/shimkit",
      namespace: "default",
      logLevel: "info",
      logFormat: "logfmt",
      json: false,
    });
  });
  it("lets the environment override the config and flags override both", () => {
    const env = { SHIMKIT_STATE: "/env/state", SHIMKIT_ROOT: "/env/root", SHIMKIT_NAMESPACE: "envns" };
    const fromEnv = resolveGlobalOptions({}, env, config, "/c.toml");
    assert.equal(fromEnv.state, "/env/state");
    assert.equal(fromEnv.root, "/env/root");
    assert.equal(fromEnv.namespace, "envns");
    assert.equal(fromEnv.config, "/c.toml");
    const fromFlags = resolveGlobalOptions(
      { state: "/f", namespace: "fns", json: true, address: "/a" },
      env,
      config,
    );
    assert.equal(fromFlags.state, "/f");
    assert.equal(fromFlags.root, "/env/root");
    assert.equal(fromFlags.namespace, "fns");
    assert.equal(fromFlags.json, true);
    assert.equal(fromFlags.address, "/a");
  });
  it("rejects an invalid namespace and says whether the flag, the environment or the config gave it", () => {
    const bad = (flags: { namespace?: string }, env: Record<string, string>, ns: string, from: string) =>
      assert.throws(
        () => resolveGlobalOptions(flags, env, { ...config, namespace: ns }),
        (e: unknown) => {
          assert.ok(e instanceof InvalidArgumentError, String(e));
          assert.match((e as Error).message, new RegExp(`^${from}: invalid namespace "`));
          return true;
        },
      );
    bad({ namespace: "../up" }, { SHIMKIT_NAMESPACE: "ok" }, "ok", "--namespace");
    bad({}, { SHIMKIT_NAMESPACE: ".hidden" }, "ok", "SHIMKIT_NAMESPACE");
    bad({}, {}, "a/b", "the config's namespace");
    bad({ namespace: "x".repeat(77) }, {}, "ok", "--namespace");
  });
  it("ignores empty environment values", () => {
    assert.equal(resolveGlobalOptions({}, { SHIMKIT_STATE: "" }, config).state, "/cfg/state");
  });
  it("resolveGlobalOptions() makes a relative --state or SHIMKIT_ROOT absolute against cwd", () => {
    const o = resolveGlobalOptions({ state: "st" }, { SHIMKIT_ROOT: "../r" }, config, undefined, "/home/u/w");
    assert.equal(o.state, "/home/u/w/st");
    assert.equal(o.root, "/home/u/r");
  });
});

describe("GLOBAL_VALUE_FLAGS", () => {
  it("GLOBAL_VALUE_FLAGS lists the global flags that take a value", () => {
    for (const f of ["--state", "--root", "-n", "--namespace", "--config", "--log-level", "--log-format"]) {
      assert.ok(GLOBAL_VALUE_FLAGS.includes(f), f);
    }
    assert.ok(!GLOBAL_VALUE_FLAGS.includes("--json"));
  });
});

describe("configPathOf()", () => {
  it("prefers --config over SHIMKIT_CONFIG", () => {
    assert.equal(configPathOf({ config: "/a" }, { SHIMKIT_CONFIG: "/b" }), "/a");
    assert.equal(configPathOf({}, { SHIMKIT_CONFIG: "/b" }), "/b");
    assert.equal(configPathOf({}, {}), undefined);
  });
});
