import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, renameSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as net from "node:net";
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Client, createClient, TtrpcError } from "../../vendor/ttrpc-ts/mod.ts";
import { DeleteResponseSchema } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { Shim as ShimV1 } from "../gen/containerd/runtime/linux/shim/v1/shim_pb.ts";
import { RuntimeInfoSchema } from "../gen/containerd/types/introspection_pb.ts";
import { BootstrapResultSchema } from "../gen/containerd/runtime/bootstrap/v1/bootstrap_pb.ts";
import { Status } from "../gen/containerd/v1/types/task_pb.ts";
import { readFakeState } from "./state_file.ts";
import { eventually, type FakeEnv, fakeEnv, waitGone } from "./test_helpers.ts";

const NS = "fakens";
const md = { "containerd-namespace-ttrpc": NS };

function startArgs(fe: FakeEnv, id: string): string[] {
  return [
    "-namespace",
    NS,
    "-id",
    id,
    "-address",
    join(fe.dir, "containerd.sock"),
    "-publish-binary",
    "/bin/true",
    "start",
  ];
}

function addressOf(stdout: Uint8Array): string {
  const text = new TextDecoder().decode(stdout);
  const parsed = JSON.parse(text) as { version: number; address: string; protocol: string };
  assert.equal(parsed.version, 3);
  assert.equal(parsed.protocol, "ttrpc");
  assert.ok(!text.endsWith("\n"), "no trailing newline, like the real shims");
  return parsed.address;
}

async function startFake(fe: FakeEnv, id: string, args: string[], annotations: Record<string, string> = {}) {
  const bundle = await fe.bundle(id, args, annotations);
  const r = await fe.run(startArgs(fe, id), { cwd: bundle });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const address = addressOf(r.stdout);
  const client = await Client.dial(address, { metadata: md, timeoutMs: 10_000 });
  return { bundle, address, client, task: createClient(TaskV3, client) };
}

