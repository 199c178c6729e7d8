import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, Server, TtrpcError } from "../../vendor/ttrpc-ts/mod.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { createBundle } from "../bundle/bundle.ts";
import { acquireContainerLock } from "../bundle/lock.ts";
import { writeBootstrap } from "../bundle/bootstrap.ts";
import { TaskManager } from "../task/manager.ts";
import {
  chooseRuntime,
  cleanupWorkDirs,
  dialOutcomeOf,
  INTERRUPTED_DELETE_GRACE_MS,
  loadExisting,
  loadShimOnceMore,
  type ShimLiveness,
  shouldCleanupShim,
} from "./loader.ts";
import {
  DeadlineExceededError,
  NotFoundError,
  ShimkitError,
  UnavailableError,
  withContext,
} from "../errors.ts";

describe("shouldCleanupShim()", () => {
  const other = new Error("some other error");
  const cases: Array<{ name: string; in: ShimLiveness; want: boolean }> = [
    { name: "keeps a sandbox shim", in: { sandboxed: true, pids: [] }, want: false },
    { name: "keeps a shim whose sandbox lookup failed", in: { sandboxed: "unknown", pids: [] }, want: false },
    { name: "reaps a non-sandbox shim with no pids", in: { sandboxed: false, pids: [] }, want: true },
    {
      name: "keeps a non-sandbox shim with pids",
      in: { sandboxed: false, pids: [{ pid: 1234 }] },
      want: false,
    },
    {
      name: "reaps a non-sandbox shim whose Pids is NotFound",
      in: { sandboxed: false, pidsError: new NotFoundError("container must be created") },
      want: true,
    },
    {
      name: "reaps on a wrapped NotFound",
      in: { sandboxed: false, pidsError: withContext(new NotFoundError("x"), 'pids "c1"') },
      want: true,
    },
    {
      name: "reaps on a raw TTRPC NotFound status",
      in: {
        sandboxed: false,
        pidsError: Object.assign(new Error("not found"), { name: "TtrpcError", code: 5 }),
      },
      want: true,
    },
    { name: "keeps on any other Pids error", in: { sandboxed: false, pidsError: other }, want: false },
    {
      name: "keeps on Unavailable (not proof of a leak)",
      in: { sandboxed: false, pidsError: new UnavailableError("connection closed") },
      want: false,
    },
    {
      // Not answering in time is not proof of a dead shim.
      name: "keeps a shim that answers slowly (DeadlineExceeded)",
      in: { sandboxed: false, pidsError: new DeadlineExceededError("pids: timed out") },
      want: false,
    },
    {
      name: "keeps a deadline that wraps a NotFound",
      in: {
        sandboxed: false,
        pidsError: new DeadlineExceededError("pids", { cause: new NotFoundError("x") }),
      },
      want: false,
    },
    { name: "keeps when timedOut is set", in: { sandboxed: false, timedOut: true, pids: [] }, want: false },
    { name: "keeps when nothing is known", in: { sandboxed: false }, want: false },
    {
      name: "keeps a recorded task that exited (exit status still to collect)",
      in: { sandboxed: false, pids: [], exited: true },
      want: false,
    },
    {
      name: "reaps a deleted task even when it had exited (NotFound)",
      in: { sandboxed: false, pidsError: new NotFoundError("container not created"), exited: true },
      want: true,
    },
    {
      name: "keeps an unknown-kind ShimkitError even with empty pids",
      in: { sandboxed: false, pidsError: new ShimkitError("boom"), pids: [] },
      want: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(shouldCleanupShim(tc.in), tc.want));
  }
});

describe("dialOutcomeOf()", () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const cases: Array<{ name: string; err: unknown; want: string }> = [
    { name: "ENOENT is a missing socket", err: errno("ENOENT"), want: "missing" },
    { name: "ECONNREFUSED is a refused socket", err: errno("ECONNREFUSED"), want: "refused" },
    {
      name: "a wrapped refusal",
      err: withContext(errno("ECONNREFUSED"), 'connect to shim "x"'),
      want: "refused",
    },
    { name: "ETIMEDOUT is a timeout", err: errno("ETIMEDOUT"), want: "timeout" },
    {
      name: "DeadlineExceeded is a timeout",
      err: new DeadlineExceededError("connect: timed out"),
      want: "timeout",
    },
    {
      name: "TTRPC deadline status is a timeout",
      err: Object.assign(new Error("x"), { name: "TtrpcError", code: 4 }),
      want: "timeout",
    },
    { name: "anything else is an error", err: new UnavailableError("connection closed"), want: "error" },
  ];
  for (const tc of cases) it(tc.name, () => assert.equal(dialOutcomeOf(tc.err), tc.want));
});

