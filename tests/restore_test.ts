/**
 * Restore after restart against the real runc shim (as root): dead shims cleaned up once with
 * their exit reported, the reboot cases, a wedged shim bounded by its budget, a containerd 1.6
 * bundle migrated, leaked shims reaped, and a manager SIGKILLed at every step of a task's life
 * leaving nothing behind once `loadExisting` ran. Every test checks processes (by pid),
 * mounts and directories.
 */
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRuntimeResolver, type RuntimeResolver } from "../src/runtime/resolve.ts";
import { generateDefaultSpec } from "../src/spec/default_spec.ts";
import { type Task, TaskManager } from "../src/task/manager.ts";
import { listRecords, readRecord } from "../src/bundle/records.ts";
import { createBundle } from "../src/bundle/bundle.ts";
import { isProcessAlive, listPidsWithCwd, selfCommand } from "../src/platform/process.ts";
import { cleanupWorkDirs, loadExisting, type LoadReport } from "../src/shim/loader.ts";
import { dialPath } from "../src/shim/socket.ts";
import type { TaskEvent } from "../src/events/topics.ts";
import { removeCgroupParents } from "./helpers/cgroups.ts";
import { mountsUnder, removeEmptyParents, type TempState, tempState } from "./helpers/temp_state.ts";
import { assertNoLeaks, type LeakSnapshot, snapshotLeaks } from "./helpers/leaks.ts";
import { needsAll, needsBinary, needsRoot } from "./helpers/require.ts";
import { busyboxRootfs, findBusybox } from "./helpers/rootfs.ts";

const NS = "restore";
const RUNTIME = "io.containerd.runc.v2";
const CGROUP_PARENT = "shimkit-restore";
const T = { timeout: 60_000 };
const skip = needsAll(
  needsRoot(),
  needsBinary("containerd-shim-runc-v2"),
  needsBinary("runc"),
  (await findBusybox()) ? false : "needs busybox",
);