describe("fake shim binary protocol", () => {
  let fe: FakeEnv;
  before(async () => {
    fe = await fakeEnv();
  });
  after(async () => {
    await fe.cleanup();
  });

  it("start → create/start/wait/delete → shutdown: events in order, daemon and socket gone", {
    timeout: 30_000,
  }, async () => {
    const { bundle, address, client, task } = await startFake(fe, "c1", ["sh", "-c", "echo hi; exit 3"]);
    const outFile = join(fe.dir, "c1.out");
    const again = await fe.run(startArgs(fe, "c1"), { cwd: bundle });
    assert.equal(addressOf(again.stdout), address, "a second start returns the same address");

    const conn = await task.connect({ id: "c1" });
    assert.ok(conn.shimPid > 0);
    const { pid } = await task.create({ id: "c1", bundle, stdout: `file://${outFile}`, stderr: "" });
    assert.ok(pid >= 4194304);
    assert.equal((await task.state({ id: "c1" })).status, Status.CREATED);
    await task.start({ id: "c1" });
    const w = await task.wait({ id: "c1" });
    assert.equal(w.exitStatus, 3);
    assert.equal(await readFile(outFile, "utf8"), "hi\n");
    const d = await task.delete({ id: "c1" });
    assert.equal(d.exitStatus, 3);
    assert.ok(await eventually(() => fe.events.length >= 4));
    assert.deepEqual(fe.events.map((e) => e.topic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exit",
      "/tasks/delete",
    ]);
    assert.equal(fe.events[0].namespace, NS);
    assert.equal(fe.events[2].event?.typeUrl, "containerd.events.TaskExit");

    await task.shutdown({ id: "c1" }).catch((e) => assert.ok(e instanceof TtrpcError, String(e)));
    client.close();
    assert.ok(await waitGone(conn.shimPid), "daemon exits after Shutdown");
    assert.equal(existsSync(address.slice("unix://".length)), false, "socket removed");
    assert.match(fe.logs.get("c1") ?? "", /starting fake shim daemon/);
  });

  it("serves task v2 too, and Create without the namespace header fails", { timeout: 30_000 }, async () => {
    const { bundle, address, client } = await startFake(fe, "c2", ["sleep", "infinity"]);
    const bareClient = await Client.dial(address);
    const bare = createClient(TaskV2, bareClient);
    await assert.rejects(bare.create({ id: "c2", bundle }), (e: unknown) => {
      assert.ok(e instanceof TtrpcError);
      assert.equal(e.code, 9);
      assert.match(e.message, /namespace is required/);
      return true;
    });
    bareClient.close();
    const v2 = createClient(TaskV2, client);
    await v2.create({ id: "c2", bundle });
    await v2.start({ id: "c2" });
    await v2.kill({ id: "c2", signal: 15 });
    assert.equal((await v2.wait({ id: "c2" })).exitStatus, 143);
    const pid = (await v2.connect({ id: "c2" })).shimPid;
    await v2.delete({ id: "c2" });
    await v2.shutdown({ id: "c2" }).catch(() => undefined);
    client.close();
    assert.ok(await waitGone(pid));
  });

  it(
    "delete subcommand kills a live daemon and reports 137, removing the socket",
    { timeout: 30_000 },
    async () => {
      const { bundle, address, client, task } = await startFake(fe, "c3", ["sleep", "infinity"]);
      await task.create({ id: "c3", bundle });
      await task.start({ id: "c3" });
      const { shimPid } = await task.connect({ id: "c3" });
      const r = await fe.run([
        "-namespace",
        NS,
        "-id",
        "c3",
        "-address",
        join(fe.dir, "containerd.sock"),
        "-bundle",
        bundle,
        "delete",
      ], { cwd: bundle });
      assert.equal(r.code, 0, r.stderr);
      const resp = fromBinary(DeleteResponseSchema, r.stdout);
      assert.equal(resp.exitStatus, 137);
      assert.ok(resp.pid >= 4194304);
      assert.ok(resp.exitedAt && resp.exitedAt.seconds > 0n);
      client.close();
      assert.ok(await waitGone(shimPid));
      assert.equal(existsSync(address.slice("unix://".length)), false);
    },
  );

  it("-v and -info describe the fake", { timeout: 30_000 }, async () => {
    const v = await fe.run(["-v"]);
    assert.equal(v.code, 0);
    assert.match(new TextDecoder().decode(v.stdout), /Version:/);
    const info = await fe.run(["-info"]);
    assert.equal(info.code, 0);
    const ri = fromBinary(RuntimeInfoSchema, info.stdout);
    assert.equal(ri.name, "io.containerd.fake.v2");
    assert.ok(ri.features?.typeUrl.includes("features"));
    const help = await fe.run(["--help"]);
    assert.equal(help.code, 0);
    assert.match(new TextDecoder().decode(help.stdout), /leak-process/);
    const bad = await fe.run(["-nope", "start"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /flag provided but not defined: -nope/);
  });
});

describe("fake shim faults end to end", () => {
  let fe: FakeEnv;
  before(async () => {
    fe = await fakeEnv();
  });
  after(async () => {
    await fe.cleanup();
  });

  it("start fault fail(3,boom) exits 3 with the runtime-prefixed stderr", { timeout: 30_000 }, async () => {
    const bundle = await fe.bundle("f1", [], { "io.shimkit.fake.fault.start": "fail(3,boom)" });
    const r = await fe.run(startArgs(fe, "f1"), { cwd: bundle });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, "io.containerd.fake.v2: boom");
    assert.equal(r.stdout.length, 0);
  });

  it(
    "start faults garbage and dead-address print unusable output without a daemon",
    { timeout: 30_000 },
    async () => {
      const b1 = await fe.bundle("f2", [], { "io.shimkit.fake.fault.start": "garbage(xyz)" });
      assert.equal(new TextDecoder().decode((await fe.run(startArgs(fe, "f2"), { cwd: b1 })).stdout), "xyz");
      const b2 = await fe.bundle("f3", [], {
        "io.shimkit.fake.scenario": `bootstrap = "plain"\n[faults]\nstart = "dead-address"`,
      });
      const r = await fe.run(startArgs(fe, "f3"), { cwd: b2 });
      const addr = new TextDecoder().decode(r.stdout);
      assert.match(addr, /^unix:\/\//);
      await assert.rejects(Client.dial(addr), (e: unknown) => (e as { code?: string }).code === "ENOENT");
    },
  );

  it("RPC faults: error, close, oversize, then crash leaves a stale socket that delete cleans", {
    timeout: 30_000,
  }, async () => {
    const { bundle, address, client, task } = await startFake(fe, "f4", ["sleep", "infinity"], {
      "io.shimkit.fake.fault.Create": "1*error(NotFound,boom)",
      "io.shimkit.fake.fault.Stats": "oversize",
      "io.shimkit.fake.fault.Pids": "1*close",
      "io.shimkit.fake.fault.Pause": "crash",
    });
    const { shimPid } = await task.connect({ id: "f4" });
    await assert.rejects(task.create({ id: "f4", bundle }), (e: unknown) => {
      assert.ok(e instanceof TtrpcError);
      assert.deepEqual([e.code, e.message], [5, "boom"]);
      return true;
    });
    await task.create({ id: "f4", bundle });
    await assert.rejects(task.stats({ id: "f4" }), (e: unknown) => e instanceof TtrpcError && e.code === 8);
    await assert.rejects(task.pids({ id: "f4" }));
    client.close();
    const c2 = await Client.dial(address, { metadata: md });
    const t2 = createClient(TaskV3, c2);
    assert.equal(
      (await t2.pids({ id: "f4" })).processes.length,
      1,
      "the daemon survives a closed connection",
    );
    await t2.start({ id: "f4" });
    await assert.rejects(t2.pause({ id: "f4" }));
    c2.close();
    assert.ok(await waitGone(shimPid), "crash kills the daemon");
    const path = address.slice("unix://".length);
    assert.ok(existsSync(path), "a crashed daemon leaves its socket");
    await assert.rejects(
      Client.dial(address),
      (e: unknown) => (e as { code?: string }).code === "ECONNREFUSED",
    );
    const r = await fe.run([
      "-namespace",
      NS,
      "-id",
      "f4",
      "-address",
      join(fe.dir, "containerd.sock"),
      "-bundle",
      bundle,
      "delete",
    ], { cwd: bundle });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fromBinary(DeleteResponseSchema, r.stdout).exitStatus, 137);
    assert.equal(existsSync(path), false);
  });

  it("daemon fault die makes the socket refuse connections", { timeout: 30_000 }, async () => {
    const bundle = await fe.bundle("f5", [], { "io.shimkit.fake.fault.daemon": "die+stale-socket" });
    const r = await fe.run(startArgs(fe, "f5"), { cwd: bundle });
    const address = addressOf(r.stdout);
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await Client.dial(address).then(
        (c) => (c.close(), false),
        (e) => (e as { code?: string }).code === "ECONNREFUSED",
      );
      if (!refused) await new Promise((res) => setTimeout(res, 50));
    }
    assert.ok(refused);
  });

  it("events fault dup-exit publishes /tasks/exit twice", { timeout: 30_000 }, async () => {
    fe.events.length = 0;
    const { bundle, client, task } = await startFake(fe, "f6", ["true"], {
      "io.shimkit.fake.fault.events": "dup-exit",
    });
    await task.create({ id: "f6", bundle });
    await task.start({ id: "f6" });
    await task.wait({ id: "f6" });
    const { shimPid } = await task.connect({ id: "f6" });
    await task.delete({ id: "f6" });
    await task.shutdown({ id: "f6" }).catch(() => undefined);
    client.close();
    assert.ok(await waitGone(shimPid));
    assert.deepEqual(fe.events.map((e) => e.topic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exit",
      "/tasks/exit",
      "/tasks/delete",
    ]);
  });
});

