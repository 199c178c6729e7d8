/**
 * Load under concurrency, one suite for two runtimes (the real runc shim as root, the fake shim
 * everywhere): 50 `shimkit run --rm` processes in parallel on one state dir, 50 concurrent
 * run-to-completion lifecycles through one library TaskManager, and `shimkit load` racing `run`.
 * Each asserts every exit code and output, that no record is ever corrupt, that `load` never
 * reaps a shim that is being created, and that no process, socket, mount or directory is left.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { createRuntimeResolver } from "../src/runtime/resolve.ts";
import { generateDefaultSpec } from "../src/spec/default_spec.ts";
import { TaskManager } from "../src/task/manager.ts";
import { listRecords } from "../src/bundle/records.ts";
import type { LoadReport } from "../src/shim/loader.ts";
import { removeCgroupParents } from "./helpers/cgroups.ts";
import { type CliResult, runCli } from "./helpers/cli.ts";
import { fakeRuntime } from "./helpers/fake_runtime.ts";
import { findLeaks, type LeakSnapshot, snapshotLeaks } from "./helpers/leaks.ts";
import { busyboxRootfs } from "./helpers/rootfs.ts";
import { shimRuntimes } from "./helpers/runtimes.ts";
import { mountsUnder, type TempState, tempState } from "./helpers/temp_state.ts";

/** How many containers run at once: the number the restore issue asks for. */
const N = 50;
const NS = "conc";
const CGROUP_PARENT = "shimkit-conc";
/** 50 processes on a 2-CPU machine, each starting a shim: generous, the bound only catches hangs. */
const T = { timeout: 240_000 };
/** Shim start and connect bound for these tests (see `setup`). */
const START_MS = 60_000;

/** runc v2 and the fake shim (runc v1 too would add minutes of 50-process runs to CI). */
const RUNTIMES = (await shimRuntimes()).filter((r) => r.runtime !== "io.containerd.runc.v1");

const suffix = `${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
let seq = 0;
const newId = (what: string) => `${what}-${suffix}-${++seq}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exit code of container `i`: varied so a mix-up between containers shows. */
const exitCodeOf = (i: number) => (i * 7) % 11;

/** Every directory under `dir`, relative to it. */
async function listDirs(dir: string, base = dir, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isDirectory()) continue;
    const p = join(dir, e.name);
    out.push(relative(base, p));
    await listDirs(p, base, out);
  }
  return out;
}

/**
 * Directories that may stay once every container is gone: the top-level dirs, per-namespace
 * parents (containerd keeps them too), record and lock parents, socket dirs, the fake's bin dir.
 */
function allowedDir(rel: string): boolean {
  const parts = rel.split("/");
  if (parts.length === 1) return true;
  const [top, second, third] = parts;
  if (top === "state" || top === "root") {
    if (parts.length === 2) return [NS, ".locks", ".records", "s", "bin"].includes(second);
    return parts.length === 3 && (second === ".locks" || second === ".records") && third === NS;
  }
  // runc keeps its per-namespace state dir under the private runc root the tests pass.
  if (top === "runc") return parts.length === 2 && second === NS;
  return false;
}

/** Asserts no process, socket, mount, container directory or record is left under `s`. */
async function assertClean(s: TempState, snap: LeakSnapshot): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const leaks = await findLeaks(snap);
    if (leaks.processes.length === 0 && leaks.sockets.length === 0) break;
    if (Date.now() > deadline) {
      assert.fail(`leaked processes: ${leaks.processes.join("; ")}; sockets: ${leaks.sockets.join(", ")}`);
    }
    await sleep(50);
  }
  assert.deepEqual(await mountsUnder(s.dir), [], "no mounts left");
  assert.deepEqual((await listDirs(s.dir)).filter((d) => !allowedDir(d)), [], "no container dirs left");
  const records = await listRecords(s.root, NS);
  assert.deepEqual(records.errors.map((e) => e.message), [], "no corrupt record");
  assert.deepEqual(records.records.map((r) => r.id), [], "no record left");
}