describe("loadShimOnceMore()", () => {
  const closed = () => withContext(new TtrpcError(Code.Unavailable, "ttrpc: closed"), 'shim connect "c1"');
  const refused = () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const cases: Array<
    { name: string; errors: Array<() => Error>; want: "ok" | "refused" | "closed"; tries: number }
  > = [
    { name: "returns at once when the first try works", errors: [], want: "ok", tries: 1 },
    { name: "tries again after an accepted-then-dropped dial", errors: [closed], want: "ok", tries: 2 },
    {
      name: "a dying shim refuses the second time: that error wins",
      errors: [closed, refused],
      want: "refused",
      tries: 2,
    },
    { name: "does not retry a refused dial", errors: [refused], want: "refused", tries: 1 },
    { name: "gives up after the second drop", errors: [closed, closed], want: "closed", tries: 2 },
  ];
  for (const tc of cases) {
    it(`loadShimOnceMore() ${tc.name}`, async () => {
      let tries = 0;
      const got = await loadShimOnceMore(() => {
        const e = tc.errors[tries++];
        return e ? Promise.reject(e()) : Promise.resolve("ok");
      }, 1).catch((err: Error) => (/REFUSED/.test(err.message) ? "refused" : "closed"));
      assert.equal(got, tc.want);
      assert.equal(tries, tc.tries);
    });
  }
});