describe("fake shim more faults end to end", () => {
  let fe: FakeEnv;
  before(async () => {
    fe = await fakeEnv();
  });
  after(async () => {
    await fe.cleanup();
  });

  async function shutdown(task: ReturnType<typeof createClient<typeof TaskV3>>, client: Client, id: string) {
    const { shimPid } = await task.connect({ id });
    await task.shutdown({ id }).catch(() => undefined);
    client.close();
    assert.ok(await waitGone(shimPid), "daemon exits after Shutdown");
  }

  it("daemon faults leak-process and log-flood: a real leaked pid in Pids that outlives the shim", {
    timeout: 30_000,
  }, async () => {
    const { bundle, client, task } = await startFake(fe, "m1", ["true"], {
      "io.shimkit.fake.fault.daemon": "leak-process(30s)+log-flood(256KiB)",
    });
    await task.create({ id: "m1", bundle });
    const pids = (await task.pids({ id: "m1" })).processes.map((p) => p.pid);
    assert.equal(pids.length, 2);
    const leaked = pids.find((p) => p < 4194304)!;
    process.kill(leaked, 0);
    await task.delete({ id: "m1" });
    await shutdown(task, client, "m1");
    process.kill(leaked, 0);
    process.kill(leaked, "SIGKILL");
    assert.ok(await waitGone(leaked));
    assert.ok(
      await eventually(() => (fe.logs.get("m1") ?? "").length >= 256 * 1024),
      "the log fifo got the flood",
    );
  });

  it(
    "RPC faults latency and hang: a late answer, then a call that never answers",
    { timeout: 30_000 },
    async () => {
      const { client, task } = await startFake(fe, "m2", [], {
        "io.shimkit.fake.fault.Connect": "1*latency(300ms)->1*hang",
      });
      const t0 = Date.now();
      await task.connect({ id: "m2" });
      assert.ok(Date.now() - t0 >= 290, "answered late");
      await assert.rejects(task.connect({ id: "m2" }, { timeoutMs: 300 }), (e: unknown) => {
        assert.ok(e instanceof TtrpcError && e.code === 4, String(e));
        return true;
      });
      await shutdown(task, client, "m2");
    },
  );

  it(
    "start prints protobuf bootstrap or an unsupported version as scripted",
    { timeout: 30_000 },
    async () => {
      const b1 = await fe.bundle("m3", [], { "io.shimkit.fake.scenario": `bootstrap = "protobuf"` });
      const r1 = await fe.run(startArgs(fe, "m3"), { cwd: b1 });
      const res = fromBinary(BootstrapResultSchema, r1.stdout);
      assert.equal(res.version, 3);
      const c1 = await Client.dial(res.address, { metadata: md });
      await shutdown(createClient(TaskV3, c1), c1, "m3");

      const b2 = await fe.bundle("m4", [], { "io.shimkit.fake.fault.start": "version(9)" });
      const r2 = await fe.run(startArgs(fe, "m4"), { cwd: b2 });
      const parsed = JSON.parse(new TextDecoder().decode(r2.stdout));
      assert.equal(parsed.version, 9);
      const c2 = await Client.dial(parsed.address, { metadata: md });
      await shutdown(createClient(TaskV3, c2), c2, "m4");
    },
  );

  it("start has recorded the daemon (pid, socket) when it prints, so an immediate delete stops it", {
    timeout: 30_000,
  }, async () => {
    const bundle = await fe.bundle("m6", ["sleep", "infinity"]);
    const r = await fe.run(startArgs(fe, "m6"), { cwd: bundle });
    assert.equal(r.code, 0, r.stderr);
    const socket = addressOf(r.stdout).replace(/^unix:\/\//, "");
    const st = await readFakeState(bundle);
    assert.ok(st, "the state file exists as soon as start returns");
    assert.equal(st.socket, socket);
    const cmdline = await readFile(`/proc/${st.daemonPid}/cmdline`, "utf8");
    assert.match(cmdline, /fake-shim\0-namespace\0fakens\0-id\0m6\0/, "daemonPid is the daemon's");

    const d = await fe.run(["-namespace", NS, "-id", "m6", "-address", "x", "-bundle", bundle, "delete"], {
      cwd: bundle,
    });
    assert.equal(d.code, 0, d.stderr);
    assert.ok(await waitGone(st.daemonPid), "delete killed the daemon");
    assert.equal(existsSync(socket), false, "delete removed the socket");
  });

  it("delete fault fail makes the delete subcommand exit non-zero", { timeout: 30_000 }, async () => {
    const bundle = await fe.bundle("m5", [], {
      "io.shimkit.fake.fault.delete": 'fail(2,"cannot delete, sorry")',
    });
    const r = await fe.run(["-namespace", NS, "-id", "m5", "-address", "x", "-bundle", bundle, "delete"], {
      cwd: bundle,
    });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "io.containerd.fake.v2: cannot delete, sorry");
  });
});

