import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH_ENV,
  type DefaultSpecOptions,
  execProcessSpec,
  generateDefaultSpec,
  mergeEnv,
  OCI_VERSION,
  type OciMount,
  type OciSpec,
} from "./default_spec.ts";

const base: DefaultSpecOptions = { id: "c1", namespace: "default", args: ["sh", "-c", "echo hi"] };

describe("generateDefaultSpec()", () => {
  it("generateDefaultSpec() writes the ctr defaults", () => {
    const s = generateDefaultSpec(base);
    assert.equal(s.ociVersion, OCI_VERSION);
    assert.equal(s.ociVersion, "1.0.2");
    const p = s.process!;
    assert.equal(p.terminal, false);
    assert.deepEqual(p.user, { uid: 0, gid: 0 });
    assert.deepEqual(p.args, ["sh", "-c", "echo hi"]);
    assert.deepEqual(p.env, [DEFAULT_PATH_ENV]);
    assert.equal(p.cwd, "/");
    for (const set of ["bounding", "effective", "permitted"]) {
      assert.deepEqual(p.capabilities![set], [...DEFAULT_CAPABILITIES], set);
    }
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    assert.deepEqual(p.rlimits, [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);
    assert.equal(p.noNewPrivileges, true);
    assert.deepEqual(s.root, { path: "rootfs", readonly: false });
    assert.equal(s.hostname, "c1");
    assert.equal(s.annotations, undefined);
    const linux = s.linux as Record<string, unknown>;
    assert.equal(linux.cgroupsPath, "/default/c1");
    assert.deepEqual(
      (linux.namespaces as Array<{ type: string }>).map((n) => n.type),
      ["pid", "ipc", "uts", "mount", "network"],
    );
    assert.ok((linux.maskedPaths as string[]).includes("/proc/kcore"));
    assert.ok((linux.readonlyPaths as string[]).includes("/proc/sys"));
  });

  it("generateDefaultSpec() mounts the standard Linux filesystems in order", () => {
    const mounts = generateDefaultSpec(base).mounts as OciMount[];
    assert.deepEqual(mounts.map((m) => [m.destination, m.type]), [
      ["/proc", "proc"],
      ["/dev", "tmpfs"],
      ["/dev/pts", "devpts"],
      ["/dev/shm", "tmpfs"],
      ["/dev/mqueue", "mqueue"],
      ["/sys", "sysfs"],
      ["/sys/fs/cgroup", "cgroup"],
    ]);
    const ro = (d: string) => mounts.find((m) => m.destination === d)!.options!.includes("ro");
    assert.ok(ro("/sys"));
    assert.ok(ro("/sys/fs/cgroup"));
    assert.ok(!ro("/dev"));
  });

  it("generateDefaultSpec() denies all devices first, then allows the defaults", () => {
    const devices = ((generateDefaultSpec(base).linux as Record<string, unknown>).resources as {
      devices: Array<Record<string, unknown>>;
    }).devices;
    assert.deepEqual(devices[0], { allow: false, access: "rwm" });
    const allowed = devices.slice(1);
    assert.ok(allowed.every((d) => d.allow === true && d.type === "c" && d.access === "rwm"));
    const has = (major: number, minor?: number) =>
      allowed.some((d) => d.major === major && d.minor === minor);
    assert.ok(has(1, 3), "/dev/null");
    assert.ok(has(1, 5), "/dev/zero");
    assert.ok(has(1, 9), "/dev/urandom");
    assert.ok(has(5, 2), "/dev/ptmx");
    assert.ok(has(136), "/dev/pts/* with any minor");
    assert.ok(!("minor" in allowed.find((d) => d.major === 136)!), "wildcard minor is omitted, not null");
  });

  const cases: Array<{ name: string; opts: Partial<DefaultSpecOptions>; check: (s: OciSpec) => void }> = [
    {
      name: "terminal sets process.terminal and TERM=xterm",
      opts: { terminal: true },
      check: (s) => {
        assert.equal(s.process!.terminal, true);
        assert.deepEqual(s.process!.env, [DEFAULT_PATH_ENV, "TERM=xterm"]);
      },
    },
    {
      name: "user env is appended",
      opts: { env: ["A=1", "B=two=2"] },
      check: (s) => assert.deepEqual(s.process!.env, [DEFAULT_PATH_ENV, "A=1", "B=two=2"]),
    },
    {
      name: "user env replaces PATH in place",
      opts: { env: ["X=1", "PATH=/bin"] },
      check: (s) => assert.deepEqual(s.process!.env, ["PATH=/bin", "X=1"]),
    },
    {
      name: "user env replaces TERM with a terminal",
      opts: { terminal: true, env: ["TERM=vt100"] },
      check: (s) => assert.deepEqual(s.process!.env, [DEFAULT_PATH_ENV, "TERM=vt100"]),
    },
    { name: "cwd is set", opts: { cwd: "/tmp" }, check: (s) => assert.equal(s.process!.cwd, "/tmp") },
    {
      name: "absolute rootfs and readonly",
      opts: { rootfs: "/srv/rootfs", readonlyRootfs: true },
      check: (s) => assert.deepEqual(s.root, { path: "/srv/rootfs", readonly: true }),
    },
    { name: "hostname override", opts: { hostname: "box" }, check: (s) => assert.equal(s.hostname, "box") },
    {
      name: "namespace goes into the cgroup path",
      opts: { namespace: "k8s.io", id: "web-1" },
      check: (s) => {
        assert.equal((s.linux as Record<string, unknown>).cgroupsPath, "/k8s.io/web-1");
        assert.equal(s.hostname, "web-1");
      },
    },
    {
      name: "user sets process.user",
      opts: { user: { uid: 1000, gid: 100 } },
      check: (s) => assert.deepEqual(s.process!.user, { uid: 1000, gid: 100 }),
    },
    {
      name: "extra mounts come after the defaults, as copies",
      opts: { mounts: [{ destination: "/data", type: "bind", source: "/srv", options: ["rbind", "ro"] }] },
      check: (s) => {
        assert.equal(s.mounts!.length, 8);
        assert.deepEqual(s.mounts!.at(-1), {
          destination: "/data",
          type: "bind",
          source: "/srv",
          options: ["rbind", "ro"],
        });
        assert.equal(s.mounts![0].destination, "/proc");
      },
    },
    {
      name: "annotations are copied",
      opts: { annotations: { a: "b" } },
      check: (s) => assert.deepEqual(s.annotations, { a: "b" }),
    },
  ];
  for (const tc of cases) {
    it(`generateDefaultSpec() ${tc.name}`, () => tc.check(generateDefaultSpec({ ...base, ...tc.opts })));
  }

  const bad: Array<{ name: string; opts: Partial<DefaultSpecOptions> }> = [
    { name: "an empty command", opts: { args: [] } },
    { name: "an empty executable", opts: { args: [""] } },
    { name: "a relative cwd", opts: { cwd: "tmp" } },
    { name: "an env entry without =", opts: { env: ["NOVALUE"] } },
    { name: "an env entry with an empty key", opts: { env: ["=x"] } },
  ];
  for (const tc of bad) {
    it(`generateDefaultSpec() rejects ${tc.name}`, () => {
      assert.throws(() => generateDefaultSpec({ ...base, ...tc.opts }), InvalidArgumentError);
    });
  }

  it("generateDefaultSpec() returns independent objects", () => {
    const a = generateDefaultSpec(base);
    const b = generateDefaultSpec(base);
    a.process!.capabilities!.bounding.push("CAP_SYS_ADMIN");
    a.mounts!.pop();
    assert.equal(b.process!.capabilities!.bounding.length, 14);
    assert.equal(b.mounts!.length, 7);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
  });

  it("generateDefaultSpec() output survives a JSON round trip unchanged", () => {
    const s = generateDefaultSpec({ ...base, terminal: true, env: ["A=1"] });
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });
});

describe("mergeEnv()", () => {
  it("mergeEnv() keeps order and replaces duplicate keys", () => {
    assert.deepEqual(mergeEnv(["A=1", "B=2"], ["B=3", "C=4", "A=5"]), ["A=5", "B=3", "C=4"]);
  });
  it("mergeEnv() does not mutate its input", () => {
    const base = ["A=1"];
    mergeEnv(base, ["A=2"]);
    assert.deepEqual(base, ["A=1"]);
  });
});

describe("execProcessSpec()", () => {
  it("execProcessSpec() keeps the container's user and env, replaces args", () => {
    const container = generateDefaultSpec({ ...base, env: ["A=1"], cwd: "/work" }).process!;
    const p = execProcessSpec(container, { args: ["ls"], env: ["B=2"] });
    assert.deepEqual(p.args, ["ls"]);
    assert.deepEqual(p.env, [DEFAULT_PATH_ENV, "A=1", "B=2"]);
    assert.equal(p.cwd, "/work");
    assert.equal(p.terminal, false);
    assert.deepEqual(p.capabilities, container.capabilities);
    assert.notEqual(p.capabilities, container.capabilities, "deep copy");
  });
  it("execProcessSpec() with a terminal adds TERM once", () => {
    const container = generateDefaultSpec({ ...base, terminal: true }).process!;
    const p = execProcessSpec(container, { args: ["sh"], terminal: true, cwd: "/tmp" });
    assert.equal(p.env!.filter((e) => e.startsWith("TERM=")).length, 1);
    assert.equal(p.terminal, true);
    assert.equal(p.cwd, "/tmp");
  });
  it("execProcessSpec() takes a user override, else the container's user (copied)", () => {
    const container = generateDefaultSpec({ ...base, user: { uid: 5, gid: 6 } }).process!;
    container.user.additionalGids = [7];
    assert.deepEqual(execProcessSpec(container, { args: ["id"], user: { uid: 1, gid: 2 } }).user, {
      uid: 1,
      gid: 2,
    });
    const same = execProcessSpec(container, { args: ["id"] }).user;
    assert.deepEqual(same, { uid: 5, gid: 6, additionalGids: [7] });
    assert.notEqual(same, container.user, "deep copy");
  });
  it("execProcessSpec() without a base uses the defaults", () => {
    const p = execProcessSpec(undefined, { args: ["true"] });
    assert.deepEqual(p.user, { uid: 0, gid: 0 });
    assert.deepEqual(p.env, [DEFAULT_PATH_ENV]);
  });
  it("execProcessSpec() rejects an empty command", () => {
    assert.throws(() => execProcessSpec(undefined, { args: [] }), InvalidArgumentError);
  });
});
