import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError, NotFoundError } from "../../errors.ts";
import { DEFAULT_PATH_ENV, generateDefaultSpec } from "../../spec/default_spec.ts";
import { UsageError } from "../exit_codes.ts";
import {
  BUILTIN_ROOTFS_DIR,
  builtinRootfsFor,
  checkRootfsDir,
  type CreateArgs,
  createUsage,
  isFakeRuntime,
  overrideBundleSpec,
  parseCreateArgs,
  withBuiltinRootfs,
} from "./_create.ts";

const CWD = "/home/u";

function parse(argv: string[], command: "run" | "create" = "run"): CreateArgs {
  const a = parseCreateArgs(command, argv, CWD);
  assert.notEqual(a, "help");
  return a as CreateArgs;
}

describe("parseCreateArgs()", () => {
  it("parseCreateArgs() reads the id and the command after --", () => {
    const a = parse(["--rm", "-t", "-i", "--rootfs", "rfs", "c1", "--", "sh", "-c", "echo hi"]);
    assert.equal(a.id, "c1");
    assert.deepEqual(a.args, ["sh", "-c", "echo hi"]);
    assert.equal(a.rm, true);
    assert.equal(a.tty, true);
    assert.equal(a.interactive, true);
    assert.equal(a.detach, false);
    assert.equal(a.rootfs, "/home/u/rfs", "relative paths resolve against cwd");
  });

  it("parseCreateArgs() takes everything after the id as the command even without --", () => {
    assert.deepEqual(parse(["c1", "echo", "hello"]).args, ["echo", "hello"]);
  });

  it("parseCreateArgs() collects repeated flags", () => {
    const a = parse([
      "--env",
      "A=1",
      "-e",
      "B=2",
      "--label",
      "x=y",
      "--runtime-option",
      "BinaryName=crun",
      "--runtime",
      "io.containerd.runc.v2",
      "--cwd",
      "/tmp",
      "--hostname",
      "h",
      "--readonly",
      "c1",
      "--",
      "true",
    ]);
    assert.deepEqual(a.env, ["A=1", "B=2"]);
    assert.deepEqual(a.labels, { x: "y" });
    assert.deepEqual(a.runtimeOptions, { BinaryName: "crun" });
    assert.equal(a.runtime, "io.containerd.runc.v2");
    assert.equal(a.cwd, "/tmp");
    assert.equal(a.hostname, "h");
    assert.equal(a.readonly, true);
  });

  it("parseCreateArgs() reads --user and repeated --mount, resolving a relative bind source against cwd", () => {
    const a = parse([
      "-u",
      "1000:100",
      "--mount",
      "src=data,dst=/data,options=ro",
      "--mount",
      "type=tmpfs,dst=/t",
      "c1",
      "id",
    ]);
    assert.deepEqual(a.user, { uid: 1000, gid: 100 });
    assert.deepEqual(a.mounts, [
      { destination: "/data", type: "bind", source: "/home/u/data", options: ["rbind", "ro"] },
      { destination: "/t", type: "tmpfs" },
    ]);
    assert.deepEqual(parse(["c1", "id"]).mounts, []);
    assert.equal(parse(["c1", "id"]).user, undefined);
  });

  it("parseCreateArgs() reads --log-uri, making a path a file URI, and refuses it with -t or -i", () => {
    assert.equal(parse(["--log-uri", "logs/c1.log", "c1", "true"]).logUri, "file:///home/u/logs/c1.log");
    assert.equal(parse(["c1", "true"]).logUri, undefined);
    for (const flag of ["-t", "-i"]) {
      assert.throws(
        () => parseCreateArgs("run", [flag, "--log-uri", "/x", "c1", "true"], CWD),
        (e: unknown) =>
          e instanceof UsageError && /--log-uri cannot be used with --tty or --interactive/.test(e.message),
      );
    }
  });

  it("parseCreateArgs() allows no command with --bundle", () => {
    const a = parse(["--bundle", "/b", "c1"]);
    assert.equal(a.bundle, "/b");
    assert.deepEqual(a.args, []);
  });

  it("parseCreateArgs() answers help", () => assert.equal(parseCreateArgs("run", ["--help"], CWD), "help"));

  it("parseCreateArgs() passes a command's own flags through without --", () => {
    const a = parse(["--rm", "c1", "sh", "-c", "echo hi"]);
    assert.equal(a.rm, true);
    assert.deepEqual(a.args, ["sh", "-c", "echo hi"]);
  });

  it("parseCreateArgs() gives flags after the id to the command", () => {
    const a = parse(["c1", "ls", "--rm", "-d"]);
    assert.equal(a.rm, false);
    assert.equal(a.detach, false);
    assert.deepEqual(a.args, ["ls", "--rm", "-d"]);
  });

  const messages: Array<[string, string[], "run" | "create", RegExp]> = [
    ["a missing id", ["--rm"], "run", /^run: missing container ID\nrun "shimkit run --help" for usage$/],
    ["a missing command", ["c1"], "run", /^run: missing command to run after container ID "c1"$/],
    ["--rm on create", ["--rm", "c1", "true"], "create", /^create: --rm is a run flag$/],
    ["-d on create", ["-d", "c1", "true"], "create", /^create: --detach is a run flag/],
    ["an unknown flag", ["--bogus", "c1", "true"], "create", /^create: unknown flag "--bogus"\n/],
  ];
  for (const [name, argv, command, re] of messages) {
    it(`parseCreateArgs() names ${name} in its message`, () => {
      assert.throws(() => parseCreateArgs(command, argv, CWD), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match((e as Error).message, re);
        return true;
      });
    });
  }

  const usage: Array<[string, string[], "run" | "create"]> = [
    ["a missing id", [], "run"],
    ["a missing command", ["c1"], "run"],
    ["an unknown flag", ["--nope", "c1", "--", "true"], "run"],
    ["--rm with -d", ["--rm", "-d", "c1", "--", "true"], "run"],
    ["--rootfs with --bundle", ["--rootfs", "/r", "--bundle", "/b", "c1"], "run"],
    ["--rm on create", ["--rm", "c1", "--", "true"], "create"],
    ["a label without =", ["--label", "x", "c1", "--", "true"], "run"],
  ];
  for (const [name, argv, command] of usage) {
    it(`parseCreateArgs() rejects ${name} as a usage error`, () => {
      assert.throws(() => parseCreateArgs(command, argv, CWD), UsageError);
    });
  }

  const invalid: Array<[string, string[]]> = [
    ["a path-like id", ["../x", "--", "true"]],
    ["an id with a slash", ["a/b", "--", "true"]],
    ["a relative cwd", ["--cwd", "tmp", "c1", "--", "true"]],
  ];
  for (const [name, argv] of invalid) {
    it(`parseCreateArgs() rejects ${name} as an invalid argument`, () => {
      assert.throws(() => parseCreateArgs("run", argv, CWD), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError);
        assert.ok(!(e instanceof UsageError), "exit code 5, not 2");
        return true;
      });
    });
  }
});

