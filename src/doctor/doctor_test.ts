import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Code, Server, TtrpcError } from "../../vendor/ttrpc-ts/mod.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { doctor } from "./doctor.ts";
import type { ProblemCode } from "./classify.ts";
import { createRuntimeResolver } from "../runtime/resolve.ts";
import { isProcessAlive } from "../platform/process.ts";
import { findBinary, needsAll, needsBinary, needsRoot } from "../../tests/helpers/require.ts";
import { busyboxRootfs } from "../../tests/helpers/rootfs.ts";

/** A fake shim Task service with the three read-only calls doctor makes. */
function taskImpl(mode: "running" | "leaked" | "slow", hold: Array<() => void>) {
  const slow = () =>
    new Promise<never>((_, reject) => hold.push(() => reject(new TtrpcError(Code.Unavailable, "bye"))));
  return {
    connect: () =>
      mode === "slow"
        ? slow()
        : Promise.resolve({ shimPid: process.pid, taskPid: mode === "running" ? 4242 : 0 }),
    pids: () => {
      if (mode === "leaked") throw new TtrpcError(Code.NotFound, "container must be created");
      return Promise.resolve({ processes: [{ pid: 4242 }] });
    },
    state: () => Promise.resolve({ id: "x", pid: 4242, status: 2 }),
  };
}

