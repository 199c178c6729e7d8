import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_CONFIG,
  defaultConfig,
  defaultConfigText,
  formatConfig,
  parseConfig,
  socketDirOf,
} from "./config.ts";
import { InvalidArgumentError, NotImplementedError } from "../errors.ts";

const SRC = "/x.toml";

describe("parseConfig()", () => {
  it("returns the defaults for an empty file", () => {
    const r = parseConfig("", SRC);
    assert.deepEqual(r.config, defaultConfig());
    assert.deepEqual(r.warnings, []);
    assert.equal(r.sourceVersion, 1);
  });

  const good: Array<{ name: string; text: string; want: (c: ReturnType<typeof defaultConfig>) => void }> = [
    {
      name: "reads top-level keys",
      text: `version = 3
state = "/run/sk"
root = "/var/lib/sk"
socket_dir = "/run/sk/s"
namespace = "k8s.io"
default_runtime = "io.containerd.fake.v2"
debug = true`,
      want: (c) => {
        c.state = "/run/sk";
        c.root = "/var/lib/sk";
        c.socketDir = "/run/sk/s";
        c.namespace = "k8s.io";
        c.defaultRuntime = "io.containerd.fake.v2";
        c.debug = true;
      },
    },
    {
      name: "reads timeouts as milliseconds",
      text: `version = 3\n[timeouts]\nstart = "10s"\nload = "1m"\nshutdown = "500ms"\ncleanup = "1.5s"`,
      want: (c) => {
        c.timeouts = { start: 10_000, load: 60_000, shutdown: 500, cleanup: 1500 };
      },
    },
    {
      name: "reads shim env, restore and runtimes",
      text: `version = 3
[shim]
env = ["A=1", "B="]
[restore]
concurrency = 2
[runtimes."io.containerd.runc.v2"]
path = "/usr/bin/containerd-shim-runc-v2"
options = { BinaryName = "/usr/bin/runc", SystemdCgroup = false }
[runtimes."io.containerd.fake.v2"]`,
      want: (c) => {
        c.shim.env = ["A=1", "B="];
        c.restore.concurrency = 2;
        c.runtimes = {
          "io.containerd.runc.v2": {
            path: "/usr/bin/containerd-shim-runc-v2",
            options: { BinaryName: "/usr/bin/runc", SystemdCgroup: false },
          },
          "io.containerd.fake.v2": { options: {} },
        };
      },
    },
    {
      name: "migrates an old sched_core before validating",
      text: `version = 2\n[plugins."io.containerd.runtime.v2.task"]\nsched_core = true`,
      want: (c) => {
        c.shim.env = ["SCHED_CORE=1"];
      },
    },
  ];
  for (const tc of good) {
    it(tc.name, () => {
      const want = defaultConfig();
      tc.want(want);
      assert.deepEqual(parseConfig(tc.text, SRC).config, want);
    });
  }

  const bad: Array<[string, string, string]> = [
    ["a bad duration", `version = 3\n[timeouts]\nstart = "5x"`, `timeouts.start: invalid duration "5x"`],
    [
      "a numeric duration",
      `version = 3\n[timeouts]\nload = 5`,
      `timeouts.load: want a duration string like "5s", got 5`,
    ],
    ["an unknown top-level key", `version = 3\nstat = "/run"`, `stat: unknown key`],
    [
      "a containerd config",
      `version = 2\n[grpc]\naddress = "/run/containerd/containerd.sock"`,
      `grpc: a containerd setting: this is a containerd config, and shimkit reads its own format; ` +
      `convert it with "shimkit config migrate FILE" and review what it drops`,
    ],
    ["an unknown timeout", `version = 3\n[timeouts]\nstop = "1s"`, `timeouts.stop: unknown key`],
    ["a relative state", `state = "run/x"`, `state: want an absolute path, got "run/x"`],
    ["a non-string root", `root = 5`, `root: want a string, got 5`],
    [
      "a long socket_dir",
      `socket_dir = "/${"s".repeat(42)}"`,
      `socket_dir: path "/${"s".repeat(42)}" is longer than 42 characters`,
    ],
    ["a bad namespace", `namespace = "a/b"`, `namespace: invalid namespace "a/b"`],
    [
      "a bad default_runtime",
      `default_runtime = "runc"`,
      `default_runtime: invalid runtime name "runc": want a name like "io.containerd.runc.v2"`,
    ],
    ["a non-boolean debug", `debug = "yes"`, `debug: want true or false, got "yes"`],
    ["a shim env entry without =", `[shim]\nenv = ["A"]`, `shim.env[0]: want "KEY=VALUE", got "A"`],
    [
      "a shim env that is not an array",
      `[shim]\nenv = "A=1"`,
      `shim.env: want an array of "KEY=VALUE" strings, got "A=1"`,
    ],
    [
      "a zero concurrency",
      `[restore]\nconcurrency = 0`,
      `restore.concurrency: want an integer from 1 to 1024, got 0`,
    ],
    [
      "a bad runtime key",
      `[runtimes."runc"]`,
      `runtimes: invalid runtime name "runc": want a name like "io.containerd.runc.v2"`,
    ],
    ["an unknown runtime key", `[runtimes."a.b"]\nbinary = "x"`, `runtimes."a.b".binary: unknown key`],
    ["a non-table options", `[runtimes."a.b"]\noptions = 1`, `runtimes."a.b".options: want a table, got 1`],
    ["a non-table timeouts", `timeouts = 1`, `timeouts: want a table, got 1`],
    ["a string version", `version = "3"`, `version: want a positive integer, got "3"`],
    ["a syntax error", `a = = 1`, `line 1, column 5: invalid value`],
  ];
  for (const [name, text, msg] of bad) {
    it(`rejects ${name}, naming the key and value`, () => {
      assert.throws(() => parseConfig(text, SRC), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.equal(e.message, `config "${SRC}": ${msg}`);
        return true;
      });
    });
  }

  it("rejects a newer version as not implemented", () => {
    assert.throws(() => parseConfig("version = 4", SRC), (e: unknown) => {
      assert.ok(e instanceof NotImplementedError);
      assert.match(e.message, /^config "\/x.toml": version: unsupported version 4/);
      return true;
    });
  });

  it("returns migration warnings", () => {
    const r = parseConfig(`version = 2\n[plugins."io.containerd.runtime.v2.task"]\nsched_core = 1`, SRC);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /sched_core: skipping migration for non-boolean value 1/);
    assert.deepEqual(r.config.shim.env, []);
  });
});

describe("formatConfig()", () => {
  it("round-trips through parseConfig()", () => {
    const c = defaultConfig();
    c.timeouts.start = 1500;
    c.shim.env = ["A=1"];
    c.runtimes["io.containerd.runc.v2"] = { path: "/bin/x", options: { SystemdCgroup: true } };
    const back = parseConfig(formatConfig(c), "dump").config;
    c.socketDir = socketDirOf(c);
    assert.deepEqual(back, c);
  });
});

describe("defaultConfigText()", () => {
  it("parses to the defaults", () => {
    assert.deepEqual(parseConfig(defaultConfigText(), "default").config, { ...DEFAULT_CONFIG });
  });
});

describe("socketDirOf()", () => {
  it("derives <state>/s unless set", () => {
    assert.equal(socketDirOf({ state: "/run/x/" }), "/run/x/s");
    assert.equal(socketDirOf({ state: "/run/x", socketDir: "/s" }), "/s");
  });
});
