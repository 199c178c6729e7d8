import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type BundleHealth,
  type BundleProbe,
  classifyBundle,
  classifyInventory,
  emptyInventory,
  type Inventory,
  type ProblemCode,
} from "./classify.ts";
import { DeadlineExceededError, NotFoundError } from "../errors.ts";
import { INTERRUPTED_DELETE_GRACE_MS } from "../shim/loader.ts";

const base: BundleProbe = {
  namespace: "ns",
  id: "c1",
  path: "/s/ns/c1",
  empty: false,
  runtime: "/usr/bin/containerd-shim-runc-v2",
  runtimeSource: "shim-binary-path",
  bootstrap: {
    version: 2,
    protocol: "ttrpc",
    address: "unix:///run/containerd/s/x",
    source: "bootstrap.json",
  },
  dial: "ok",
  sandboxed: false,
  pids: { count: 1 },
  taskStatus: "running",
};

describe("classifyBundle()", () => {
  const cases: Array<{ name: string; p: Partial<BundleProbe>; health: BundleHealth; codes: ProblemCode[] }> =
    [
      { name: "a running task is ok", p: {}, health: "ok", codes: [] },
      {
        name: "a locked bundle is busy, whatever else",
        p: { lockedBy: 42, dial: "refused", empty: true },
        health: "busy",
        codes: [],
      },
      { name: "an empty bundle", p: { empty: true }, health: "empty", codes: ["empty-bundle"] },
      {
        name: "a refused socket is a dead shim",
        p: { dial: "refused" },
        health: "dead",
        codes: ["dead-shim"],
      },
      {
        name: "a missing socket is a dead shim",
        p: { dial: "missing" },
        health: "dead",
        codes: ["dead-shim"],
      },
      {
        name: "a slow shim is unresponsive, a warning",
        p: { dial: "timeout" },
        health: "unresponsive",
        codes: ["unresponsive-shim"],
      },
      {
        name: "an RPC error is a warning",
        p: { dial: "error", dialError: "boom" },
        health: "unresponsive",
        codes: ["unresponsive-shim"],
      },
      {
        name: "no pids, no sandbox: leaked",
        p: { pids: { count: 0 } },
        health: "leaked",
        codes: ["leaked-shim"],
      },
      {
        name: "a stopped task with a record (or runc's init.pid): kept, its exit status is still to collect",
        p: { pids: { count: 0 }, created: true, taskStatus: "stopped" },
        health: "ok",
        codes: [],
      },
      {
        name: "Pids NotFound, even with a record: leaked (the shim has no task)",
        p: { pids: { error: new NotFoundError("x") }, created: true },
        health: "leaked",
        codes: ["leaked-shim"],
      },
      {
        name: "Pids NotFound: leaked",
        p: { pids: { error: new NotFoundError("x") } },
        health: "leaked",
        codes: ["leaked-shim"],
      },
      {
        name: "Pids timed out: kept",
        p: { pids: { error: new DeadlineExceededError("x") } },
        health: "ok",
        codes: [],
      },
      {
        name: "sandbox with no pids: kept",
        p: { sandboxed: true, pids: { count: 0 } },
        health: "ok",
        codes: [],
      },
      {
        name: "legacy address file: warning only",
        p: { bootstrap: { ...base.bootstrap!, source: "address" } },
        health: "ok",
        codes: ["missing-bootstrap"],
      },
      {
        name: "no address at all: broken",
        p: { bootstrap: undefined, dial: "skipped" },
        health: "broken",
        codes: ["missing-address"],
      },
      {
        name: "damaged bootstrap.json",
        p: { bootstrapError: "bad json", dial: "skipped" },
        health: "broken",
        codes: ["bad-bootstrap"],
      },
      {
        name: "unresolvable runtime on a dead shim",
        p: { runtimeError: "not found", dial: "refused" },
        health: "dead",
        codes: ["unresolvable-runtime", "dead-shim"],
      },
    ];
  for (const tc of cases) {
    it(tc.name, () => {
      const r = classifyBundle({ ...base, ...tc.p });
      assert.equal(r.health, tc.health);
      assert.deepEqual(r.problems.map((p) => p.code), tc.codes);
      for (const p of r.problems) assert.equal(p.id, "c1");
    });
  }
  it("mentions an unsupervised task of a dead shim", () => {
    const r = classifyBundle({ ...base, dial: "refused", taskPid: 77, taskAlive: true });
    assert.match(r.problems[0].message, /task pid 77 still runs/);
  });
});

describe("classifyInventory()", () => {
  const empty: Inventory = emptyInventory();
  it("is ok with nothing", () => {
    assert.deepEqual(classifyInventory(empty), { bundles: [], problems: [], ok: true });
  });
  it("flags work dirs and records with no bundle, except busy ones", () => {
    const d = classifyInventory({
      ...empty,
      bundles: [base],
      workDirs: [
        { namespace: "ns", id: "c1", path: "/r/ns/c1" },
        { namespace: "ns", id: "gone", path: "/r/ns/gone" },
        { namespace: "ns", id: "creating", path: "/r/ns/creating" },
      ],
      records: [
        { namespace: "ns", id: "c1", path: "/r/.records/ns/c1.json" },
        { namespace: "ns", id: "gone", path: "/r/.records/ns/gone.json" },
      ],
      busy: ["ns/creating"],
    });
    assert.deepEqual(d.problems.map((p) => [p.code, p.path]), [
      ["orphan-work-dir", "/r/ns/gone"],
      ["orphan-record", "/r/.records/ns/gone.json"],
    ]);
    assert.equal(d.ok, false);
    assert.equal(d.bundles[0].health, "ok");
  });
  it("flags sockets without a listener and stale locks", () => {
    const d = classifyInventory({
      ...empty,
      sockets: [{ path: "/s/events.sock", listening: false }, { path: "/s/s/a", listening: true }],
      staleLocks: ["/s/.locks/ns/x.lock"],
    });
    assert.deepEqual(d.problems.map((p) => [p.code, p.severity]), [["stale-socket", "error"], [
      "stale-lock",
      "warning",
    ]]);
    assert.equal(d.ok, false);
  });
  it("flags a half-done delete once it has been still for the grace period, unless its container is locked", () => {
    const d = classifyInventory({
      ...empty,
      interruptedDeletes: [
        { namespace: "ns", id: "old", path: "/s/ns/.old", ageMs: INTERRUPTED_DELETE_GRACE_MS },
        { namespace: "ns", id: "recent", path: "/s/ns/.recent", ageMs: INTERRUPTED_DELETE_GRACE_MS - 1 },
        { namespace: "ns", id: "busy", path: "/r/ns/.busy", ageMs: 10 * INTERRUPTED_DELETE_GRACE_MS },
      ],
      busy: ["ns/busy"],
    });
    assert.deepEqual(d.problems, [{
      code: "interrupted-delete",
      severity: "error",
      namespace: "ns",
      id: "old",
      path: "/s/ns/.old",
      message: "left by a delete that did not finish",
    }]);
    assert.equal(d.ok, false);
  });
  it("is ok with warnings only", () => {
    const d = classifyInventory({ ...empty, bundles: [{ ...base, dial: "timeout" }], staleLocks: ["/l"] });
    assert.equal(d.ok, true);
    assert.equal(d.problems.length, 2);
  });
});