for (const rc of RUNTIMES) {
  describe(`concurrency (${rc.runtime})`, { skip: rc.skip }, () => {
    let rootfs = "";
    let fake: Awaited<ReturnType<typeof fakeRuntime>> | undefined;

    before(async () => {
      if (rc.runc) rootfs = await busyboxRootfs();
      else {
        fake = await fakeRuntime();
        // The fake runs no real processes; its spec still names a root.
        rootfs = join(fake.dir, "rootfs");
        await mkdir(rootfs);
      }
    }, T);
    after(async () => {
      await fake?.cleanup();
      if (rc.runc) await removeCgroupParents(CGROUP_PARENT);
    });

    /** A fresh state for one test, its CLI, and what its leak check starts from. */
    const setup = async () => {
      const s = await tempState("sk-cc-");
      const snap = await snapshotLeaks([s.dir]);
      const env = fake ? { PATH: fake.path } : undefined;
      // 50 shims starting at once on a 2-CPU machine (a fake shim is two JS runtime processes) take
      // longer than the 5 s default start bound; what is tested here is correctness, not speed.
      const config = join(s.dir, "config.toml");
      await writeFile(config, `version = 3\n[timeouts]\nstart = "${START_MS}ms"\nload = "${START_MS}ms"\n`);
      const cli = (args: string[], timeoutMs = 180_000) =>
        runCli(["--config", config, "--state", s.state, "--root", s.root, "--namespace", NS, ...args], {
          env,
          timeoutMs,
        });
      return { s, snap, cli };
    };
    /** `run --rm ID -- sh -c SCRIPT` on this runtime (a runc container needs a rootfs). */
    const runRm = (s: TempState, id: string, script: string) => [
      "run",
      "--rm",
      ...(rc.runc
        ? ["--runtime", rc.runtime, "--rootfs", rootfs, "--runtime-option", `Root=${join(s.dir, "runc")}`]
        : ["--runtime", rc.runtime]),
      id,
      "--",
      "sh",
      "-c",
      script,
    ];
    const failure = (what: string, r: CliResult) =>
      `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-2000)}`;

    it(`${N} \`shimkit run --rm\` processes in parallel on one state dir`, T, async () => {
      const { s, snap, cli } = await setup();
      const ids = Array.from({ length: N }, () => newId("run"));
      try {
        const results = await Promise.all(
          ids.map((id, i) => cli(runRm(s, id, `echo out-${i}; echo err-${i} >&2; exit ${exitCodeOf(i)}`))),
        );
        results.forEach((r, i) => {
          assert.equal(r.code, exitCodeOf(i), failure(`run ${ids[i]}`, r));
          assert.equal(r.stdout, `out-${i}\n`, failure(`run ${ids[i]}`, r));
          assert.match(r.stderr, new RegExp(`^err-${i}$`, "m"));
        });
        const ps = await cli(["ps", "--json"]);
        assert.equal(ps.code, 0, failure("ps", ps));
        assert.deepEqual(JSON.parse(ps.stdout), []);
        await assertClean(s, snap);
      } finally {
        await cli(["delete", "--force", ...ids], 60_000).catch(() => {});
        await s.cleanup();
      }
    });

    it(`${N} concurrent run-to-completion lifecycles through one TaskManager`, T, async () => {
      const { s, snap } = await setup();
      const tm = await TaskManager.open({
        state: s.state,
        root: s.root,
        socketDir: s.socketDir,
        resolver: fake?.resolver ?? createRuntimeResolver({ path: process.env.PATH }),
        timeouts: { startMs: START_MS, loadMs: START_MS },
      });
      const ids = Array.from({ length: N }, () => newId("lib"));
      const outDir = join(s.dir, "out");
      try {
        try {
          await mkdir(outDir);
          // Each task waits on a gate file so all N exist at once, then exits with its own code.
          const gate = join(s.dir, "gate");
          await mkdir(gate);
          const created = await Promise.all(ids.map(async (id, i) => {
            const args = rc.runc
              ? ["sh", "-c", `while [ ! -e /gate/go ]; do sleep 0.05; done; exit ${exitCodeOf(i)}`]
              : ["sh", "-c", `sleep 0.5; exit ${exitCodeOf(i)}`];
            const spec = generateDefaultSpec({ id, namespace: NS, args, rootfs, readonlyRootfs: true });
            if (rc.runc) {
              (spec.linux as Record<string, unknown>).cgroupsPath = `/${CGROUP_PARENT}/${id}`;
              (spec.mounts as unknown[]).push({
                destination: "/gate",
                type: "bind",
                source: gate,
                options: ["rbind", "ro"],
              });
            }
            const task = await tm.create({
              namespace: NS,
              id,
              runtime: rc.runtime,
              runtimeOptions: rc.runc ? { root: join(s.dir, "runc") } : undefined,
              spec: spec as unknown as Record<string, unknown>,
              stdout: `file://${join(outDir, id)}`,
            });
            await task.start();
            return task;
          }));

          // All N live at once: every record is whole and names its container.
          const records = await listRecords(s.root, NS);
          assert.deepEqual(records.errors.map((e) => e.message), [], "no corrupt record");
          assert.deepEqual(records.records.map((r) => r.id).sort(), [...ids].sort());
          assert.equal((await tm.list(NS)).length, N);

          await writeFile(join(gate, "go"), "");
          const exits = await Promise.all(created.map((t) => t.wait()));
          exits.forEach((e, i) => assert.equal(e.exitStatus, exitCodeOf(i), `exit of ${ids[i]}`));
          const deleted = await Promise.all(ids.map((id) => tm.delete(NS, id)));
          deleted.forEach((d, i) => assert.equal(d.exitStatus, exitCodeOf(i), `delete of ${ids[i]}`));
          assert.deepEqual(await tm.list(NS), []);
        } finally {
          for (const t of await tm.list(NS)) await tm.delete(NS, t.id, { force: true }).catch(() => {});
          await tm.close();
        }
        await assertClean(s, snap);
      } finally {
        await s.cleanup();
      }
    });

    it("`shimkit load` racing `run --rm` never reaps a shim that is being created", T, async () => {
      const { s, snap, cli } = await setup();
      const K = 10;
      const ids = Array.from({ length: K }, () => newId("race"));
      try {
        let running = true;
        const runs = Promise.all(ids.map(async (id, i) => {
          // Staggered, so loads land in every phase: bundle, shim start, Create, Start, wait, delete.
          await sleep(i * 60);
          return cli(runRm(s, id, `sleep 0.3; echo done-${i}; exit ${exitCodeOf(i)}`));
        })).finally(() => running = false);
        const loads: CliResult[] = [];
        while (running || loads.length < 3) {
          loads.push(await cli(["load", "--json"]));
        }
        const results = await runs;
        results.forEach((r, i) => {
          assert.equal(r.code, exitCodeOf(i), failure(`run ${ids[i]}`, r));
          assert.equal(r.stdout, `done-${i}\n`, failure(`run ${ids[i]}`, r));
        });
        for (const l of loads) {
          const report = JSON.parse(l.stdout) as LoadReport;
          const reaped = report.reaped.filter((x) => ids.includes(x.id));
          assert.deepEqual(reaped, [], "load reaped a container that was being run");
        }
        await assertClean(s, snap);
      } finally {
        await cli(["delete", "--force", ...ids], 60_000).catch(() => {});
        await s.cleanup();
      }
    });
  });
}
