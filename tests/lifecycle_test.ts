/**
 * The task lifecycle through {@link TaskManager} against real shims
 * (containerd-shim-runc-v2 and -v1, as root) and the fake shim: output,
 * exit codes, signals, exec, pids, events, control from a second manager on
 * the same dirs, and failed starts and creates that leave nothing behind.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRuntimeResolver } from "../src/runtime/resolve.ts";
import { execProcessSpec, generateDefaultSpec, type OciSpec } from "../src/spec/default_spec.ts";
import { eventsSocketPath } from "../src/bundle/layout.ts";
import { shimSocketAddress } from "../src/shim/socket.ts";
import { type Task, TaskManager } from "../src/task/manager.ts";
import type { TaskEvent } from "../src/events/topics.ts";
import { isDeadlineExceeded, isInvalidArgument } from "../src/errors.ts";
import { makeFifo } from "../src/platform/fifo.ts";
import { listRecords } from "../src/bundle/records.ts";
import { removeCgroupParents } from "./helpers/cgroups.ts";
import { removeEmptyParents, type TempState, tempState } from "./helpers/temp_state.ts";
import { assertNoLeaks, findLeaks, type LeakSnapshot, snapshotLeaks } from "./helpers/leaks.ts";
import { findBinary } from "./helpers/require.ts";
import { busyboxRootfs } from "./helpers/rootfs.ts";
import { shimRuntimes } from "./helpers/runtimes.ts";
import { cliCommand } from "./helpers/cli.ts";
import { createLogger } from "../src/log/logger.ts";
import { isProcessAlive } from "../src/platform/process.ts";

const NS = "lifecycle";
const CGROUP_PARENT = "shimkit-test";
const SIGTERM = 15;
const SIGKILL = 9;
/** Per-test and hook bound: real shims take tens of ms per step, more on a loaded machine. */
const T = { timeout: 60_000 };

const RUNTIMES = await shimRuntimes();

const suffix = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
const newId = (what: string) => `${what}-${suffix}-${++seq}`;

/** Mount points under a directory, from /proc/self/mountinfo. */
async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  return info.split("\n").map((l) => l.split(" ")[4]).filter((p) =>
    p !== undefined && p.startsWith(dir + "/")
  );
}

/** Runs `runc --root <root> list -q`: the ids of the containers runc knows. */
function runcList(root: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile("runc", ["--root", root, "list", "-q"], (err, stdout) => {
      if (err) reject(err);
      else resolve(stdout.split("\n").filter((l) => l !== ""));
    });
  });
}

/** Pids of the processes in a container's cgroup (`…/shimkit-test/<id>` in /proc/<pid>/cgroup). */
async function pidsInCgroup(id: string): Promise<number[]> {
  const want = `/${CGROUP_PARENT}/${id}`;
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cg = await readFile(`/proc/${name}/cgroup`, "utf8").catch(() => "");
    if (cg.split("\n").some((l) => l.endsWith(want))) out.push(Number(name));
  }
  return out;
}

/** Writes `<dir>/containerd-shim-fake-v2`, a wrapper that runs the fake shim through the CLI. */
async function fakeShimBin(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const cmd = [...cliCommand(), "fake-shim"].map(quote).join(" ");
  const path = join(bin, "containerd-shim-fake-v2");
  await writeFile(path, `#!/bin/sh\nexec ${cmd} "$@"\n`);
  await chmod(path, 0o755);
  return bin;
}

