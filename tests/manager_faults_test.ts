/**
 * TaskManager failure paths that real shims do not produce on demand, driven
 * by the fake shim's fault annotations: a `start` that fails, hangs or
 * prints garbage, a daemon that dies, a Shutdown that hangs, an RPC that
 * crashes the shim. After each, nothing may be left: no bundle, record,
 * socket or process.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeadlineExceeded } from "../src/errors.ts";
import type { TaskEvent } from "../src/events/topics.ts";
import { createRuntimeResolver } from "../src/runtime/resolve.ts";
import { generateDefaultSpec } from "../src/spec/default_spec.ts";
import { TaskManager } from "../src/task/manager.ts";
import { listRecords } from "../src/bundle/records.ts";
import { cliCommand, REPO_ROOT } from "./helpers/cli.ts";
import { assertNoLeaks, type LeakSnapshot, snapshotLeaks } from "./helpers/leaks.ts";
import { type TempState, tempState } from "./helpers/temp_state.ts";

const NS = "faults";
const RUNTIME = "io.containerd.fake.v2";
const T = { timeout: 60_000 };
const skip = existsSync(join(REPO_ROOT, "src", "fakeshim", "main.ts")) ? false : "needs src/fakeshim/main.ts";
let seq = 0;
const newId = (what: string) => `${what}-${process.pid.toString(36)}-${++seq}`;

describe("TaskManager failure paths (fake shim)", { skip }, () => {
  let s: TempState;
  let tm: TaskManager;
  let leaks: LeakSnapshot;
  const events: TaskEvent[] = [];
  let collecting: Promise<void>;

  const spec = (id: string, faults: Record<string, string>, args = ["sleep", "60"]) => {
    const sp = generateDefaultSpec({ id, namespace: NS, args, rootfs: join(s.dir, "rootfs") });
    sp.annotations = Object.fromEntries(
      Object.entries(faults).map(([k, v]) => [`io.shimkit.fake.fault.${k}`, v]),
    );
    return sp as unknown as Record<string, unknown>;
  };
  const assertGone = async (id: string) => {
    assert.equal(existsSync(join(s.state, NS, id)), false, "bundle");
    assert.equal(existsSync(join(s.root, NS, id)), false, "work dir");
    assert.deepEqual((await listRecords(s.root, NS)).records.filter((r) => r.id === id), [], "record");
  };

  before(async () => {
    s = await tempState("sk-flt-");
    await mkdir(join(s.dir, "rootfs"));
    const bin = join(s.dir, "bin");
    await mkdir(bin);
    const cmd = [...cliCommand(), "fake-shim"].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    await writeFile(join(bin, "containerd-shim-fake-v2"), `#!/bin/sh\nexec ${cmd} "$@"\n`);
    await chmod(join(bin, "containerd-shim-fake-v2"), 0o755);
    leaks = await snapshotLeaks([s.dir]);
    tm = await TaskManager.open({
      state: s.state,
      root: s.root,
      socketDir: s.socketDir,
      resolver: createRuntimeResolver({ path: `${bin}:${process.env.PATH ?? ""}` }),
      timeouts: { startMs: 3000, shutdownMs: 500, cleanupMs: 3000, loadMs: 2000 },
    });
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
      for (
        const d of [join(s.state, NS), join(s.state, ".locks", NS), join(s.state, ".locks"), join(s.root, NS)]
      ) {
        await rmdir(d).catch(() => {});
      }
      await rmdir(join(s.root, ".records", NS)).catch(() => {});
      await rmdir(join(s.root, ".records")).catch(() => {});
      await assertNoLeaks(leaks, { timeoutMs: 3000 });
    } finally {
      await s.cleanup();
    }
  }, T);

  const startFaults: [string, string, RegExp][] = [
    ["fails", 'fail(1, "no such runtime")', /no such runtime/],
    ["prints garbage", "garbage", /start shim/],
    ["prints a dead address", "dead-address", /connect to shim/],
    ["hangs past the start timeout", "hang", /did not exit within 3000ms/],
  ];
  for (const [name, fault, re] of startFaults) {
    it(`a shim start that ${name} leaves nothing behind`, T, async () => {
      const id = newId("start");
      await assert.rejects(
        tm.create({ namespace: NS, id, runtime: RUNTIME, spec: spec(id, { start: fault }) }),
        (e: Error) => {
          assert.match(e.message, new RegExp(`^create task "${NS}/${id}": start shim "${id}": `));
          assert.match(e.message, re);
          if (fault === "hang") assert.ok(isDeadlineExceeded(e));
          return true;
        },
      );
      await assertGone(id);
    });
  }

  it("a daemon that dies right after start is cleaned up", T, async () => {
    const id = newId("die");
    await assert.rejects(
      tm.create({ namespace: NS, id, runtime: RUNTIME, spec: spec(id, { daemon: "die" }) }),
      (e: Error) => (e as { kind?: string }).kind === "unavailable",
    );
    await assertGone(id);
  });

  it("a Create the shim rejects stops the shim and removes everything", T, async () => {
    const id = newId("create");
    await assert.rejects(
      tm.create({
        namespace: NS,
        id,
        runtime: RUNTIME,
        spec: spec(id, { Create: "error(AlreadyExists, taken)" }),
      }),
      (e: Error) => /taken/.test(e.message) && (e as { kind?: string }).kind === "already_exists",
    );
    await assertGone(id);
  });

  it("a Shutdown that hangs is bounded; the daemon is stopped and the bundle removed", T, async () => {
    const id = newId("hangshut");
    const task = await tm.create({
      namespace: NS,
      id,
      runtime: RUNTIME,
      spec: spec(id, { Shutdown: "hang" }, ["true"]),
    });
    await task.start();
    await task.wait();
    const t0 = Date.now();
    assert.equal((await tm.delete(NS, id)).exitStatus, 0);
    assert.ok(Date.now() - t0 < 3000);
    await assertGone(id);
  });

  it("a shim that crashes mid-call is reported once with synthesized events", T, async () => {
    const id = newId("crash");
    const task = await tm.create({ namespace: NS, id, runtime: RUNTIME, spec: spec(id, { State: "crash" }) });
    await task.start();
    await assert.rejects(task.state(), (e: Error) => (e as { kind?: string }).kind === "unavailable");
    const deadline = Date.now() + 10_000;
    const mine = () => events.filter((e) => e.containerId === id && e.synthesized);
    while (mine().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(mine().map((e) => e.topic).sort(), ["/tasks/delete", "/tasks/exit"]);
    await assertGone(id);
  });
});