describe("overrideBundleSpec()", () => {
  const bundleSpec = () => {
    const s = generateDefaultSpec({ id: "orig", namespace: "default", args: ["sleep", "1"], env: ["A=1"] });
    s.root = { path: "rootfs", readonly: false };
    return s;
  };

  it("overrideBundleSpec() makes a relative root absolute against the bundle dir", () => {
    const out = overrideBundleSpec(bundleSpec(), "/srv/b", parse(["--bundle", "/srv/b", "c1"]));
    assert.deepEqual(out.root, { path: "/srv/b/rootfs", readonly: false });
    assert.deepEqual(out.process!.args, ["sleep", "1"], "keeps the bundle's command");
  });

  it("overrideBundleSpec() keeps an absolute root", () => {
    const spec = bundleSpec();
    spec.root = { path: "/abs/root" };
    assert.equal(
      overrideBundleSpec(spec, "/srv/b", parse(["--bundle", "/srv/b", "c1"])).root!.path,
      "/abs/root",
    );
  });

  it("overrideBundleSpec() applies command, env, tty, cwd, hostname and readonly", () => {
    const a = parse([
      "--bundle",
      "/b",
      "-t",
      "--env",
      "B=2",
      "--cwd",
      "/w",
      "--hostname",
      "h",
      "--readonly",
      "c1",
      "--",
      "id",
    ]);
    const out = overrideBundleSpec(bundleSpec(), "/b", a);
    assert.deepEqual(out.process!.args, ["id"]);
    assert.deepEqual(out.process!.env, [DEFAULT_PATH_ENV, "A=1", "B=2", "TERM=xterm"]);
    assert.equal(out.process!.terminal, true);
    assert.equal(out.process!.cwd, "/w");
    assert.equal(out.hostname, "h");
    assert.equal(out.root!.readonly, true);
  });

  it("overrideBundleSpec() applies --user and appends --mount, with or without a command", () => {
    for (const command of [["id"], []]) {
      const a = parse(["--bundle", "/b", "-u", "7:8", "--mount", "src=/srv,dst=/srv", "c1", ...command]);
      const out = overrideBundleSpec(bundleSpec(), "/b", a);
      assert.deepEqual(out.process!.user, { uid: 7, gid: 8 });
      const mounts = out.mounts!;
      assert.equal(mounts.length, bundleSpec().mounts!.length + 1);
      assert.deepEqual(mounts.at(-1), {
        destination: "/srv",
        type: "bind",
        source: "/srv",
        options: ["rbind"],
      });
    }
  });

  it("overrideBundleSpec() does not change its input", () => {
    const spec = bundleSpec();
    const before = JSON.stringify(spec);
    overrideBundleSpec(spec, "/b", parse(["--bundle", "/b", "--env", "Z=9", "c1", "--", "ls"]));
    assert.equal(JSON.stringify(spec), before);
  });

  it("overrideBundleSpec() rejects a spec without process when no command is given", () => {
    const spec = bundleSpec();
    delete spec.process;
    assert.throws(
      () => overrideBundleSpec(spec, "/b", parse(["--bundle", "/b", "c1"])),
      InvalidArgumentError,
    );
  });
});