describe("doctor()", { skip: process.platform !== "linux" ? "needs Linux" : false }, () => {
  let dir = "";
  let state = "";
  let root = "";
  const servers: Server[] = [];
  const hold: Array<() => void> = [];

  async function bundle(ns: string, id: string, files: Record<string, string>) {
    const path = join(state, ns, id);
    await fsp.mkdir(path, { recursive: true });
    for (const [name, text] of Object.entries(files)) await fsp.writeFile(join(path, name), text);
    return path;
  }
  async function serve(name: string, mode: "running" | "leaked" | "slow", v3 = false) {
    const s = new Server();
    s.register(v3 ? TaskV3 : TaskV2, taskImpl(mode, hold) as never);
    const path = join(dir, "s", name);
    await s.listen(path);
    servers.push(s);
    return `unix://${path}`;
  }
  const bootstrap = (address: string, version = 2) => JSON.stringify({ version, address, protocol: "ttrpc" });

  before(async () => {
    dir = await fsp.mkdtemp(join(tmpdir(), "sk-doc-"));
    state = join(dir, "state");
    root = join(dir, "root");
    await fsp.mkdir(join(dir, "s"), { recursive: true });
    await fsp.mkdir(join(root, "ns", "orphan"), { recursive: true });
    await fsp.mkdir(join(root, "ns", "ok2"), { recursive: true });
    const bin = "/bin/true";
    await bundle("ns", "ok2", {
      "bootstrap.json": bootstrap(await serve("ok2", "running")),
      "shim-binary-path": bin,
    });
    await bundle("ns", "v3", {
      "bootstrap.json": bootstrap(await serve("v3", "running", true), 3),
      "shim-binary-path": bin,
    });
    await bundle("ns", "legacy", { address: await serve("legacy", "running") });
    await bundle("ns", "leaked", { "bootstrap.json": bootstrap(await serve("leaked", "leaked")) });
    await bundle("ns", "slow", { "bootstrap.json": bootstrap(await serve("slow", "slow")) });
    await bundle("ns", "gone", { "bootstrap.json": bootstrap(`unix://${join(dir, "s", "nothing")}`) });
    // A socket file bound by a process that is gone: connecting is refused.
    const stale = join(dir, "s", "stale");
    spawnSync("python3", [
      "-c",
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`,
    ]);
    await bundle("ns", "refused", {
      "bootstrap.json": bootstrap(`unix://${stale}`),
      "init.pid": String(process.pid),
    });
    await bundle("ns", "moved", {
      address: `unix://${stale}`,
      "shim-binary-path": "/nonexistent/containerd-shim-x-v2",
    });
    await bundle("ns", "empty", {});
    await bundle("ns", "broken", { "bootstrap.json": bootstrap("unix:///x", 4) });
    // Being created right now by this (live) process: never judged.
    await bundle("ns", "creating", {});
    await fsp.mkdir(join(state, ".locks", "ns"), { recursive: true });
    const me = (await fsp.readFile(`/proc/${process.pid}/stat`, "latin1")).split(") ")[1].split(" ")[19];
    await fsp.writeFile(
      join(state, ".locks", "ns", "creating.lock"),
      JSON.stringify({ pid: process.pid, startTime: Number(me), host: hostname() }),
    );
    const dead = spawnSync("true").pid;
    await fsp.writeFile(
      join(state, ".locks", "ns", "old.lock"),
      JSON.stringify({ pid: dead, startTime: 1, host: hostname() }),
    );
  });
  after(async () => {
    for (const h of hold) h();
    await Promise.all(servers.map((s) => s.close()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it("inventories bundles and judges each", async () => {
    const t0 = Date.now();
    const r = await doctor({
      state,
      root,
      socketDirs: [join(dir, "s")],
      resolver: createRuntimeResolver({ path: "" }),
      timeoutMs: 400,
    });
    assert.ok(Date.now() - t0 < 3000, "a slow shim costs at most its timeout");
    const byId = new Map(r.bundles.map((b) => [b.id, b]));
    const health = Object.fromEntries(r.bundles.map((b) => [b.id, b.health]));
    assert.deepEqual(health, {
      broken: "broken",
      creating: "busy",
      empty: "empty",
      gone: "dead",
      leaked: "leaked",
      legacy: "ok",
      moved: "dead",
      ok2: "ok",
      refused: "dead",
      slow: "unresponsive",
      v3: "ok",
    });
    assert.equal(byId.get("ok2")?.taskStatus, "running");
    assert.equal(byId.get("ok2")?.shimPid, process.pid);
    assert.equal(byId.get("ok2")?.taskApi, 2);
    assert.equal(byId.get("v3")?.taskApi, 3);
    assert.equal(byId.get("legacy")?.bootstrap?.source, "address");
    assert.equal(byId.get("gone")?.dial, "missing");
    assert.equal(byId.get("refused")?.dial, "refused");
    assert.equal(byId.get("refused")?.taskAlive, true);
    assert.equal(byId.get("creating")?.lockedBy, process.pid);

    const codes = (id: string) => r.problems.filter((p) => p.id === id).map((p) => p.code);
    assert.deepEqual(codes("legacy"), ["missing-bootstrap"] satisfies ProblemCode[]);
    assert.deepEqual(
      codes("moved"),
      ["unresolvable-runtime", "missing-bootstrap", "dead-shim"] satisfies ProblemCode[],
    );
    assert.deepEqual(codes("broken"), ["bad-bootstrap"] satisfies ProblemCode[]);
    assert.deepEqual(codes("creating"), []);
    const others = r.problems.filter((p) => p.id === undefined || p.code === "orphan-work-dir").map((
      p,
    ) => [p.code, p.path]);
    assert.deepEqual(others, [
      ["orphan-work-dir", join(root, "ns", "orphan")],
      ["stale-socket", join(dir, "s", "stale")],
      ["stale-lock", join(state, ".locks", "ns", "old.lock")],
    ]);
    assert.equal(r.ok, false);
  });

  it("changes nothing on disk", async () => {
    await doctor({ state, root, timeoutMs: 200 });
    await assert.rejects(fsp.stat(join(state, "ns", "legacy", "bootstrap.json")));
    assert.ok(await fsp.stat(join(state, "ns", "empty")));
    assert.ok(await fsp.stat(join(root, "ns", "orphan")));
    assert.ok(await fsp.stat(join(state, ".locks", "ns", "old.lock")));
  });

  it("reports a record without a bundle by its name, also one that no longer parses", async () => {
    const d = await fsp.mkdtemp(join(tmpdir(), "sk-doc-rec-"));
    try {
      const recs = join(d, "root", ".records", "ns");
      await fsp.mkdir(recs, { recursive: true });
      await fsp.mkdir(join(d, "state", "ns", "kept"), { recursive: true });
      await fsp.writeFile(join(recs, "gone.json"), "{garbage");
      await fsp.writeFile(join(recs, "kept.json"), "{garbage");
      const r = await doctor({ state: join(d, "state"), root: join(d, "root"), timeoutMs: 200 });
      const orphans = r.problems.filter((p) => p.code === "orphan-record").map((p) => [p.id, p.path]);
      assert.deepEqual(orphans, [["gone", join(recs, "gone.json")]]);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });

  it("is ok on an empty or missing state dir", async () => {
    const r = await doctor({ state: join(dir, "nope"), root: join(dir, "nope2") });
    assert.deepEqual([r.ok, r.bundles, r.problems], [true, [], []]);
  });
});

describe("doctor() on containerd's own layout", {
  skip: needsAll(
    needsRoot(),
    needsBinary("containerd"),
    needsBinary("ctr"),
    needsBinary("containerd-shim-runc-v2"),
  ),
}, () => {
  const ns = "skdoctor";
  const id = `t${process.pid}`;
  let w = "";
  let daemon: ChildProcess | undefined;
  const sock = () => join(w, "c.sock");
  const ctr = (...args: string[]) =>
    spawnSync("ctr", ["--address", sock(), "-n", ns, ...args], { encoding: "utf8" });
  const plugin = "io.containerd.runtime.v2.task";

  async function startContainerd() {
    daemon = spawn(
      "containerd",
      [
        "--config",
        join(w, "config.toml"),
        "--root",
        join(w, "croot"),
        "--state",
        join(w, "cstate"),
        "--address",
        sock(),
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100 && ctr("version").status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  }
  async function stopContainerd() {
    const d = daemon;
    daemon = undefined;
    if (!d || d.exitCode !== null) return;
    const gone = new Promise((r) => d.once("exit", r));
    d.kill("SIGTERM");
    await gone;
  }

  before(async () => {
    w = await fsp.mkdtemp(join(tmpdir(), "sk-ctrd-"));
    const rootfs = await busyboxRootfs();
    await fsp.writeFile(
      join(w, "config.toml"),
      `version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[plugins."io.containerd.internal.v1.opt"]\n  path = "${w}/opt"\n`,
    );
    await startContainerd();
    const r = ctr("run", "-d", "--runc-root", join(w, "runc"), "--rootfs", rootfs, id, "/bin/sleep", "1000");
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    // containerd restores and cleans its own bundles; the socket of a killed shim it leaves behind.
    await startContainerd();
    ctr("tasks", "kill", "-s", "SIGKILL", id);
    for (
      let i = 0;
      i < 100 && ctr("tasks", "delete", id).status !== 0 && ctr("tasks", "ls", "-q").stdout.includes(id);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    ctr("containers", "delete", id);
    await stopContainerd();
    const hash = createHash("sha256").update(`${sock()}/${ns}/${id}`).digest("hex");
    await fsp.rm(`/run/containerd/s/${hash}`, { force: true });
    for (const c of await fsp.readdir("/sys/fs/cgroup").catch(() => [] as string[])) {
      await fsp.rmdir(join("/sys/fs/cgroup", c, ns)).catch(() => {});
    }
    await fsp.rm(w, { recursive: true, force: true });
  });

  it("reads a containerd 1.6 bundle, then sees its shim die", async () => {
    const state = join(w, "cstate", plugin);
    const root = join(w, "croot", plugin);
    let r = await doctor({ state, root, resolver: createRuntimeResolver({ path: process.env.PATH }) });
    assert.equal(r.bundles.length, 1);
    const b = r.bundles[0];
    assert.deepEqual([b.namespace, b.id, b.health, b.dial, b.taskStatus], [ns, id, "ok", "ok", "running"]);
    assert.equal(b.runtime, findBinary("containerd-shim-runc-v2"));
    assert.equal(b.runtimeSource, "shim-binary-path");
    assert.deepEqual([b.bootstrap?.version, b.bootstrap?.source], [2, "address"]);
    assert.ok(b.shimAlive && b.taskAlive);
    assert.deepEqual(r.problems.map((p) => p.code), ["missing-bootstrap"]);
    assert.equal(r.ok, true);
    assert.equal(existsSync(join(state, ns, id, "bootstrap.json")), false, "doctor migrates nothing");

    await stopContainerd(); // the shim outlives the daemon
    process.kill(b.shimPid!, "SIGKILL");
    // isProcessAlive counts a SIGKILLed Go shim alive until its last thread (and so its listening
    // socket) is gone; a dial before that would race the socket's close.
    while (isProcessAlive(b.shimPid!)) await new Promise((res) => setTimeout(res, 10));
    r = await doctor({ state, root });
    assert.deepEqual([r.bundles[0].health, r.bundles[0].dial, r.ok], ["dead", "refused", false]);
    assert.match(r.problems.find((p) => p.code === "dead-shim")!.message, /still runs unsupervised/);
  });
});