const waitFor = async (what: string, cond: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

for (const rc of RUNTIMES) {
  describe(`TaskManager lifecycle (${rc.runtime})`, { skip: rc.skip }, () => {
    let s: TempState;
    let tm: TaskManager;
    let rootfs: string;
    let leaks: LeakSnapshot;
    let path: string;
    const events: TaskEvent[] = [];
    let collecting: Promise<void>;

    const spec = (id: string, args: string[], extra: Partial<OciSpec> = {}): Record<string, unknown> => {
      const sp = generateDefaultSpec({ id, namespace: NS, args, rootfs, readonlyRootfs: true });
      (sp.linux as Record<string, unknown>).cgroupsPath = `/${CGROUP_PARENT}/${id}`;
      return { ...sp, ...extra };
    };
    const create = (
      id: string,
      args: string[],
      more: { stdout?: string; spec?: Record<string, unknown> } = {},
    ) =>
      tm.create({
        namespace: NS,
        id,
        runtime: rc.runtime,
        runtimeOptions: rc.runc ? { root: join(s.dir, "runc") } : undefined,
        spec: more.spec ?? spec(id, args),
        stdout: more.stdout,
      });
    const open = () =>
      TaskManager.open({
        state: s.state,
        root: s.root,
        socketDir: s.socketDir,
        resolver: createRuntimeResolver({ path }),
      });

    before(async () => {
      s = await tempState("sk-lc-");
      rootfs = rc.runc ? await busyboxRootfs() : join(s.dir, "rootfs");
      if (!rc.runc) await mkdir(rootfs);
      path = rc.runc ? process.env.PATH ?? "" : `${await fakeShimBin(s.dir)}:${process.env.PATH ?? ""}`;
      leaks = await snapshotLeaks([s.dir]);
      tm = await open();
      const sub = tm.subscribe({ namespace: NS });
      collecting = (async () => {
        for await (const ev of sub) events.push(ev);
      })();
    }, T);

    after(async () => {
      try {
        for (const t of await tm.list(NS)) await tm.delete(NS, t.id, { force: true }).catch(() => {});
        await tm.close();
        await collecting;
        assert.deepEqual(await mountsUnder(s.dir), []);
        await removeEmptyParents(s, NS);
        await assertNoLeaks(leaks, { timeoutMs: 3000 });
      } finally {
        await removeCgroupParents(CGROUP_PARENT);
        await s.cleanup();
      }
    }, T);

    it("create/start/wait/delete writes the output to a stdout file", T, async () => {
      const id = newId("hello");
      const out = join(s.dir, `${id}.out`);
      const task = await create(id, ["echo", "hello"], { stdout: `file://${out}` });
      assert.ok(task.pid > 0);
      assert.equal((await task.state()).status, "created");
      await task.start();
      const exit = await task.wait();
      assert.equal(exit.exitStatus, 0);
      assert.ok(exit.exitedAt instanceof Date);
      const del = await tm.delete(NS, id);
      assert.equal(del.exitStatus, 0);
      assert.equal(await readFile(out, "utf8"), "hello\n");
      assert.equal(existsSync(join(s.state, NS, id)), false);
      assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), []);
    });

    // Real runc shims only: they linger while their publisher retries (the fake shim's `linger` fault
    // covers the same path in the fault matrix).
    if (rc.runc) {
      it(
        "delete() stops a shim that still runs after Shutdown because nobody receives its events",
        T,
        async () => {
          // No events listener: the runc shim keeps retrying /tasks/* events, and keeps its TTRPC connection
          // open, for seconds after it answered Shutdown. It serves no other container, so delete() waits the
          // shutdown budget for it, then kills it instead of leaving it running.
          const s2 = await tempState("sk-lc-noev-");
          const snap = await snapshotLeaks([s2.dir]);
          const logs: string[] = [];
          const tm2 = await TaskManager.open({
            state: s2.state,
            root: s2.root,
            socketDir: s2.socketDir,
            resolver: createRuntimeResolver({ path }),
            events: false,
            timeouts: { shutdownMs: 1000 },
            logger: createLogger({ level: "debug", write: (l) => logs.push(l) }),
          });
          try {
            const id = newId("noev");
            const task = await tm2.create({
              namespace: NS,
              id,
              runtime: rc.runtime,
              runtimeOptions: { root: join(s2.dir, "runc") },
              spec: spec(id, ["true"]),
            });
            const shimPid = task.shim.pid;
            await task.start();
            assert.equal((await task.wait()).exitStatus, 0);
            const t0 = Date.now();
            assert.equal((await tm2.delete(NS, id)).exitStatus, 0);
            const ms = Date.now() - t0;
            await waitFor("the shim to be gone", () => !isProcessAlive(shimPid), 2000);
            const killed = logs.some((l) => /shim still running after Shutdown; killed/.test(l));
            // A shim that happened to exit within the budget is fine too; one still running must be killed.
            assert.ok(
              killed || ms < 1000,
              `delete took ${ms} ms without killing the shim:\n${logs.join("\n")}`,
            );
          } finally {
            try {
              await tm2.close();
              await removeEmptyParents(s2, NS);
              await assertNoLeaks(snap, { timeoutMs: 3000 });
            } finally {
              await s2.cleanup();
            }
          }
        },
      );
    }

    it("the exit code of the process propagates", T, async () => {
      const id = newId("exit3");
      const task = await create(id, ["sh", "-c", "exit 3"]);
      await task.start();
      assert.equal((await task.wait()).exitStatus, 3);
      assert.equal((await task.state()).status, "stopped");
      assert.equal((await tm.delete(NS, id)).exitStatus, 3);
    });

    it("a sleep killed with SIGTERM exits 143", T, async () => {
      const id = newId("sleep");
      // Without a pid namespace sleep is not the namespace's init, which would ignore SIGTERM (no handler).
      const sp = spec(id, ["sleep", "60"]);
      const linux = sp.linux as { namespaces: { type: string }[] };
      linux.namespaces = linux.namespaces.filter((n) => n.type !== "pid");
      const task = await create(id, [], { spec: sp });
      await task.start();
      assert.equal((await task.state()).status, "running");
      const waiting = task.wait();
      await task.kill(SIGTERM);
      assert.equal((await waiting).exitStatus, 143);
      await tm.delete(NS, id);
    });

    it("exec runs a process in the running container, with its own output; pids lists both", T, async () => {
      const id = newId("exec");
      const task = await create(id, ["sleep", "60"]);
      await task.start();
      const out = join(s.dir, `${id}.exec.out`);
      await task.exec("e1", {
        process: execProcessSpec(undefined, { args: ["echo", "from exec"] }),
        stdout: `file://${out}`,
      });
      const execPid = await task.start("e1");
      assert.ok(execPid > 0);
      const exit = await task.wait("e1");
      assert.equal(exit.exitStatus, 0);
      assert.equal(await readFile(out, "utf8"), "from exec\n");
      const del = await task.deleteProcess("e1");
      assert.equal(del.exitStatus, 0);

      await task.exec("e2", { process: execProcessSpec(undefined, { args: ["sleep", "60"] }) });
      const e2 = await task.start("e2");
      const pids = await task.pids();
      assert.ok(pids.some((p) => p.pid === task.pid), `init ${task.pid} in ${JSON.stringify(pids)}`);
      assert.ok(pids.some((p) => p.pid === e2), `exec ${e2} in ${JSON.stringify(pids)}`);
      await task.kill(SIGKILL, { all: true });
      assert.equal((await task.wait()).exitStatus, 137);
      await tm.delete(NS, id);
    });

    it(
      "publishes /tasks/create, /tasks/start, /tasks/exit and /tasks/delete exactly once each",
      T,
      async () => {
        const id = newId("events");
        const task = await create(id, ["true"]);
        await task.start();
        await task.wait();
        await tm.delete(NS, id);
        const topics = ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"];
        const mine = () => events.filter((e) => e.containerId === id);
        // Shims publish after replying, in no promised order: wait, then give duplicates a moment to show.
        await waitFor("the four task events", () => topics.every((t) => mine().some((e) => e.topic === t)));
        await new Promise((r) => setTimeout(r, 300));
        for (const t of topics) assert.equal(mine().filter((e) => e.topic === t).length, 1, t);
        const exit = mine().find((e) => e.topic === "/tasks/exit")!;
        assert.equal(exit.namespace, NS);
        assert.equal(exit.event.id, id);
        assert.equal(exit.event.pid, task.pid);
        assert.equal(exit.synthesized, undefined);
      },
    );

    it("a second TaskManager on the same dirs controls a task the first one created", T, async () => {
      const id = newId("shared");
      const task = await create(id, ["sleep", "60"]);
      await task.start();
      const tm2 = await open();
      try {
        const t2: Task = await tm2.get(NS, id);
        assert.equal(t2.pid, task.pid);
        const st = await t2.state();
        assert.equal(st.status, "running");
        assert.equal(st.pid, task.pid);
        const listed = (await tm2.list(NS)).find((r) => r.id === id);
        assert.equal(listed?.status, "running");
        // tm2 is not the events listener (tm is): it reads what tm journals.
        const sub2 = tm2.subscribe({ namespace: NS, topics: ["/tasks/exit"] });
        const waiting = t2.wait();
        await t2.kill(SIGKILL);
        assert.equal((await waiting).exitStatus, 137);
        const it = sub2[Symbol.asyncIterator]();
        let exitEv: TaskEvent | undefined;
        const deadline = Date.now() + 5000;
        while (!exitEv && Date.now() < deadline) {
          const r = await Promise.race([
            it.next(),
            new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
          ]);
          if (r && !r.done && r.value.containerId === id) exitEv = r.value;
        }
        sub2.close();
        assert.equal(exitEv?.event.exitStatus, 137);
        assert.equal((await tm2.delete(NS, id)).exitStatus, 137);
      } finally {
        await tm2.close();
      }
      // The first manager's connection went away with the shim: it must not report a dead shim.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(events.filter((e) => e.containerId === id && e.synthesized), []);
      await assert.rejects(tm.get(NS, id), (e: Error) => /not found/.test(e.message));
    });

    it("a start that fails leaves no bundle, shim process, socket or record", T, async () => {
      const id = newId("bad");
      const bad = rc.runc
        ? spec(id, ["true"], { root: { path: join(s.dir, "no-such-rootfs"), readonly: true } })
        : spec(id, ["true"], {
          annotations: { "io.shimkit.fake.fault.Create": "error(Internal, bad rootfs)" },
        });
      const snap = await snapshotLeaks([s.dir]);
      await assert.rejects(create(id, [], { spec: bad }), (e: Error) => {
        assert.match(e.message, new RegExp(`^create task "${NS}/${id}": `));
        return true;
      });
      assert.equal(existsSync(join(s.state, NS, id)), false);
      assert.equal(existsSync(join(s.root, NS, id)), false);
      assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), []);
      if (rc.runc) {
        const sock = shimSocketAddress({ grpcAddress: eventsSocketPath(s.state), namespace: NS, id }).slice(
          "unix://".length,
        );
        assert.equal(existsSync(sock), false, `socket ${sock}`);
      }
      await assertNoLeaks(snap, { timeoutMs: 3000 });
    });

    it(
      "a Create that fails after runc create (stdout FIFO without a reader) leaves no container, process, mount or bundle",
      { ...T, skip: rc.runc ? false : "runc only" },
      async () => {
        // runc create succeeds ("created", init waiting); the shim then blocks opening the FIFO for writing
        // until the Create deadline and fails without deleting the container: only `shim delete` removes it.
        const id = newId("nofifo");
        const fifo = join(s.dir, `${id}.fifo`);
        await makeFifo(fifo, 0o600);
        const sp = spec(id, ["true"]);
        sp.root = { path: "rootfs", readonly: true };
        const snap = await snapshotLeaks([s.dir]);
        const tmc = await TaskManager.open({
          state: s.state,
          root: s.root,
          socketDir: s.socketDir,
          resolver: createRuntimeResolver({ path }),
          timeouts: { createMs: 1500 },
          events: false,
        });
        try {
          await assert.rejects(
            tmc.create({
              namespace: NS,
              id,
              runtime: rc.runtime,
              runtimeOptions: { root: join(s.dir, "runc") },
              spec: sp,
              // Mounted on <bundle>/rootfs by the shim: a leaked container would keep it mounted.
              rootfs: [{ type: "bind", source: rootfs, options: ["rbind", "ro"] }],
              stdout: fifo,
            }),
            (e: Error) => {
              assert.match(e.message, new RegExp(`^create task "${NS}/${id}": shim create "${id}": `));
              assert.ok(isDeadlineExceeded(e) || /fifo/.test(e.message), e.message);
              return true;
            },
          );
        } finally {
          await tmc.close();
        }
        assert.deepEqual(await runcList(join(s.dir, "runc", NS)), [], "runc containers");
        assert.deepEqual(await pidsInCgroup(id), [], "processes in the container's cgroup");
        assert.deepEqual(await mountsUnder(s.dir), [], "mounts");
        assert.equal(existsSync(join(s.state, NS, id)), false, "bundle");
        assert.equal(existsSync(join(s.root, NS, id)), false, "work dir");
        assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), [], "record");
        await rm(fifo);
        // Processes only: the parent dirs (records, locks) may be new when this test runs alone.
        const deadline = Date.now() + 3000;
        while ((await findLeaks(snap)).processes.length > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual((await findLeaks(snap)).processes, [], "processes");
      },
    );

    it(
      "a shim that dies is cleaned up once across managers: synthesized exit and delete, nothing left",
      T,
      async () => {
        const id = newId("dies");
        const task = await create(id, ["sleep", "60"]);
        await task.start();
        const tm2 = await open();
        try {
          await tm2.get(NS, id);
          process.kill(task.shim.pid, "SIGKILL");
          const mine = () => events.filter((e) => e.containerId === id && e.synthesized);
          await waitFor("synthesized exit and delete", () => mine().length >= 2, 10_000);
          await new Promise((r) => setTimeout(r, 300));
          assert.deepEqual(mine().map((e) => e.topic).sort(), ["/tasks/delete", "/tasks/exit"]);
          const exit = mine().find((e) => e.topic === "/tasks/exit")!;
          assert.equal(exit.event.id, id);
          if (rc.runc) assert.equal(exit.event.exitStatus, 137);
          await waitFor("bundle removal", () => !existsSync(join(s.state, NS, id)));
          if (rc.runc) {
            // A killed shim leaves its socket behind; the cleanup removes it.
            assert.equal(existsSync(task.shim.address.slice("unix://".length)), false);
          }
          assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), []);
          await assert.rejects(tm.get(NS, id), /not found/);
          await assert.rejects(tm2.get(NS, id), /not found/);
        } finally {
          await tm2.close();
        }
      },
    );

    it("delete cleans up a task whose shim died while nobody was connected", T, async () => {
      const id = newId("orphan");
      const task = await create(id, ["sleep", "60"]);
      await task.start();
      await tm.shims.release(task.shim);
      process.kill(task.shim.pid, "SIGKILL");
      const tm2 = await open();
      try {
        const exit = await tm2.delete(NS, id);
        if (rc.runc) assert.equal(exit.exitStatus, 137);
        assert.equal(existsSync(join(s.state, NS, id)), false);
        assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), []);
        await waitFor(
          "synthesized events",
          () => events.filter((e) => e.containerId === id && e.synthesized).length >= 2,
        );
        await assert.rejects(tm2.delete(NS, id), /not found/);
      } finally {
        await tm2.close();
      }
    });

    // Only the runc v2 shim groups containers (by annotation); runc v1 and the fake shim serve one each.
    if (rc.runtime === "io.containerd.runc.v2") {
      it(
        "deleting one of two containers the runtime grouped into one shim leaves the shim serving the other",
        T,
        async () => {
          const group = newId("grp");
          const grouped = (id: string) => {
            const sp = spec(id, ["sleep", "60"]);
            sp.annotations = {
              ...(sp.annotations as Record<string, string> | undefined),
              "io.containerd.runc.v2.group": group,
            };
            return sp;
          };
          const a = newId("ga");
          const b = newId("gb");
          const ta = await create(a, [], { spec: grouped(a) });
          await ta.start();
          const tb = await create(b, [], { spec: grouped(b) });
          await tb.start();
          assert.equal(tb.shim.pid, ta.shim.pid, "one shim serves both");
          await ta.kill(9);
          await ta.wait();
          // Shutdown is a no-op while the shim holds b: delete() must neither wait out its budget nor kill it.
          const t0 = Date.now();
          await tm.delete(NS, a);
          assert.ok(Date.now() - t0 < 1000, `delete took ${Date.now() - t0} ms`);
          assert.ok(isProcessAlive(tb.shim.pid), "the shared shim still runs");
          assert.equal((await (await tm.get(NS, b)).state()).status, "running");
          await tm.delete(NS, b, { force: true });
          await waitFor("the shim to exit", () => !isProcessAlive(tb.shim.pid), 5000);
        },
      );
    }

    it("a task joins a sandbox's shim by address; deleting it leaves the sandbox shim serving", {
      ...T,
      skip: rc.runtime === "io.containerd.runc.v1" ? "the runc v1 shim serves a single container" : false,
    }, async () => {
      const sbId = newId("sandbox");
      const sb = await create(sbId, ["sleep", "60"]);
      await sb.start();
      const id = newId("member");
      await assert.rejects(
        tm.create({
          namespace: NS,
          id,
          runtime: rc.runtime,
          spec: spec(id, ["true"]),
          sandboxId: sbId,
          sandboxAddress: sb.shim.address,
        }),
        (e: Error) => isInvalidArgument(e) && /<protocol>\+<transport>/.test(e.message),
      );
      assert.equal(existsSync(join(s.state, NS, id)), false);
      const member = await tm.create({
        namespace: NS,
        id,
        runtime: rc.runtime,
        runtimeOptions: rc.runc ? { root: join(s.dir, "runc") } : undefined,
        spec: spec(id, ["sleep", "60"]),
        sandboxId: sbId,
        sandboxAddress: "ttrpc+" + sb.shim.address,
      });
      assert.equal(member.shim.sandboxed, true);
      assert.equal(await readFile(join(s.state, NS, id, "sandbox"), "utf8"), sbId);
      await member.start();
      assert.equal((await member.state()).status, "running");
      await member.kill(SIGKILL);
      await member.wait();
      await tm.delete(NS, id);
      assert.equal((await sb.state()).status, "running");
      await sb.kill(SIGKILL);
      await sb.wait();
      await tm.delete(NS, sbId);
    });

    it("checks runtime features through -info only for idmapped mounts", {
      ...T,
      skip: rc.runc ? false : "runc only",
    }, async () => {
      const id = newId("idmap");
      const sp = spec(id, ["true"]);
      (sp.mounts as Record<string, unknown>[]).push({
        destination: "/mnt",
        type: "bind",
        source: s.dir,
        options: ["rbind"],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      });
      // containerd 1.6 shims have no -info, so the check fails before Create and nothing is left.
      await assert.rejects(create(id, [], { spec: sp }), /validate runtime features: .*-info/);
      assert.equal(existsSync(join(s.state, NS, id)), false);
      assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), []);
    });

    it("rejects bad ids before touching anything", T, async () => {
      await assert.rejects(
        tm.create({ namespace: NS, id: "../x", runtime: rc.runtime, spec: {} }),
        /invalid/i,
      );
      assert.equal(existsSync(join(s.state, "x")), false);
      const id = newId("badreq");
      const bad = [
        { stderr: "/e", terminal: true },
        { sandboxAddress: "ttrpc+unix:///x.sock" },
        { runtimeOptions: { noSuchOption: true } },
      ];
      for (const extra of bad) {
        await assert.rejects(
          tm.create({ namespace: NS, id, runtime: rc.runtime, spec: spec(id, ["true"]), ...extra }),
          isInvalidArgument,
        );
        assert.equal(existsSync(join(s.state, NS, id)), false);
      }
    });
  });
}

describe("lifecycle test helpers", () => {
  it("findBinary() finds sh", () => assert.ok(findBinary("sh")));
});