const suffix = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
const newId = (what: string) => `${what}-${suffix}-${++seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pids: readonly number[], ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (pids.some(isProcessAlive)) {
    if (Date.now() > deadline) {
      throw new Error(`processes still alive: ${pids.filter(isProcessAlive).join(", ")}`);
    }
    await sleep(20);
  }
}

describe("loadExisting() with the runc shim", { skip }, () => {
  let s: TempState;
  let rootfs: string;
  let resolver: RuntimeResolver;
  let leaks: LeakSnapshot;
  const managers: TaskManager[] = [];
  /** Pids a test stopped with SIGSTOP: continued and killed in afterEach whatever happened. */
  const stopped: number[] = [];

  const spec = (id: string, args: string[]) => {
    const sp = generateDefaultSpec({ id, namespace: NS, args, rootfs, readonlyRootfs: true });
    (sp.linux as Record<string, unknown>).cgroupsPath = `/${CGROUP_PARENT}/${id}`;
    return sp as unknown as Record<string, unknown>;
  };
  const open = async (loadMs = 5000) => {
    const tm = await TaskManager.open({
      state: s.state,
      root: s.root,
      socketDir: s.socketDir,
      resolver,
      timeouts: { loadMs },
    });
    managers.push(tm);
    return tm;
  };
  const close = async (tm: TaskManager) => {
    managers.splice(managers.indexOf(tm), 1);
    await tm.close();
  };
  const load = (tm: TaskManager, budgetMs = 5000) =>
    loadExisting(tm, { state: s.state, root: s.root, resolver, budgetMs, socketDirs: [s.socketDir] });
  const create = (tm: TaskManager, id: string, args = ["sleep", "60"]) =>
    tm.create({
      namespace: NS,
      id,
      runtime: RUNTIME,
      runtimeOptions: { root: join(s.dir, "runc") },
      spec: spec(id, args),
    });
  /** Creates and starts a task in a manager that then goes away; returns its pids. */
  const runDetached = async (id: string) => {
    const tm = await open();
    const task = await create(tm, id);
    await task.start();
    const pids = { shim: task.shim.pid, task: task.pid, address: task.shim.address };
    await close(tm);
    return pids;
  };
  const bundlePath = (id: string) => join(s.state, NS, id);
  const ids = (r: LoadReport, k: "kept" | "reaped") => r[k].map((x) => x.id).sort();
  /** Asserts that nothing of the container is left on disk. */
  const assertGone = async (id: string) => {
    assert.equal(existsSync(bundlePath(id)), false, "bundle removed");
    assert.equal(existsSync(join(s.root, NS, id)), false, "work dir removed");
    assert.deepEqual(
      (await listRecords(s.root, NS)).records.filter((r) => r.id === id),
      [],
      "record removed",
    );
  };
  /** Drives a kept task to the end: state, kill, wait and delete work. */
  const control = async (tm: TaskManager, id: string, started = true) => {
    const task: Task = await tm.get(NS, id);
    if (!started) {
      assert.equal((await task.state()).status, "created");
      await task.start();
    }
    assert.equal((await task.state()).status, "running");
    const waiting = task.wait();
    await task.kill(9);
    assert.equal((await waiting).exitStatus, 137);
    await tm.delete(NS, id);
    await assertGone(id);
  };

  before(async () => {
    s = await tempState("sk-rs-");
    rootfs = await busyboxRootfs();
    resolver = createRuntimeResolver({ path: process.env.PATH });
    leaks = await snapshotLeaks([s.dir]);
  }, T);

  afterEach(async () => {
    for (const pid of stopped.splice(0)) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // gone already
      }
    }
    // Whatever a failed test left: delete its tasks through a fresh load, then close every manager.
    const tm = await open();
    await load(tm).catch(() => undefined);
    for (const t of await tm.list(NS)) await tm.delete(NS, t.id, { force: true }).catch(() => {});
    for (const m of [...managers]) await close(m);
  }, T);

  after(async () => {
    try {
      assert.deepEqual(await mountsUnder(s.dir), []);
      await removeEmptyParents(s, NS);
      assert.deepEqual(await readdir(join(s.root)), [], "root is empty");
      await assertNoLeaks(leaks, { timeoutMs: 5000 });
    } finally {
      await removeCgroupParents(CGROUP_PARENT);
      await s.cleanup();
    }
  }, T);

  it("cleans up a shim killed with SIGKILL once and reports its exit", T, async () => {
    const id = newId("dead");
    const p = await runDetached(id);
    process.kill(p.shim, "SIGKILL");
    await waitGone([p.shim]);
    assert.ok(isProcessAlive(p.task), "the container outlives its shim");

    const tm = await open();
    const sub = tm.subscribe({ namespace: NS });
    const events: TaskEvent[] = [];
    const collecting = (async () => {
      for await (const ev of sub) events.push(ev);
    })();
    const r = await load(tm);
    assert.deepEqual(ids(r, "reaped"), [id]);
    assert.match(r.reaped[0].reason, /dead shim: socket refuses connections/);
    assert.equal(r.reaped[0].exitStatus, 137);
    assert.deepEqual(r.errors, []);
    await waitGone([p.task]);
    await assertGone(id);
    assert.equal(existsSync(dialPath(p.address)), false, "the dead shim's socket was removed");

    // A second load finds nothing: the cleanup ran once.
    const again = await load(tm);
    assert.deepEqual([again.kept, again.reaped], [[], []]);
    const mine = () => events.filter((e) => e.containerId === id);
    for (let i = 0; i < 250 && mine().length < 2; i++) await sleep(20);
    await sleep(300); // a duplicate would arrive in this window
    sub.close();
    await collecting;
    assert.deepEqual(mine().map((e) => e.topic), ["/tasks/exit", "/tasks/delete"]);
    assert.equal(mine()[0].event.exitStatus, 137);
    assert.ok(mine().every((e) => e.synthesized));
  });

  it("reboot: state wiped, root kept: work dirs and records are removed", T, async () => {
    const id = newId("reboot");
    const p = await runDetached(id);
    // What a reboot does: every process gone, tmpfs state gone.
    process.kill(p.shim, "SIGKILL");
    process.kill(p.task, "SIGKILL");
    await waitGone([p.shim, p.task]);
    const runc = spawn("runc", ["--root", join(s.dir, "runc", NS), "delete", "--force", id], {
      stdio: "ignore",
    });
    await new Promise((r) => runc.once("exit", r));
    await unlink(dialPath(p.address)).catch(() => {});
    await rm(s.state, { recursive: true, force: true });
    assert.ok(existsSync(join(s.root, NS, id)));

    const tm = await open();
    const r = await load(tm);
    assert.deepEqual([r.kept, r.reaped], [[], []]);
    const cleaned = r.cleaned.map((c) => c.reason).sort();
    assert.deepEqual(cleaned, ["record without bundle", "work dir without bundle"]);
    await assertGone(id);
  });

  it("reboot: shims dead, state kept: bundles are cleaned fast (no dial retries)", T, async () => {
    const n = 3;
    const all = [];
    for (let i = 0; i < n; i++) {
      const id = newId("fast");
      all.push({ id, ...(await runDetached(id)) });
    }
    const bundles = all.map((p) => p.id);
    for (const p of all) process.kill(p.shim, "SIGKILL");
    await waitGone(all.map((p) => p.shim));

    const tm = await open();
    const t0 = performance.now();
    const r = await load(tm);
    const ms = performance.now() - t0;
    assert.deepEqual(ids(r, "reaped"), bundles.sort());
    // Each costs one `shim delete` (runc, tens of ms); a dial retry loop would cost seconds.
    assert.ok(ms / n < 700, `took ${ms.toFixed(0)} ms for ${n} dead bundles`);
    await waitGone(all.map((p) => p.task));
    for (const id of bundles) await assertGone(id);
  });

  it("a wedged shim costs at most its load budget and the others load normally", T, async () => {
    const wedged = newId("wedged");
    const fine = newId("fine");
    const w = await runDetached(wedged);
    await runDetached(fine);
    process.kill(w.shim, "SIGSTOP");
    stopped.push(w.shim);

    const tm = await open(1000);
    const t0 = performance.now();
    const r = await load(tm, 1000);
    const ms = performance.now() - t0;
    assert.ok(ms < 2500, `took ${ms.toFixed(0)} ms with a 1000 ms budget`);
    assert.deepEqual(ids(r, "kept"), [fine, wedged].sort());
    assert.match(r.kept.find((k) => k.id === wedged)!.note ?? "", /not answering in time/);
    assert.equal(r.kept.find((k) => k.id === fine)!.shimPid !== undefined, true);
    assert.deepEqual(r.reaped, []);
    assert.ok(existsSync(bundlePath(wedged)), "the wedged shim's bundle is kept");
    assert.ok(isProcessAlive(w.shim));

    await control(tm, fine);
    process.kill(w.shim, "SIGCONT");
    stopped.splice(stopped.indexOf(w.shim), 1);
    const tm2 = await open();
    await load(tm2);
    await control(tm2, wedged);
    await waitGone([w.shim, w.task]);
  });

  it("migrates a containerd 1.6 bundle with only an address file to bootstrap.json", T, async () => {
    const id = newId("legacy");
    const p = await runDetached(id);
    const bootstrap = join(bundlePath(id), "bootstrap.json");
    await unlink(bootstrap);
    assert.equal((await readFile(join(bundlePath(id), "address"), "utf8")).trim(), p.address);

    const tm = await open();
    const r = await load(tm);
    assert.deepEqual(ids(r, "kept"), [id]);
    assert.equal(r.kept[0].version, 2);
    assert.deepEqual(JSON.parse(await readFile(bootstrap, "utf8")), {
      version: 2,
      address: p.address,
      protocol: "ttrpc",
    });
    await control(tm, id);
    await waitGone([p.shim, p.task]);
  });

  it("reaps a leaked shim (started, Create never ran): Delete + Shutdown, process gone", T, async () => {
    const id = newId("leak");
    const tm1 = await open();
    const bundle = await createBundle({
      state: s.state,
      root: s.root,
      namespace: NS,
      id,
      spec: spec(id, ["true"]),
    });
    const shim = await tm1.shims.start(NS, id, { bundle, runtime: RUNTIME });
    const pid = shim.pid;
    await close(tm1);
    assert.ok(isProcessAlive(pid));

    const tm = await open();
    const r = await load(tm);
    assert.deepEqual(r.reaped.map((x) => [x.id, x.reason]), [[
      id,
      "leaked shim: no task (State: not found)",
    ]]);
    await waitGone([pid]);
    await assertGone(id);
  });

  it("never reaps a shim whose container is locked by a live process", T, async () => {
    const id = newId("busy");
    const tm1 = await open();
    const bundle = await createBundle({
      state: s.state,
      root: s.root,
      namespace: NS,
      id,
      spec: spec(id, ["true"]),
    });
    const shim = await tm1.shims.start(NS, id, { bundle, runtime: RUNTIME });
    const { acquireContainerLock } = await import("../src/bundle/lock.ts");
    const lock = await acquireContainerLock(s.state, NS, id);
    try {
      const r = await load(await open());
      assert.deepEqual(ids(r, "kept"), [id]);
      assert.match(r.kept[0].note ?? "", new RegExp(`locked by pid ${process.pid}`));
      assert.ok(isProcessAlive(shim.pid));
      assert.ok(existsSync(bundlePath(id)) && existsSync(join(s.root, NS, id)));
    } finally {
      await lock.release();
    }
    await tm1.shims.abort(shim);
    await waitGone([shim.pid]);
    await assertGone(id);
  });

  it("cleanupWorkDirs() keeps loaded and present bundles", T, async () => {
    const id = newId("keepwd");
    await runDetached(id);
    const r = await cleanupWorkDirs(s.state, s.root, []);
    assert.deepEqual(r.cleaned.filter((c) => c.path.includes(id)), []);
    const tm = await open();
    await control(tm, id);
  });

  describe("a manager killed with SIGKILL at each step", () => {
    const steps: Array<{ step: string; expect: "reaped" | "kept"; started?: boolean; leakedShim?: boolean }> =
      [
        { step: "bundle", expect: "reaped" },
        { step: "connect", expect: "reaped", leakedShim: true },
        { step: "create", expect: "kept", started: false },
        { step: "created", expect: "kept", started: false },
        { step: "started", expect: "kept", started: true },
        { step: "delete", expect: "reaped", leakedShim: true },
      ];
    for (const tc of steps) {
      it(
        `${tc.step}: leaves no leaked shim, bundle or work dir; a live task stays controllable`,
        T,
        async () => {
          const id = newId(`k-${tc.step}`);
          const c = selfCommand();
          const child = fileURLToPath(new URL("./restore_child.ts", import.meta.url));
          const arg = JSON.stringify({
            state: s.state,
            root: s.root,
            socketDir: s.socketDir,
            runcRoot: join(s.dir, "runc"),
            runtime: RUNTIME,
            namespace: NS,
            id,
            spec: spec(id, ["sleep", "60"]),
            step: tc.step,
          });
          const proc = spawn(c.file, [...c.args.slice(0, -1), child, arg], {
            stdio: ["ignore", "pipe", "inherit"],
          });
          let out = "";
          proc.stdout!.on("data", (d) => (out += d));
          const [, signal] = await new Promise<[number | null, string | null]>((r) =>
            proc.once("exit", (code, sig) => r([code, sig]))
          );
          assert.equal(signal, "SIGKILL", `child output: ${out}`);
          assert.equal(out.trim(), `step ${tc.step}`);
          assert.ok(existsSync(bundlePath(id)), "the crash left a bundle");
          const daemons = await listPidsWithCwd(bundlePath(id));
          if (tc.step === "bundle") assert.deepEqual(daemons, []);
          else assert.ok(daemons.length > 0, "the crash left a shim running");

          const tm = await open();
          const r = await load(tm);
          assert.deepEqual(r.errors, []);
          assert.deepEqual(ids(r, tc.expect), [id]);
          if (tc.expect === "reaped") {
            if (tc.leakedShim) assert.match(r.reaped[0].reason, /^leaked shim/);
            await waitGone(daemons);
            await assertGone(id);
            return;
          }
          assert.ok(
            (await readRecord(s.root, NS, id)).runtime,
            "the record exists (restored when the crash came first)",
          );
          const pids = (await (await tm.get(NS, id)).pids()).map((p) => p.pid);
          await control(tm, id, tc.started);
          // The shim lingers ~5 s after Shutdown here: events it published while no listener ran are
          // retried before it exits (containerd's publisher), which is the shim's behaviour, not ours.
          await waitGone([...daemons, ...pids]);
        },
      );
    }
  });
});
