/**
 * `shimkit doctor`, `gc` and `load` end to end with the embedded fake shim (no root needed):
 * a shim killed with SIGKILL and a work dir without a bundle are reported by doctor (exit 1),
 * listed by `gc --dry-run` (nothing changes), removed by `gc`; `load` keeps the live one.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, rmdir, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isProcessAlive } from "../src/platform/process.ts";
import { REPO_ROOT, runCli } from "./helpers/cli.ts";
import { assertNoLeaks, type LeakSnapshot, snapshotLeaks } from "./helpers/leaks.ts";

const fakeAvailable = existsSync(join(REPO_ROOT, "src", "fakeshim", "main.ts"));
const T = { timeout: 60_000 };

describe("shimkit doctor / gc / load", { skip: fakeAvailable ? false : "needs src/fakeshim/main.ts" }, () => {
  let dir = "";
  let leaks: LeakSnapshot;
  const sk = (...args: string[]) =>
    runCli(["--state", join(dir, "state"), "--root", join(dir, "root"), "--log-level", "error", ...args]);
  const json = (s: string) => JSON.parse(s);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sk-rc-"));
    for (const d of ["rootfs", "state", "root"]) await mkdir(join(dir, d));
    leaks = await snapshotLeaks([dir]);
  });
  after(async () => {
    try {
      await sk("delete", "--force", "live", "dead");
      // The fake shim's entry point the CLI writes is setup, not a leak.
      await rm(join(dir, "state", "bin"), { recursive: true, force: true });
      for (
        const d of [
          "state/default",
          "state/.locks/default",
          "state/s",
          "state/.locks",
          "root/default",
          "root/.records/default",
          "root/.records",
        ]
      ) {
        await rmdir(join(dir, d)).catch(() => {});
      }
      await assertNoLeaks(leaks, { timeoutMs: 5000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, { timeout: 30_000 });

  it("finds, lists and removes a dead shim and an orphaned work dir; keeps the live one", T, async () => {
    for (const id of ["live", "dead"]) {
      const r = await sk(
        "run",
        "-d",
        "--runtime",
        "io.containerd.fake.v2",
        "--rootfs",
        join(dir, "rootfs"),
        id,
        "--",
        "sleep",
        "100",
      );
      assert.equal(r.code, 0, r.stderr);
    }
    let d = await sk("doctor", "--json");
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const bundles = json(d.stdout).bundles as Array<{ id: string; health: string; shimPid: number }>;
    assert.deepEqual(bundles.map((b) => [b.id, b.health]), [["dead", "ok"], ["live", "ok"]]);
    const deadPid = bundles[0].shimPid;
    process.kill(deadPid, "SIGKILL");
    while (isProcessAlive(deadPid)) await new Promise((r) => setTimeout(r, 10));
    await mkdir(join(dir, "root", "default", "ghost"), { recursive: true });

    d = await sk("doctor");
    assert.equal(d.code, 1, "problems found: exit 1");
    assert.match(d.stdout, /dead-shim/);
    assert.match(d.stdout, /orphan-work-dir/);

    const plan = await sk("gc", "--dry-run", "--json");
    assert.equal(plan.code, 0, plan.stderr);
    const planned = json(plan.stdout) as Array<{ action: string; id?: string; detail: string }>;
    // The SIGKILLed fake daemon also left its socket in <state>/s: a dry run lists it as stale.
    assert.deepEqual(planned.map((r) => [r.action, r.id ?? ""]), [
      ["would reap", "dead"],
      ["would remove", "ghost"],
      ["would remove", ""],
    ], JSON.stringify(planned));
    assert.match(planned[2].detail, /socket/);
    assert.ok(existsSync(join(dir, "state", "default", "dead")), "dry run changes nothing");
    assert.ok(existsSync(join(dir, "root", "default", "ghost")));

    const gc = await sk("gc", "--json");
    assert.equal(gc.code, 0, gc.stderr);
    const rows = json(gc.stdout) as Array<{ action: string; id?: string; detail: string }>;
    assert.deepEqual(rows.map((r) => r.action), ["reaped", "cleaned"]);
    assert.equal(rows[0].id, "dead");
    assert.match(rows[1].detail, /ghost: work dir without bundle/);
    assert.equal(rows[1].id, "ghost");
    assert.equal(existsSync(join(dir, "state", "default", "dead")), false);

    const load = await sk("load", "--json");
    assert.equal(load.code, 0, load.stderr);
    const report = json(load.stdout);
    assert.deepEqual(report.kept.map((k: { id: string }) => k.id), ["live"]);
    assert.deepEqual([report.reaped, report.errors], [[], []]);

    d = await sk("doctor");
    assert.equal(d.code, 0, d.stdout);
    assert.equal((await sk("delete", "--force", "live")).code, 0);
  });

  it(
    "reports and finishes deletes that were interrupted after their rename; leaves one in progress",
    T,
    async () => {
      const hidden = (base: string, id: string) => join(dir, base, "default", `.${id}`);
      const past = new Date(Date.now() - 10 * 60_000);
      for (const base of ["state", "root"]) {
        for (const id of ["gone", "going"]) {
          await mkdir(join(hidden(base, id), "rootfs"), { recursive: true });
          await writeFile(join(hidden(base, id), "rootfs", "file"), "x");
        }
        await utimes(hidden(base, "gone"), past, past);
      }
      try {
        let d = await sk("doctor", "--json");
        assert.equal(d.code, 1, d.stdout + d.stderr);
        const problems = json(d.stdout).problems as Array<{ code: string; id?: string; path: string }>;
        assert.deepEqual(problems.map((p) => [p.code, p.id, p.path]), [
          ["interrupted-delete", "gone", hidden("state", "gone")],
          ["interrupted-delete", "gone", hidden("root", "gone")],
        ]);

        const plan = await sk("gc", "--dry-run", "--json");
        assert.equal(plan.code, 0, plan.stderr);
        const planned = json(plan.stdout) as Array<{ action: string; id?: string; detail: string }>;
        assert.deepEqual(planned.map((r) => [r.action, r.id]), [["would remove", "gone"], [
          "would remove",
          "gone",
        ]]);
        assert.ok(existsSync(hidden("state", "gone")), "dry run changes nothing");

        const gc = await sk("gc", "--json");
        assert.equal(gc.code, 0, gc.stderr);
        const rows = json(gc.stdout) as Array<{ action: string; id?: string; detail: string }>;
        assert.deepEqual(rows.map((r) => [r.action, r.id, r.detail]), [
          ["cleaned", "gone", `${hidden("state", "gone")}: interrupted delete`],
          ["cleaned", "gone", `${hidden("root", "gone")}: interrupted delete`],
        ]);
        for (const base of ["state", "root"]) {
          assert.equal(existsSync(hidden(base, "gone")), false);
          assert.ok(existsSync(hidden(base, "going")), "a delete still changing its dir is not taken");
        }
        d = await sk("doctor");
        assert.equal(d.code, 0, d.stdout);
      } finally {
        for (const base of ["state", "root"]) {
          for (const id of ["gone", "going"]) await rm(hidden(base, id), { recursive: true, force: true });
        }
      }
    },
  );
});