describe("loadExisting() against in-process shims", () => {
  type Mode = "running" | "uncreated" | "slow" | "broken-state";
  const calls: string[] = [];
  const holds: Array<() => void> = [];
  const servers: Server[] = [];
  let dir = "";
  let state = "";
  let root = "";
  let tm: TaskManager;

  const never = () =>
    new Promise<never>((_, reject) => holds.push(() => reject(new TtrpcError(Code.Unavailable, "bye"))));
  function impl(id: string, mode: Mode) {
    const log = (m: string) => (calls.push(`${id} ${m}`), undefined);
    return {
      connect:
        () => (log("connect"),
          Promise.resolve({ shimPid: process.pid, taskPid: mode === "running" ? 4242 : 0 })),
      // The loader judges liveness by State; Pids (a `runc ps` in the real shim) must not be called.
      pids: () => {
        log("pids");
        return Promise.resolve({ processes: [{ pid: 4242 }] });
      },
      state: () => {
        log("state");
        if (mode === "slow") return never();
        if (mode === "uncreated") throw new TtrpcError(Code.NotFound, "container not created");
        if (mode === "broken-state") throw new TtrpcError(Code.Internal, "state failed");
        return Promise.resolve({ id, pid: 4242, status: 2 });
      },
      delete: () => {
        log("delete");
        throw new TtrpcError(Code.NotFound, "container not created");
      },
      shutdown: () => (log("shutdown"), Promise.resolve({})),
    };
  }
  async function shimBundle(id: string, mode: Mode, serve: "v2" | "v3", bootVersion: number) {
    const b = await createBundle({ state, root, namespace: "ns", id, spec: { ociVersion: "1.0.2" } });
    const s = new Server();
    s.register(serve === "v3" ? TaskV3 : TaskV2, impl(id, mode) as never);
    const sock = join(dir, `${id}.sock`);
    await s.listen(sock);
    servers.push(s);
    await writeBootstrap(b, { version: bootVersion, address: `unix://${sock}`, protocol: "ttrpc" });
    // A runtime binary that exists, so no resolver is needed.
    await fsp.writeFile(join(b.path, "shim-binary-path"), "/bin/true");
    return b;
  }

  before(async () => {
    dir = await fsp.mkdtemp(join(tmpdir(), "sk-ld-"));
    state = join(dir, "state");
    root = join(dir, "root");
    tm = await TaskManager.open({ state, root, events: false, timeouts: { loadMs: 500 } });
    await shimBundle("v2only", "running", "v2", 3);
    await shimBundle("v3", "running", "v3", 3);
    await shimBundle("leaked", "uncreated", "v2", 2);
    await shimBundle("slow", "slow", "v2", 2);
    await shimBundle("broken", "broken-state", "v2", 2);
    await fsp.mkdir(join(state, "ns", "empty"));
  });
  after(async () => {
    for (const h of holds) h();
    await tm.close();
    await Promise.all(servers.map((s) => s.close()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it("keeps, reaps and bounds each bundle as the truth table says", async () => {
    const t0 = Date.now();
    const r = await loadExisting(tm, { state, root, budgetMs: 500, concurrency: 2 });
    assert.ok(Date.now() - t0 < 2500, "a slow shim costs at most its budget");
    const kept = Object.fromEntries(r.kept.map((k) => [k.id, k]));
    assert.deepEqual(Object.keys(kept).sort(), ["broken", "slow", "v2only", "v3"]);
    // v3 in bootstrap.json, but the shim only serves v2: the connection downgrades (NotImplemented).
    assert.equal(kept.v2only.version, 2);
    assert.equal(kept.v3.version, 3);
    assert.match(kept.slow.note ?? "", /not answering in time/);
    assert.deepEqual(r.reaped.map((x) => [x.id, x.reason]), [[
      "leaked",
      "leaked shim: no task (State: not found)",
    ]]);
    assert.deepEqual(r.cleaned.map((c) => [c.path, c.reason]), [[
      join(state, "ns", "empty"),
      "empty bundle",
    ]]);
    // The lock-free probe finds the leak; the pass under the container lock looks again, then reaps.
    assert.deepEqual(calls.filter((c) => c.startsWith("leaked")), [
      "leaked connect",
      "leaked state",
      "leaked connect",
      "leaked state",
      "leaked delete",
      "leaked shutdown",
    ]);
    assert.ok(
      !calls.some((c) => /(v2only|v3|slow|broken) (delete|shutdown)/.test(c)),
      "kept shims get no Delete or Shutdown",
    );
    assert.ok(!calls.some((c) => c.endsWith(" pids")), "no Pids call: it runs `runc ps` in the real shim");
    assert.equal(existsSync(join(state, "ns", "leaked")), false);
    assert.equal(existsSync(join(root, "ns", "leaked")), false);
    assert.equal(existsSync(join(state, "ns", "slow")), true);
    assert.deepEqual(r.errors.map((e) => e.id), ["slow"]);
    // A kept task is reachable through the manager.
    assert.equal((await tm.get("ns", "v3")).shim.version, 3);
  });
});

describe("cleanupWorkDirs()", () => {
  it("cleanupWorkDirs() removes a record without a bundle even when it no longer parses, and keeps one with a bundle", async () => {
    const d = await fsp.mkdtemp(join(tmpdir(), "shimkit-cleanup-"));
    try {
      const state = join(d, "state");
      const root = join(d, "root");
      const recs = join(root, ".records", "ns");
      await fsp.mkdir(recs, { recursive: true });
      await fsp.mkdir(join(state, "ns", "owned"), { recursive: true });
      await fsp.writeFile(join(recs, "damaged.json"), "{garbage");
      await fsp.writeFile(join(recs, "owned.json"), "{garbage");
      const r = await cleanupWorkDirs(state, root, []);
      assert.deepEqual(r.cleaned, [{
        path: join(recs, "damaged.json"),
        reason: "unreadable record without bundle",
        namespace: "ns",
        id: "damaged",
      }]);
      assert.deepEqual(await fsp.readdir(recs), ["owned.json"]);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0].message, /owned\.json/);
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
  it("cleanupWorkDirs() finishes deletes that were interrupted, not ones in progress or locked", async () => {
    const d = await fsp.mkdtemp(join(tmpdir(), "shimkit-cleanup-"));
    try {
      const state = join(d, "state");
      const root = join(d, "root");
      const hidden = (base: string, id: string) => join(base, "ns", `.${id}`);
      const past = new Date(Date.now() - INTERRUPTED_DELETE_GRACE_MS - 5000);
      for (const id of ["old", "recent", "locked"]) {
        for (const base of [state, root]) {
          await fsp.mkdir(join(hidden(base, id), "rootfs"), { recursive: true });
          await fsp.writeFile(join(hidden(base, id), "rootfs", "file"), "x");
          if (id !== "recent") await fsp.utimes(hidden(base, id), past, past);
        }
      }
      await using _lock = await acquireContainerLock(state, "ns", "locked");

      const dry = await cleanupWorkDirs(state, root, [], { dryRun: true });
      const expected = [
        { path: hidden(state, "old"), reason: "interrupted delete", namespace: "ns", id: "old" },
        { path: hidden(root, "old"), reason: "interrupted delete", namespace: "ns", id: "old" },
      ];
      assert.deepEqual(dry.cleaned, expected);
      assert.equal(existsSync(hidden(state, "old")), true, "a dry run removes nothing");

      const r = await cleanupWorkDirs(state, root, []);
      assert.deepEqual(r.cleaned, expected);
      assert.deepEqual(r.errors, []);
      for (const base of [state, root]) {
        assert.deepEqual((await fsp.readdir(join(base, "ns"))).sort(), [".locked", ".recent"]);
      }
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});

describe("chooseRuntime()", () => {
  it("chooseRuntime() treats a shim-binary-path larger than any path as damage: the record's runtime decides", async () => {
    const d = await fsp.mkdtemp(join(tmpdir(), "shimkit-choose-"));
    try {
      await fsp.writeFile(join(d, "shim-binary-path"), "/" + "a".repeat(10_000_000));
      const resolver = { resolve: (r: string) => Promise.resolve(`/bin/${r}`), clear: () => {} };
      const got = await chooseRuntime(
        { path: d },
        { runtime: "io.containerd.x.v2", runtimePath: "" },
        resolver,
      );
      assert.deepEqual(got, {
        runtime: "io.containerd.x.v2",
        runtimePath: "/bin/io.containerd.x.v2",
        source: "record",
      });
    } finally {
      await fsp.rm(d, { recursive: true, force: true });
    }
  });
});