describe("checkRootfsDir()", () => {
  it("checkRootfsDir() refuses a --rootfs that does not exist or is not a directory, naming it", async () => {
    await assert.rejects(checkRootfsDir("/nonexistent/rfs"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.equal((e as Error).message, 'rootfs "/nonexistent/rfs": no such directory');
      return true;
    });
    const file = new URL(import.meta.url).pathname; // this test file
    await assert.rejects(checkRootfsDir(file), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError, String(e));
      assert.equal((e as Error).message, `rootfs ${JSON.stringify(file)}: not a directory`);
      return true;
    });
    await checkRootfsDir("/");
  });
});

describe("isFakeRuntime()", () => {
  const cases: Array<[string, boolean]> = [
    ["io.containerd.fake.v2", true],
    ["io.containerd.fake.v1", true],
    ["/opt/shimkit/containerd-shim-fake-v2", true],
    ["io.containerd.runc.v2", false],
    ["/usr/bin/containerd-shim-runc-v2", false],
    ["io.containerd.fake.v3", false],
    ["not a runtime", false],
  ];
  for (const [runtime, want] of cases) {
    it(`isFakeRuntime() says ${want} for "${runtime}"`, () => assert.equal(isFakeRuntime(runtime), want));
  }
});

describe("builtinRootfsFor()", () => {
  const builtin = `/var/lib/shimkit/${BUILTIN_ROOTFS_DIR}`;
  const cases: Array<[string, { rootfs?: string; bundle?: string }, string, string | undefined]> = [
    ["runc without --rootfs or --bundle", {}, "io.containerd.runc.v2", builtin],
    ["a shim path without --rootfs or --bundle", {}, "/opt/containerd-shim-foo-v1", builtin],
    ["runc with --rootfs", { rootfs: "/r" }, "io.containerd.runc.v2", undefined],
    ["runc with --bundle", { bundle: "/b" }, "io.containerd.runc.v2", undefined],
    ["the fake shim", {}, "io.containerd.fake.v2", undefined],
  ];
  for (const [name, a, runtime, want] of cases) {
    it(`builtinRootfsFor() answers ${want ?? "nothing"} for ${name}`, () => {
      assert.equal(builtinRootfsFor(a, runtime, "/var/lib/shimkit"), want);
    });
  }
  it("builtinRootfsFor() keeps the rootfs under a hidden name, which restore and gc skip", () => {
    assert.ok(BUILTIN_ROOTFS_DIR.startsWith("."));
  });
});

describe("withBuiltinRootfs()", () => {
  it("withBuiltinRootfs() makes the shared root read-only and adds a private /tmp", () => {
    const spec = withBuiltinRootfs(
      generateDefaultSpec({
        id: "c1",
        namespace: "default",
        args: ["true"],
        rootfs: "/var/lib/shimkit/.rootfs/busybox",
      }),
    );
    assert.deepEqual(spec.root, { path: "/var/lib/shimkit/.rootfs/busybox", readonly: true });
    const tmp = spec.mounts!.filter((m) => m.destination === "/tmp");
    assert.deepEqual(tmp, [{
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777"],
    }]);
  });
});

describe("createUsage()", () => {
  for (const command of ["run", "create"] as const) {
    it(`createUsage() documents every ${command} flag and the built-in rootfs`, () => {
      const text = createUsage(command);
      assert.match(text, new RegExp(`^usage: shimkit ${command} `));
      for (
        const flag of [
          "--tty",
          "--interactive",
          "--runtime",
          "--rootfs",
          "--bundle",
          "--env",
          "--cwd",
          "--label",
          "--runtime-option",
          "--readonly",
          "--hostname",
          "--user",
          "--mount",
          "--log-uri",
          "--help",
        ]
      ) {
        assert.ok(text.includes(flag), `${command} --help mentions ${flag}`);
      }
      assert.equal(text.includes("--rm"), command === "run");
      assert.match(text, /built-in\s+busybox rootfs/);
      assert.match(text, /busybox-static/);
      assert.match(text, /SHIMKIT_BUSYBOX/);
    });
  }
});