describe("fake shim v1 flavour", () => {
  let fe: FakeEnv;
  before(async () => {
    fe = await fakeEnv();
  });
  after(async () => {
    await fe.cleanup();
  });

  it(
    "serves containerd.runtime.linux.shim.v1.Shim on -socket and exits on SIGTERM",
    { timeout: 30_000 },
    async () => {
      const bundle = await fe.bundle("v1c", ["sleep", "infinity"]);
      const sock = join(fe.dir, "v1.sock");
      const child = fe.spawnFake([
        "--flavour",
        "v1",
        "-namespace",
        NS,
        "-workdir",
        fe.dir,
        "-socket",
        `unix://${sock}`,
      ], { cwd: bundle });
      let stderr = "";
      child.stderr!.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
      assert.ok(await eventually(() => existsSync(sock), 10_000));
      const client = await Client.dial(sock);
      const shim = createClient(ShimV1, client);
      const info = await shim.shimInfo({});
      assert.equal(info.shimPid, child.pid);
      const { pid } = await shim.create({ id: "v1c", bundle });
      assert.ok(pid >= 4194304);
      assert.equal((await shim.start({ id: "v1c" })).pid, pid);
      await shim.exec({
        id: "e1",
        spec: create(AnySchema, {
          typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
          value: new TextEncoder().encode(`{"args":["sleep","infinity"]}`),
        }),
      });
      await shim.start({ id: "e1" });
      assert.equal((await shim.listPids({ id: "v1c" })).processes.length, 2);
      await shim.kill({ id: "v1c", signal: 9, all: true });
      assert.equal((await shim.wait({ id: "e1" })).exitStatus, 137);
      assert.equal((await shim.wait({ id: "v1c" })).exitStatus, 137);
      await shim.deleteProcess({ id: "e1" });
      const d = await shim.delete({});
      assert.equal(d.exitStatus, 137);
      client.close();
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      await exited;
      // Deno's child_process reports a handled SIGTERM as death by signal, so check the effects instead.
      assert.ok(await eventually(() => /reason=SIGTERM/.test(stderr)), stderr);
      assert.equal(existsSync(sock), false);
    },
  );

  it("serves an inherited fd-3 listener, an abstract socket, and rejects socket paths over 106 bytes", {
    timeout: 30_000,
  }, async () => {
    const bundle = await fe.bundle("v1d", ["true"]);
    const sock = join(fe.dir, "v1fd.sock");
    const tmp = join(fe.dir, "v1fd.tmp");
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(tmp, r));
    const fd = (srv as unknown as { _handle: { fd: number } })._handle.fd;
    const child = fe.spawnFake(["--flavour", "v1", "-namespace", NS], {
      cwd: bundle,
      stdio: ["ignore", "ignore", "pipe", fd],
    });
    let stderr = "";
    child.stderr!.on("data", (c: Uint8Array) => (stderr += new TextDecoder().decode(c)));
    // Hand the socket over: rename it, then close our copy (closing unlinks only the old name).
    renameSync(tmp, sock);
    await new Promise((r) => srv.close(r));
    const client = await Client.dial(sock);
    const shim = createClient(ShimV1, client);
    assert.equal((await shim.shimInfo({})).shimPid, child.pid);
    client.close();
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    await exited;
    assert.ok(await eventually(() => /reason=SIGTERM/.test(stderr)), stderr);

    const abstract = `/shimkit-fake-test/${process.pid}/${Date.now()}`;
    const child2 = fe.spawnFake(["--flavour", "v1", "-namespace", NS, "-socket", abstract], { cwd: bundle });
    let c2: Client | undefined;
    for (let i = 0; i < 200 && !c2; i++) {
      c2 = await Client.dial("\0" + abstract).catch(() => undefined);
      if (!c2) await new Promise((res) => setTimeout(res, 25));
    }
    assert.ok(c2, "abstract socket reachable");
    assert.equal((await createClient(ShimV1, c2).shimInfo({})).shimPid, child2.pid);
    c2.close();
    const exited2 = new Promise<void>((r) => child2.once("exit", () => r()));
    child2.kill("SIGTERM");
    await exited2;

    const long = `unix:///${"x".repeat(120)}`;
    const r = await fe.run(["--flavour", "v1", "-namespace", NS, "-socket", long], { cwd: bundle });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /too long/);
  });
});
