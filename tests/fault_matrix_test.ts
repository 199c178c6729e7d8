/**
 * The fault matrix: every fake-shim fault that makes sense at manager level × what the
 * TaskManager (and the restore code) must do about it. Hermetic (no root, no runc: the fake
 * shim through tests/helpers/fake_runtime.ts), table-driven, and each case checks
 * (a) the error kind and a message fragment naming the symptom, (b) a time bound,
 * (c) dead-shim cleanup with one synthesized `/tasks/exit` where the shim died, and
 * (d) nothing left behind: no process tied to the case's dirs (the fake's simulated pids are
 * ≥ 4194304 and never real, so real daemon pids are checked in /proc), no socket, and nothing
 * but the empty skeleton dirs (no bundle, work dir, record, fifo or lock).
 *
 * node:test runs one test at a time on both runtimes, so the cases are started together
 * (a few at a time) by `before` and each `it` awaits its own case. A case whose `bug` is set
 * exposes a known manager bug and is registered as `todo` (not run) until it is fixed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import os from "node:os";
import { defaultConfig } from "../src/config/config.ts";
import { type ErrorKind, kindOf } from "../src/errors.ts";
import type { TaskEvent } from "../src/events/topics.ts";
import { FAULT_ANNOTATION_PREFIX, SCENARIO_ANNOTATION } from "../src/fakeshim/faults.ts";
import { createLogger } from "../src/log/logger.ts";
import { isProcessAlive } from "../src/platform/process.ts";
import { loadExisting, type LoadReport } from "../src/shim/loader.ts";
import { listRecords } from "../src/bundle/records.ts";
import { type Task, TaskManager } from "../src/task/manager.ts";
import { Client, createClient, type ServiceClient, TtrpcError } from "../vendor/ttrpc-ts/mod.ts";
import { Shim as ShimV1 } from "../src/gen/containerd/runtime/linux/shim/v1/shim_pb.ts";
import { FAKE_V1, FAKE_V2, type FakeRuntime, fakeRuntime } from "./helpers/fake_runtime.ts";
import {
  assertNoLeaks,
  type LeakSnapshot,
  listProcesses,
  ownedPids,
  snapshotLeaks,
} from "./helpers/leaks.ts";
import { type TempState, tempState } from "./helpers/temp_state.ts";

const NS = "fm";
const ID = "c1";
/** The manager's timeouts for the matrix: small, so every bound below is small. */
const TIMEOUTS = { startMs: 3000, shutdownMs: 1500, cleanupMs: 3000, loadMs: 3000 };
/**
 * What spawning a fake shim may add to a bound on a loaded 2-CPU machine (each step execs a runtime),
 * scaled by the load measured when the file starts: the bounds prove that nothing hangs, they are not
 * performance figures, and a host running other suites besides this one is slower by about its load.
 */
const LOAD_FACTOR = Math.min(3, Math.max(1, os.loadavg()[0] / Math.max(1, os.cpus().length)));
const SLACK = Math.round(2500 * LOAD_FACTOR);
/** Fake pids start here (2^22): never a real process. */
const FAKE_PID_BASE = 4194304;
/** Cases running at once. */
const CONCURRENCY = 4;
/** Hard limit per case, so a regression fails the case instead of hanging the file. */
const CASE_LIMIT_MS = 40_000;
const SLEEP = ["sleep", "infinity"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fault = (target: string, spec: string) => ({ [FAULT_ANNOTATION_PREFIX + target]: spec });
const scenario = (toml: string) => ({ [SCENARIO_ANNOTATION]: toml });

/** Entries a case may leave in its temp dir: the empty skeleton the manager keeps, and the events journal. */
const SKELETON = new Set([
  "state",
  `state/${NS}`,
  "state/.locks",
  `state/.locks/${NS}`,
  "state/events.jsonl",
  "state/events.jsonl.1",
  "root",
  `root/${NS}`,
  "root/.records",
  `root/.records/${NS}`,
  "s",
]);

/** One case's world: temp dirs, the fake runtime, managers on those dirs, their events and warnings. */
class Harness {
  readonly s: TempState;
  readonly fake: FakeRuntime;
  /** Every event the case's subscriptions saw, in order. */
  readonly events: TaskEvent[] = [];
  /** Warning and error lines the managers logged. */
  readonly warnings: string[] = [];
  /** The managers' info lines. */
  readonly infos: string[] = [];
  /** Shim log lines that came through the log FIFO with the flood marker. */
  floodLines = 0;
  /** Real pids (shim daemons, leaked children) that must be gone at the end. */
  readonly realPids = new Set<number>();
  /** Pids a case stopped with SIGSTOP: continued before the leak check whatever happened. */
  readonly stopped = new Set<number>();
  readonly #managers: TaskManager[] = [];
  readonly #collectors: Promise<void>[] = [];
  #tm: TaskManager | undefined;

  constructor(s: TempState, fake: FakeRuntime) {
    this.s = s;
    this.fake = fake;
  }

  /** The current manager. */
  get tm(): TaskManager {
    if (!this.#tm) throw new Error("no manager open");
    return this.#tm;
  }

  /** Opens a manager on the case's dirs (it becomes `tm`) and subscribes to its events. */
  async open(env: Record<string, string> = {}): Promise<TaskManager> {
    const config = defaultConfig();
    config.shim.env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const logger = createLogger({
      level: "debug",
      write: (line) => {
        if (line.includes("x".repeat(64))) this.floodLines++;
        else if (/ level=(warn|error) /.test(line)) this.warnings.push(line);
        else if (/ level=info /.test(line)) this.infos.push(line);
      },
    });
    const tm = await TaskManager.open({
      state: this.s.state,
      root: this.s.root,
      socketDir: this.s.socketDir,
      resolver: this.fake.resolver,
      publishBinary: this.fake.v2,
      config,
      logger,
      timeouts: TIMEOUTS,
    });
    this.#managers.push(tm);
    this.#tm = tm;
    const sub = tm.subscribe({ namespace: NS });
    this.#collectors.push((async () => {
      for await (const ev of sub) this.events.push(ev);
    })());
    return tm;
  }

  /** Closes the current manager (its shims keep running). */
  async closeManager(): Promise<void> {
    const tm = this.tm;
    this.#tm = undefined;
    await tm.close();
  }

  /** An OCI spec for the fake: process args and annotations. */
  spec(args: string[], annotations: Record<string, string>): Record<string, unknown> {
    return { ociVersion: "1.0.2", process: { args, cwd: "/" }, root: { path: "rootfs" }, annotations };
  }

  /** Creates a task with the fake runtime; remembers its daemon's pid. */
  async create(
    annotations: Record<string, string> = {},
    args = SLEEP,
    id = ID,
    runtime = FAKE_V2,
  ): Promise<Task> {
    const task = await this.tm.create({ namespace: NS, id, runtime, spec: this.spec(args, annotations) });
    this.track(task);
    return task;
  }

  /** Remembers a task's shim daemon pid (a real process). */
  track(task: Task): void {
    assert.ok(task.shim.pid > 0 && task.shim.pid < FAKE_PID_BASE, `real shim pid, got ${task.shim.pid}`);
    assert.ok(task.pid >= FAKE_PID_BASE, `simulated task pid, got ${task.pid}`);
    this.realPids.add(task.shim.pid);
  }

  /** Events with a topic (and, when given, only synthesized or only shim-sent ones). */
  topics(topic: string, synthesized?: boolean): TaskEvent[] {
    return this.events.filter((e) =>
      e.topic === topic && (synthesized === undefined || !!e.synthesized === synthesized)
    );
  }

  /** Polls a condition. */
  async waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
      await sleep(20);
    }
  }

  /**
   * Waits for the dead-shim cleanup of `id` and checks it happened once: one synthesized
   * `/tasks/exit` with the given status, followed by a synthesized `/tasks/delete`, and the task gone.
   */
  async assertDeadShimCleanup(id: string, exitStatus: number, withinMs: number): Promise<void> {
    const t0 = performance.now();
    await this.waitFor(
      "synthesized /tasks/delete",
      () => this.topics("/tasks/delete", true).length > 0,
      withinMs,
    );
    // The events are published before the bundle and the record go: wait for the whole cleanup.
    const bundle = join(this.s.state, NS, id);
    const record = join(this.s.root, ".records", NS, `${id}.json`);
    await this.waitFor(
      "the bundle and record to go",
      () => !existsSync(bundle) && !existsSync(record),
      withinMs,
    );
    assert.ok(performance.now() - t0 < withinMs);
    const exits = this.topics("/tasks/exit", true);
    assert.equal(exits.length, 1, "one synthesized /tasks/exit");
    assert.equal(exits[0].containerId, id);
    assert.equal(exits[0].event.exitStatus, exitStatus);
    await assert.rejects(
      this.tm.get(NS, id),
      (e: Error) => kindOf(e) === "not_found" && /not found/.test(e.message),
    );
    await this.assertGone(id);
    // A second cleanup (a late loss hook, a delete) must not report the exit again.
    await sleep(200);
    assert.equal(this.topics("/tasks/exit", true).length, 1, "still one synthesized /tasks/exit");
  }

  /** Asserts that the container's bundle, work dir and record are gone. */
  async assertGone(id: string): Promise<void> {
    assert.equal(existsSync(join(this.s.state, NS, id)), false, "bundle removed");
    assert.equal(existsSync(join(this.s.root, NS, id)), false, "work dir removed");
    const { records } = await listRecords(this.s.root, NS);
    assert.deepEqual(records.filter((r) => r.id === id), [], "record removed");
  }

  /** Lists sockets in the case's socket dir. */
  async sockets(): Promise<string[]> {
    return (await readdir(this.s.socketDir).catch(() => [] as string[])).filter((n) => !n.startsWith("."));
  }

  /**
   * Closes the managers and checks that nothing of the case is left: processes tied to its dirs
   * or remembered by pid, sockets, and any entry beyond the empty skeleton. Then kills and
   * removes whatever is left, so a failing case cannot disturb the others.
   */
  async finish(): Promise<void> {
    for (const pid of this.stopped) signal(pid, "SIGCONT");
    const problems: string[] = [];
    const closing = Promise.allSettled(this.#managers.map((m) => m.close()));
    if (!(await settlesWithin(closing, 5000))) {
      // A call still hangs inside a manager (a case over its limit): free it by killing the shims.
      problems.push("the manager did not close within 5000ms");
      for (const pid of ownedPids(await listProcesses(), -1, [this.s.dir])) signal(pid, "SIGKILL");
      await settlesWithin(closing, 10_000);
    }
    await settlesWithin(Promise.allSettled(this.#collectors), 5000);
    let procs: string[] = [];
    const deadline = Date.now() + 3000;
    for (;;) {
      const all = await listProcesses();
      const owned = ownedPids(all, -1, [this.s.dir]);
      for (const pid of this.realPids) if (!gone(pid)) owned.add(pid);
      procs = [...owned].map((pid) => `${pid} ${all.find((p) => p.pid === pid)?.cmdline ?? ""}`);
      if (procs.length === 0 || Date.now() > deadline) {
        for (const pid of owned) signal(pid, "SIGKILL");
        break;
      }
      await sleep(50);
    }
    if (procs.length > 0) problems.push(`processes: ${procs.join("; ")}`);
    const left = (await walk(this.s.dir)).map((p) => relative(this.s.dir, p)).filter((p) => !SKELETON.has(p));
    if (left.length > 0) problems.push(`files: ${left.join(", ")}`);
    await this.s.cleanup();
    if (problems.length > 0) throw new Error(`leaked ${problems.join("; ")}`);
  }
}

/** Waits for a promise to settle, at most `ms`; tells whether it did. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) await walk(p, out);
  }
  return out;
}

/** What an error must look like, and how soon it must come. */
interface Want {
  kind: ErrorKind;
  match: RegExp;
  withinMs: number;
}

/** Runs `fn` and checks it fails with the wanted kind and message within the bound; returns the error. */
async function expectError(fn: () => Promise<unknown>, want: Want): Promise<Error> {
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = Math.round(performance.now() - t0);
  if (!(err instanceof Error)) {
    assert.fail(`expected a ${want.kind} error matching ${want.match}, got success`);
  }
  assert.equal(kindOf(err), want.kind, `kind of "${err.message}"`);
  assert.match(err.message, want.match);
  assert.ok(ms < want.withinMs, `failed after ${ms}ms, bound ${want.withinMs}ms`);
  return err;
}

/** Runs `fn` and checks it succeeds within the bound; returns its value and the time taken. */
async function within<T>(ms: number, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  const took = Math.round(performance.now() - t0);
  assert.ok(took < ms, `took ${took}ms, bound ${ms}ms`);
  return { value, ms: took };
}

/** A create that must fail at start or Create, leaving no events, no shim and nothing on disk. */
function failedCreate(annotations: Record<string, string>, want: Want, env: Record<string, string> = {}) {
  return async (h: Harness) => {
    if (Object.keys(env).length > 0) {
      await h.closeManager();
      await h.open(env);
    }
    await expectError(() => h.create(annotations, ["true"]), want);
    await h.assertGone(ID);
    assert.deepEqual(await h.sockets(), [], "no socket left in the socket dir");
    await sleep(100);
    assert.deepEqual(
      h.events.filter((e) => e.synthesized),
      [],
      "no synthesized events for a task never created",
    );
  };
}

/** A full lifecycle that must work despite (or thanks to) the annotations; returns the exit and time. */
async function lifecycle(h: Harness, annotations: Record<string, string>, args = ["sh", "-c", "exit 3"]) {
  const task = await h.create(annotations, args);
  await task.start();
  const exit = await task.wait("", { timeoutMs: 5000 });
  const del = await h.tm.delete(NS, ID);
  await h.assertGone(ID);
  return { task, exit, del };
}

/**
 * True when no thread of the process runs any more (a killed multi-threaded runtime shows its leader
 * as a zombie while other threads still exit, with every fd still open; `isProcessAlive` counts it
 * alive until the last one is gone).
 */
function gone(pid: number): boolean {
  return !isProcessAlive(pid);
}

/** Kills a process and waits until it is gone (every thread). */
async function killAndWait(pid: number): Promise<void> {
  signal(pid, "SIGKILL");
  const deadline = Date.now() + 5000;
  while (!gone(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} survived SIGKILL`);
    await sleep(10);
  }
}

/** A row of the matrix. */
interface Case {
  /** Fault spec(s) and the behaviour checked. */
  name: string;
  /** Set when the case exposes a known bug: the test is registered as todo. */
  bug?: string;
  /** Run alone after the others (it loads the machine). */
  serial?: boolean;
  run(h: Harness): Promise<void>;
}

const startBound = TIMEOUTS.startMs + SLACK;
const deadShimBound = TIMEOUTS.cleanupMs + 2 * SLACK;

const CASES: Case[] = [
  // ---- the `start` subcommand ----
  {
    name:
      'start fail(3,"runtime not configured"): create() rejects with the exit status and the shim\'s stderr',
    run: failedCreate(fault("start", 'fail(3,"runtime not configured")'), {
      kind: "unknown",
      match:
        /start shim "c1": containerd-shim-fake-v2 exited with status 3: io\.containerd\.fake\.v2: runtime not configured/,
      withinMs: startBound,
    }),
  },
  {
    name: "start fail from $SHIMKIT_FAKE_SCENARIO ([shim] env): create() rejects with the shim's stderr",
    run: failedCreate({}, {
      kind: "unknown",
      match: /exited with status 1: io\.containerd\.fake\.v2: set by the environment/,
      withinMs: startBound,
    }, { SHIMKIT_FAKE_SCENARIO: '[faults]\nstart = "fail(1,\\"set by the environment\\")"' }),
  },
  {
    name:
      "start garbage: the text is taken as an address (as containerd does) and the connect fails Unavailable",
    run: failedCreate(fault("start", "garbage"), {
      kind: "unavailable",
      match: /start shim "c1": connect to shim .*not-an-address/,
      withinMs: startBound,
    }),
  },
  {
    name: "start version(4): create() rejects NotImplemented and the daemon it started is stopped",
    run: failedCreate(fault("start", "version(4)"), {
      kind: "not_implemented",
      match: /unsupported shim version \(4\)/,
      withinMs: startBound + TIMEOUTS.cleanupMs + 1000,
    }),
  },
  {
    name:
      "start version(1): legacy JSON is taken as a plain address (containerd parseStartResponse) and rejected",
    run: failedCreate(fault("start", "version(1)"), {
      kind: "invalid_argument",
      match: /shim address "\{\\"version\\":1/,
      withinMs: startBound + TIMEOUTS.cleanupMs + 1000,
    }),
  },
  {
    name: "start dead-address: create() rejects NotFound naming the connect and the missing socket",
    run: failedCreate(fault("start", "dead-address"), {
      kind: "not_found",
      match: /start shim "c1": connect to shim .*ENOENT/,
      withinMs: startBound,
    }),
  },
  {
    name: "start hang: create() rejects DeadlineExceeded after startMs and the process group is killed",
    run: failedCreate(fault("start", "hang"), {
      kind: "deadline_exceeded",
      match: new RegExp(
        `containerd-shim-fake-v2 did not exit within ${TIMEOUTS.startMs}ms \\(process group killed\\)`,
      ),
      withinMs: startBound,
    }),
  },
  {
    name: "start latency(500ms): a slow start within startMs succeeds",
    async run(h) {
      const { ms } = await within(startBound, () => h.create(fault("start", "latency(500ms)")));
      assert.ok(ms >= 500, `took ${ms}ms, the latency is 500ms`);
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  ...([
    ["plain", 2],
    ["json-v2", 2],
    ["json-v3", 3],
    ["protobuf", 3],
  ] as const).map(([format, version]): Case => ({
    name:
      `bootstrap = "${format}": the address is parsed, bootstrap.json says version ${version}, the task runs`,
    async run(h) {
      const task = await h.create(scenario(`bootstrap = "${format}"`), ["sh", "-c", "exit 3"]);
      const boot = JSON.parse(await readFile(join(task.bundle, "bootstrap.json"), "utf8"));
      assert.equal(boot.version, version);
      assert.match(boot.address, /^unix:\/\//);
      assert.equal(task.shim.version, version);
      await task.start();
      assert.equal((await task.wait()).exitStatus, 3);
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 3);
      await h.assertGone(ID);
    },
  })),
  {
    name:
      'task_api = "v2" behind a v3 bootstrap: the connection falls back to v2 and bootstrap.json is rewritten',
    async run(h) {
      const task = await h.create(scenario('task_api = "v2"'));
      assert.equal(task.shim.version, 2);
      assert.equal(JSON.parse(await readFile(join(task.bundle, "bootstrap.json"), "utf8")).version, 2);
      await task.start();
      assert.equal((await task.state()).status, "running");
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name: 'task_api = "v3" behind a v2 bootstrap: create() rejects NotImplemented naming the missing service',
    run: failedCreate(scenario('task_api = "v3"\nbootstrap = "json-v2"'), {
      kind: "not_implemented",
      match: /connect.*"c1": .*containerd\.task\.v2\.Task/,
      withinMs: startBound + TIMEOUTS.cleanupMs + 1000,
    }),
  },
  {
    name: "Connect hang: create() rejects DeadlineExceeded after loadMs and the silent daemon is stopped",
    run: failedCreate(fault("Connect", "hang"), {
      kind: "deadline_exceeded",
      match: /start shim "c1": connect to shim .*connect.*"c1"/,
      withinMs: startBound + TIMEOUTS.loadMs + TIMEOUTS.cleanupMs + 1000,
    }),
  },

  // ---- the daemon's life ----
  {
    name: "daemon die: the server dies right after start; create() rejects Unavailable and nothing is left",
    run: failedCreate(fault("daemon", "die"), {
      kind: "unavailable",
      match: /create.*"c1": ttrpc: closed|connect to shim/,
      withinMs: startBound + TIMEOUTS.cleanupMs,
    }),
  },
  {
    name:
      "daemon die(1500ms) after start: dead-shim cleanup once (synthesized exit 137), task gone, nothing left",
    async run(h) {
      const task = await h.create(fault("daemon", "die(1500ms)"));
      await task.start();
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
      assert.ok(h.warnings.some((w) => /shim disconnected/.test(w)), "the loss is logged");
      await expectError(() => h.tm.delete(NS, ID), {
        kind: "not_found",
        match: /task "fm\/c1" not found/,
        withinMs: 2000,
      });
      assert.deepEqual(await h.sockets(), [], "the dead daemon's socket is removed");
    },
  },
  {
    name: "daemon die(1500ms)+stale-socket: the cleanup removes the socket the shim and its delete leave",
    async run(h) {
      const task = await h.create(fault("daemon", "die(1500ms)+stale-socket"));
      await task.start();
      assert.equal((await h.sockets()).length, 1);
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name:
      "daemon stale-socket: delete works, the socket stays, a new start replaces it, loadExisting sweeps it",
    async run(h) {
      const ann = fault("daemon", "stale-socket");
      const first = await lifecycle(h, ann);
      await h.waitFor("the first shim to exit", () => gone(first.task.shim.pid));
      const [sock] = await h.sockets();
      assert.ok(sock, "the shim left its socket (documented: delete trusts the shim to remove it)");
      const again = await lifecycle(h, ann);
      assert.equal(again.exit.exitStatus, 3);
      await h.waitFor("the second shim to exit", () => gone(again.task.shim.pid));
      assert.deepEqual(await h.sockets(), [sock], "the same path, replaced and left again");
      const report = await sweep(h, sock);
      assert.ok(
        report.cleaned.some((c) => c.path.endsWith(sock) && c.reason === "stale socket"),
        JSON.stringify(report),
      );
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name:
      "daemon leak-process(30s): Pids lists it; delete leaves no shim; the leaked child outlives it (not ours)",
    async run(h) {
      const task = await h.create(fault("daemon", "leak-process(30s)"));
      await task.start();
      const pids = (await task.pids()).map((p) => p.pid);
      const leaked = pids.filter((p) => p < FAKE_PID_BASE);
      assert.equal(leaked.length, 1, `one real pid among ${pids}`);
      assert.ok(pids.includes(task.pid));
      h.realPids.add(leaked[0]);
      const shimPid = task.shim.pid;
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.waitFor("the shim daemon to exit", () => gone(shimPid));
      await h.assertGone(ID);
      // The manager only stops what it started: a child the shim put in its own process group is the
      // shim's leak. It survives the delete; the test reaps it by pid.
      assert.ok(isProcessAlive(leaked[0]), "the leaked process is not killed by the manager");
      await killAndWait(leaked[0]);
    },
  },
  {
    name: "daemon log-flood(256KiB): the manager drains the log FIFO and keeps working",
    async run(h) {
      const { value } = await within(
        startBound + 5000,
        () => lifecycle(h, fault("daemon", "log-flood(256KiB)")),
      );
      assert.equal(value.del.exitStatus, 3);
      assert.ok(h.floodLines >= 200, `drained ${h.floodLines} flood lines`);
    },
  },
  {
    name: "daemon log-flood(8MiB): the default flood is drained without stalling the manager",
    serial: true,
    async run(h) {
      const { value } = await within(10_000, () => lifecycle(h, fault("daemon", "log-flood(8MiB)")));
      assert.equal(value.del.exitStatus, 3);
      assert.ok(h.floodLines >= 8000, `drained ${h.floodLines} flood lines`);
      assert.equal(h.topics("/tasks/create").length, 1);
    },
  },

  // ---- chosen status codes ----
  ...([
    ["NotFound", "not_found"],
    ["AlreadyExists", "already_exists"],
    ["FailedPrecondition", "failed_precondition"],
    ["Unavailable", "unavailable"],
  ] as const).map(([code, kind]): Case => ({
    name: `Create error(${code}): create() rejects ${kind} with the shim's message; the shim is stopped`,
    run: failedCreate(fault("Create", `error(${code},"injected ${code}")`), {
      kind,
      match: new RegExp(`create task "fm/c1": .*create.*"c1": injected ${code}`),
      withinMs: startBound + TIMEOUTS.cleanupMs + TIMEOUTS.shutdownMs,
    }),
  })),
  {
    name: "Start error(InvalidArgument): start() rejects invalid_argument; the task stays and deletes",
    async run(h) {
      const task = await h.create(fault("Start", 'error(InvalidArgument,"bad process args")'));
      await expectError(() => task.start(), {
        kind: "invalid_argument",
        match: /start.*"c1": bad process args/,
        withinMs: 2000,
      });
      assert.equal((await task.state()).status, "created");
      // Deleting a created (never started) task kills its init: the fake reports 137.
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name: "Kill error(PermissionDenied), Pids error(13), State error(Unknown): each maps to its kind",
    async run(h) {
      const task = await h.create({
        ...fault("Kill", '1*error(PermissionDenied,"signals denied")'),
        ...fault("Pids", '1*error(13,"pids exploded")'),
        ...fault("State", '1*error(Unknown,"state unknown")'),
      });
      await task.start();
      await expectError(() => task.kill(15), {
        kind: "permission_denied",
        match: /kill.*"c1": signals denied/,
        withinMs: 2000,
      });
      await expectError(() => task.pids(), {
        kind: "internal",
        match: /pids.*"c1": pids exploded/,
        withinMs: 2000,
      });
      await expectError(() => task.state(), {
        kind: "unknown",
        match: /state.*"c1": state unknown/,
        withinMs: 2000,
      });
      assert.equal((await task.state()).status, "running", "each fault hit one call only");
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Delete error(FailedPrecondition) once: delete() rejects naming it, keeps the task, and a retry works",
    async run(h) {
      const task = await h.create(fault("Delete", '1*error(FailedPrecondition,"cannot delete yet")'), [
        "true",
      ]);
      await task.start();
      await task.wait();
      await expectError(() => h.tm.delete(NS, ID), {
        kind: "failed_precondition",
        match: /delete task "fm\/c1": .*delete.*"c1": cannot delete yet/,
        withinMs: 2000,
      });
      assert.equal((await (await h.tm.get(NS, ID)).state()).status, "stopped");
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 0);
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Delete error(Unavailable) once from a live shim: delete() rejects naming it, keeps the task, a retry works",
    async run(h) {
      const task = await h.create(fault("Delete", '1*error(Unavailable,"shim busy")'), ["true"]);
      await task.start();
      await task.wait();
      await expectError(() => h.tm.delete(NS, ID), {
        kind: "unavailable",
        match: /shim busy/,
        withinMs: 4000,
      });
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 0);
      await h.assertGone(ID);
    },
  },

  // ---- crashes, closed connections, hangs, latency, oversized replies ----
  {
    name:
      "Create crash: create() rejects Unavailable, no exit is synthesized (never created), nothing is left",
    run: failedCreate(fault("Create", "crash"), {
      kind: "unavailable",
      match: /create task "fm\/c1": .*create.*"c1": ttrpc: closed/,
      withinMs: startBound + TIMEOUTS.cleanupMs,
    }),
  },
  {
    name:
      "Create close: the connection closes mid-Create; create() rejects Unavailable and stops the live daemon",
    run: failedCreate(fault("Create", "close"), {
      kind: "unavailable",
      match: /create.*"c1": ttrpc: closed/,
      withinMs: startBound + TIMEOUTS.cleanupMs + 2000,
    }),
  },
  {
    name: "Start crash: start() rejects Unavailable; dead-shim cleanup once (synthesized exit 137)",
    async run(h) {
      const task = await h.create(fault("Start", "crash"));
      await expectError(() => task.start(), {
        kind: "unavailable",
        match: /start.*"c1": ttrpc: closed/,
        withinMs: 2000,
      });
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
    },
  },
  {
    name: "Wait crash: wait() rejects Unavailable instead of hanging; dead-shim cleanup once",
    async run(h) {
      const task = await h.create(fault("Wait", "crash"));
      await task.start();
      await expectError(() => task.wait(), {
        kind: "unavailable",
        match: /wait.*"c1": ttrpc: closed/,
        withinMs: 2000,
      });
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
    },
  },
  {
    name: '"*" = "3*off->crash": the 4th call (Connect, Create, Start, then State) crashes; cleanup once',
    async run(h) {
      const task = await h.create(fault("*", "3*off->crash"));
      await task.start();
      await expectError(() => task.state(), {
        kind: "unavailable",
        match: /state.*"c1": ttrpc: closed/,
        withinMs: 2000,
      });
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
    },
  },
  {
    name: "State close once: state() rejects Unavailable, no cleanup (the shim answers), get() reconnects",
    async run(h) {
      const task = await h.create(fault("State", "1*close"));
      await task.start();
      await expectError(() => task.state(), {
        kind: "unavailable",
        match: /state.*"c1": ttrpc: closed/,
        withinMs: 2000,
      });
      await h.waitFor("the loss to be handled", () => h.warnings.some((w) => /shim disconnected/.test(w)));
      const again = await h.tm.get(NS, ID);
      assert.notEqual(again, task, "a new connection");
      assert.equal((await again.state()).status, "running");
      assert.equal(again.shim.pid, task.shim.pid, "the same shim");
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      assert.deepEqual(h.events.filter((e) => e.synthesized), [], "nothing synthesized for a live shim");
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Wait close (every call): delete({force}) kills, loses its Wait too, and deletes through a new connection",
    async run(h) {
      // `run --rm` on such a shim: its Wait loses the connection, then the cleanup's force delete
      // loses its own Wait. The shim lives and answers: it must be deleted, not left behind.
      const task = await h.create(fault("Wait", "close"));
      await task.start();
      await expectError(() => task.wait(), {
        kind: "unavailable",
        match: /wait.*"c1": ttrpc: closed/,
        withinMs: 2000,
      });
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      assert.deepEqual(h.events.filter((e) => e.synthesized), [], "nothing synthesized for a live shim");
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Delete close once: delete() reconnects (the shim answers) and deletes; nothing synthesized, nothing left",
    async run(h) {
      const task = await h.create(fault("Delete", "1*close"));
      await task.start();
      await task.kill(9);
      assert.equal((await task.wait()).exitStatus, 137);
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 137);
      assert.ok(h.infos.some((m) => /deleting through a new one/.test(m)), "the retry is logged");
      assert.deepEqual(h.events.filter((e) => e.synthesized), [], "nothing synthesized for a live shim");
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Wait hang once: wait({timeoutMs: 1000}) rejects DeadlineExceeded in time; the task is still usable",
    async run(h) {
      const task = await h.create(fault("Wait", "1*hang"));
      await task.start();
      await expectError(() => task.wait("", { timeoutMs: 1000 }), {
        kind: "deadline_exceeded",
        match: /wait.*"c1": context deadline exceeded/,
        withinMs: 1000 + 1000,
      });
      assert.equal((await task.state()).status, "running");
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name: "Wait hang always: delete({force}) is bounded by cleanupMs and still deletes",
    async run(h) {
      const task = await h.create(fault("Wait", "hang"));
      await task.start();
      const { value } = await within(
        TIMEOUTS.cleanupMs + TIMEOUTS.shutdownMs + 2000,
        () => h.tm.delete(NS, ID, { force: true }),
      );
      assert.equal(value.exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name: "Create hang: create() is bounded and rejects DeadlineExceeded; the shim is stopped",
    run: failedCreate(fault("Create", "hang"), {
      kind: "deadline_exceeded",
      match: /create task "fm\/c1"/,
      withinMs: 2 * startBound + TIMEOUTS.cleanupMs + TIMEOUTS.shutdownMs,
    }),
  },
  {
    name: "Delete hang: delete() is bounded and rejects DeadlineExceeded naming the Delete call",
    async run(h) {
      const task = await h.create(fault("Delete", "1*hang"), ["true"]);
      await task.start();
      await task.wait();
      await expectError(() => h.tm.delete(NS, ID), {
        kind: "deadline_exceeded",
        match: /delete task "fm\/c1": .*delete.*"c1"/,
        withinMs: TIMEOUTS.cleanupMs + 2000,
      });
      assert.equal((await h.tm.delete(NS, ID)).exitStatus, 0);
      await h.assertGone(ID);
    },
  },
  {
    name:
      "Delete hang always: delete({force}) tears the shim down with its delete binary once Delete times out",
    async run(h) {
      const task = await h.create(fault("Delete", "hang"), ["true"]);
      await task.start();
      await task.wait();
      const shimPid = task.shim.pid;
      const { value } = await within(
        2 * TIMEOUTS.cleanupMs + SLACK,
        () => h.tm.delete(NS, ID, { force: true }),
      );
      assert.equal(value.exitStatus, 0, "the init's own status, from the shim's delete binary");
      await h.waitFor("the shim daemon to exit", () => gone(shimPid));
      await h.assertDeadShimCleanup(ID, 0, deadShimBound);
      assert.ok(h.warnings.some((l) => /shim did not answer delete/.test(l)), "the teardown is logged");
    },
  },
  {
    name: "Shutdown hang: delete() is bounded by shutdownMs, names the Shutdown, and leaves no shim behind",
    async run(h) {
      const task = await h.create(fault("Shutdown", "hang"), ["true"]);
      await task.start();
      await task.wait();
      const shimPid = task.shim.pid;
      // Either outcome names the Shutdown: a DeadlineExceeded error, or (as containerd) a logged error
      // and a delete that goes on. Either way the hung shim must not survive.
      const { value: err } = await within(
        TIMEOUTS.shutdownMs + TIMEOUTS.cleanupMs + 2000,
        () => h.tm.delete(NS, ID).then(() => undefined, (e: Error) => e),
      );
      if (err) {
        assert.equal(kindOf(err), "deadline_exceeded");
        assert.match(err.message, /shutdown.*"c1"/);
      } else {
        assert.ok(h.warnings.some((w) => /level=error .*shut ?down/.test(w)), h.warnings.join("\n"));
      }
      await h.waitFor("the hung shim to be stopped", () => gone(shimPid), TIMEOUTS.cleanupMs + 2000);
      await h.assertGone(ID);
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name: "daemon linger(60s) after Shutdown: delete() waits shutdownMs, then kills the daemon; nothing left",
    async run(h) {
      const task = await h.create(fault("daemon", "linger(60s)"), ["true"]);
      await task.start();
      await task.wait();
      const shimPid = task.shim.pid;
      const { ms } = await within(TIMEOUTS.shutdownMs + 1000 + SLACK, () => h.tm.delete(NS, ID));
      assert.ok(ms >= TIMEOUTS.shutdownMs, `delete waited ${ms}ms for the shim to exit on its own`);
      await h.waitFor("the killed daemon to exit", () => gone(shimPid));
      assert.ok(
        h.warnings.some((w) => /shim still running after Shutdown; killed/.test(w)),
        h.warnings.join("\n"),
      );
      await h.assertGone(ID);
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name: "Shutdown latency(500ms), Delete latency(300ms): a slow but answering shim deletes normally",
    async run(h) {
      const task = await h.create({
        ...fault("Shutdown", "latency(500ms)"),
        ...fault("Delete", "latency(300ms)"),
      }, ["true"]);
      await task.start();
      await task.wait();
      const { value, ms } = await within(TIMEOUTS.shutdownMs + 2000, () => h.tm.delete(NS, ID));
      assert.equal(value.exitStatus, 0);
      assert.ok(ms >= 800, `took ${ms}ms, the latencies add to 800ms`);
      await h.assertGone(ID);
    },
  },
  {
    name: "State latency(500ms): answers late but within budget, and succeeds",
    async run(h) {
      const task = await h.create(fault("State", "latency(500ms)"));
      await task.start();
      const { value, ms } = await within(2500, () => task.state());
      assert.equal(value.status, "running");
      assert.ok(ms >= 500, `took ${ms}ms`);
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name:
      "State oversize once: state() rejects ResourceExhausted naming the 4 MiB limit; the connection survives",
    async run(h) {
      const task = await h.create(fault("State", "1*oversize"));
      await task.start();
      await expectError(() => task.state(), {
        kind: "resource_exhausted",
        match: /state.*"c1": message length 4195\d{3} exceed maximum message size of 4194304/,
        withinMs: 3000,
      });
      assert.equal((await task.state()).status, "running");
      assert.equal(task.shim.connection.closed, false);
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },
  {
    name: "Pids oversize(8MiB) once: pids() rejects ResourceExhausted; the next call answers",
    async run(h) {
      const task = await h.create(fault("Pids", "1*oversize(8MiB)"));
      await task.start();
      await expectError(() => task.pids(), {
        kind: "resource_exhausted",
        match: /pids.*"c1": message length 83886\d\d exceed maximum message size of 4194304/,
        withinMs: 3000,
      });
      assert.deepEqual((await task.pids()).map((p) => p.pid), [task.pid]);
      assert.equal((await h.tm.delete(NS, ID, { force: true })).exitStatus, 137);
      await h.assertGone(ID);
    },
  },

  // ---- the event publisher ----
  {
    name: "events drop-exit: wait() still returns; subscribers see exactly what the shim sent (no exit)",
    async run(h) {
      const { exit, del } = await lifecycle(h, fault("events", "drop-exit"));
      assert.equal(exit.exitStatus, 3);
      assert.equal(del.exitStatus, 3);
      await h.waitFor("/tasks/delete", () => h.topics("/tasks/delete").length === 1);
      assert.deepEqual(h.events.map((e) => e.topic), ["/tasks/create", "/tasks/start", "/tasks/delete"]);
      assert.ok(h.events.every((e) => !e.synthesized), "the manager makes up no exit for a live shim");
    },
  },
  {
    name: "events dup-exit: subscribers get both /tasks/exit as sent (the manager does not dedupe)",
    async run(h) {
      await lifecycle(h, fault("events", "dup-exit"));
      await h.waitFor("/tasks/delete", () => h.topics("/tasks/delete").length === 1);
      assert.deepEqual(h.events.map((e) => e.topic), [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/exit",
        "/tasks/delete",
      ]);
      assert.deepEqual(h.topics("/tasks/exit").map((e) => e.event.exitStatus), [3, 3]);
    },
  },
  {
    name: "events drop-all: wait() and delete() work without any event",
    async run(h) {
      const { exit } = await lifecycle(h, fault("events", "drop-all"));
      assert.equal(exit.exitStatus, 3);
      await sleep(300);
      assert.deepEqual(h.events, []);
    },
  },

  // ---- the `delete` subcommand (dead-shim cleanup) ----
  {
    name:
      'delete fail(1,"cannot delete") after a crash: exit 255 synthesized once, the failure logged, nothing left',
    async run(h) {
      const task = await h.create({
        ...fault("State", "crash"),
        ...fault("delete", 'fail(1,"cannot delete")'),
      });
      await task.start();
      await expectError(() => task.state(), { kind: "unavailable", match: /ttrpc: closed/, withinMs: 2000 });
      await h.assertDeadShimCleanup(ID, 255, deadShimBound);
      assert.ok(
        h.warnings.some((w) => /exited with status 1: io\.containerd\.fake\.v2: cannot delete/.test(w)),
        h.warnings.join("\n"),
      );
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name: "delete hang after a crash: bounded by cleanupMs (group killed), exit 255 synthesized once",
    async run(h) {
      const task = await h.create({ ...fault("State", "crash"), ...fault("delete", "hang") });
      await task.start();
      await expectError(() => task.state(), { kind: "unavailable", match: /ttrpc: closed/, withinMs: 2000 });
      await h.assertDeadShimCleanup(ID, 255, TIMEOUTS.cleanupMs + deadShimBound);
      assert.ok(
        h.warnings.some((w) =>
          w.includes(`did not exit within ${TIMEOUTS.cleanupMs}ms (process group killed)`)
        ),
        h.warnings.join("\n"),
      );
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name: "delete latency(300ms) after a crash: the shim's own exit status (137) is reported",
    async run(h) {
      const task = await h.create({ ...fault("Wait", "crash"), ...fault("delete", "latency(300ms)") });
      await task.start();
      await expectError(() => task.wait(), { kind: "unavailable", match: /ttrpc: closed/, withinMs: 2000 });
      await h.assertDeadShimCleanup(ID, 137, deadShimBound);
    },
  },
  {
    name:
      "start version(4) + delete fail: the failed start's cleanup still stops the daemon; the sweep gets the socket",
    async run(h) {
      await expectError(
        () => h.create({ ...fault("start", "version(4)"), ...fault("delete", 'fail(1,"cannot delete")') }),
        {
          kind: "not_implemented",
          match: /unsupported shim version \(4\)/,
          withinMs: startBound + TIMEOUTS.cleanupMs + 1000,
        },
      );
      await h.assertGone(ID);
      await h.waitFor(
        "the daemon to be killed",
        async () => (await listProcesses()).every((p) => !p.cwd?.startsWith(h.s.dir)),
      );
      // The start output was unusable and the shim's own delete failed: unless the manager guesses where
      // the socket is, the killed daemon's socket stays until loadExisting sweeps the socket dir.
      const [sock] = await h.sockets();
      if (sock) {
        const report = await sweep(h, sock);
        assert.ok(
          report.cleaned.some((c) => c.path.endsWith(sock) && c.reason === "stale socket"),
          JSON.stringify(report),
        );
      }
      assert.deepEqual(await h.sockets(), []);
    },
  },

  // ---- the legacy v1 flavour ----
  {
    name: "runtime io.containerd.fake.v1: the manager cannot drive a v1 shim and says why",
    run: async (h) => {
      await expectError(() => h.create({}, ["true"], ID, FAKE_V1), {
        kind: "unknown",
        match: /containerd-shim-fake-v1 exited with status 2: flag provided but not defined: -/,
        withinMs: startBound,
      });
      await h.assertGone(ID);
    },
  },
  {
    name: "fake v1 over its binary protocol: ShimInfo, Create, Start, Kill, Wait, Delete, SIGTERM",
    async run(h) {
      const v1 = await startV1(h, {});
      try {
        assert.equal((await v1.shim.shimInfo({})).shimPid, v1.child.pid);
        const { pid } = await v1.shim.create({ id: "v1c", bundle: v1.bundle });
        assert.ok(pid >= FAKE_PID_BASE);
        assert.equal((await v1.shim.start({ id: "v1c" })).pid, pid);
        await v1.shim.kill({ id: "v1c", signal: 9, all: false });
        assert.equal((await v1.shim.wait({ id: "v1c" })).exitStatus, 137);
        assert.equal((await v1.shim.delete({})).exitStatus, 137);
      } finally {
        v1.client.close();
      }
      await stopV1(v1, "SIGTERM");
      assert.equal(existsSync(v1.socket), false, "SIGTERM removes the socket");
      await rm(v1.dir, { recursive: true });
    },
  },
  {
    name: "fake v1 faults: Create error(NotFound) is status 5; a State crash ends the daemon with code 2",
    async run(h) {
      const v1 = await startV1(h, {
        ...fault("Create", '1*error(NotFound,"no such bundle")'),
        ...fault("State", "crash"),
      });
      try {
        await assert.rejects(
          v1.shim.create({ id: "v1c", bundle: v1.bundle }),
          (e: unknown) => e instanceof TtrpcError && e.code === 5 && /no such bundle/.test(e.message),
        );
        await v1.shim.create({ id: "v1c", bundle: v1.bundle });
        await assert.rejects(
          v1.shim.state({ id: "v1c" }),
          (e: unknown) => e instanceof TtrpcError && e.code === 14,
        );
      } finally {
        v1.client.close();
      }
      assert.equal(await v1.exited, 2);
      // A crashed v1 shim leaves its socket, as documented; v1 has no `delete` to clean it.
      await rm(v1.dir, { recursive: true });
    },
  },

  // ---- restore (src/shim/loader.ts loadExisting) ----
  {
    name: "restore: a wedged shim (SIGSTOP) costs at most the load budget, is kept, and the others load",
    async run(h) {
      const wedged = await h.create({}, SLEEP, "w1");
      const healthy = await h.create({}, SLEEP, "w2");
      await wedged.start();
      await healthy.start();
      await h.closeManager();
      h.stopped.add(wedged.shim.pid);
      process.kill(wedged.shim.pid, "SIGSTOP");
      await h.open();
      const budgetMs = 1500;
      const { value: report } = await within(budgetMs + SLACK, () => load(h, budgetMs));
      const w1 = report.kept.find((k) => k.id === "w1");
      const w2 = report.kept.find((k) => k.id === "w2");
      assert.match(w1?.note ?? "", /not answering in time/, JSON.stringify(report));
      assert.equal(w2?.shimPid, healthy.shim.pid, JSON.stringify(report));
      assert.deepEqual(report.reaped, []);
      assert.equal((await (await h.tm.get(NS, "w2")).state()).status, "running");
      process.kill(wedged.shim.pid, "SIGCONT");
      h.stopped.delete(wedged.shim.pid);
      for (const id of ["w1", "w2"]) {
        assert.equal((await h.tm.delete(NS, id, { force: true })).exitStatus, 137);
        await h.assertGone(id);
      }
    },
  },
  {
    name: "restore: a dead shim (kill -9) is cleaned up once, its exit reported, nothing left",
    async run(h) {
      const task = await h.create({}, SLEEP, "d1");
      await task.start();
      await h.closeManager();
      await killAndWait(task.shim.pid);
      await h.open();
      const { value: report } = await within(TIMEOUTS.cleanupMs + SLACK, () => load(h, 3000));
      assert.deepEqual(report.reaped.map((r) => [r.id, r.exitStatus]), [["d1", 137]], JSON.stringify(report));
      assert.match(report.reaped[0].reason, /dead shim: socket (refuses connections|is gone)/);
      await h.assertDeadShimCleanup("d1", 137, 3000);
      assert.deepEqual(await h.sockets(), []);
    },
  },
  {
    name: "restore: a leaked shim (its task deleted, never shut down) is reaped",
    async run(h) {
      const task = await h.create({}, ["true"], "l1");
      await task.start();
      await task.wait();
      await task.shim.task.delete("l1");
      await h.closeManager();
      assert.ok(isProcessAlive(task.shim.pid), "the shim outlives its manager");
      await h.open();
      const report = await load(h, 3000);
      assert.deepEqual(report.reaped.map((r) => r.id), ["l1"], JSON.stringify(report));
      assert.match(report.reaped[0].reason, /leaked shim/);
      await h.waitFor("the leaked shim to exit", () => gone(task.shim.pid));
      await h.assertGone("l1");
      assert.deepEqual(
        h.events.filter((e) => e.synthesized),
        [],
        "a reaped live shim reports no made-up exit",
      );
    },
  },
  {
    name: "restore: a bundle with only an `address` file is migrated (bootstrap.json written) and kept",
    async run(h) {
      const task = await h.create({}, SLEEP, "m1");
      await task.start();
      const boot = JSON.parse(await readFile(join(task.bundle, "bootstrap.json"), "utf8"));
      await h.closeManager();
      await unlink(join(task.bundle, "bootstrap.json"));
      await writeFile(join(task.bundle, "address"), boot.address);
      await h.open();
      const report = await load(h, 3000);
      assert.deepEqual(
        report.kept.map((k) => [k.id, k.shimPid]),
        [["m1", task.shim.pid]],
        JSON.stringify(report),
      );
      const migrated = JSON.parse(await readFile(join(task.bundle, "bootstrap.json"), "utf8"));
      assert.deepEqual(migrated, { version: 2, address: boot.address, protocol: "ttrpc" });
      assert.equal((await (await h.tm.get(NS, "m1")).state()).status, "running");
      assert.equal((await h.tm.delete(NS, "m1", { force: true })).exitStatus, 137);
      await h.assertGone("m1");
    },
  },
];

/**
 * Runs loadExisting until it removed the socket `name` (at most 3 times): its liveness probe of a
 * socket gives up after 200 ms and then counts the socket as live, which a loaded machine can hit.
 */
async function sweep(h: Harness, name: string): Promise<LoadReport> {
  let report = await load(h, 2000);
  for (let i = 1; i < 3 && !report.cleaned.some((c) => c.path.endsWith(name)); i++) {
    report = await load(h, 2000);
  }
  return report;
}

function load(h: Harness, budgetMs: number): Promise<LoadReport> {
  return loadExisting(h.tm, {
    state: h.s.state,
    root: h.s.root,
    resolver: h.fake.resolver,
    budgetMs,
    socketDirs: [h.s.socketDir],
  });
}

/** A v1 fake shim daemon serving `-socket` in a bundle of the case dir. */
interface V1Shim {
  dir: string;
  bundle: string;
  socket: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  client: Client;
  shim: ServiceClient<typeof ShimV1>;
}

async function startV1(h: Harness, annotations: Record<string, string>): Promise<V1Shim> {
  const dir = join(h.s.dir, "v1");
  const bundle = join(dir, "b");
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, "config.json"), JSON.stringify(h.spec(SLEEP, annotations)));
  const socket = join(dir, "v1.sock");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("SHIMKIT_")) env[k] = v;
  }
  const child = spawn(h.fake.v1, [
    "-namespace",
    NS,
    "-socket",
    `unix://${socket}`,
    "-containerd-binary",
    "/bin/true",
  ], {
    cwd: bundle,
    env,
    stdio: ["ignore", "ignore", "ignore"],
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  if (child.pid) h.realPids.add(child.pid);
  await h.waitFor("the v1 socket", () => existsSync(socket), 10_000);
  const client = await Client.dial(socket, { metadata: {} });
  return { dir, bundle, socket, child, exited, client, shim: createClient(ShimV1, client) };
}

async function stopV1(v1: V1Shim, sig: NodeJS.Signals): Promise<void> {
  v1.child.kill(sig);
  await v1.exited;
}

/** `FAULT_MATRIX_ONLY=<regexp>` runs only the matching cases (the others are skipped). */
const ONLY = process.env.FAULT_MATRIX_ONLY ? new RegExp(process.env.FAULT_MATRIX_ONLY) : undefined;
const selected = (c: Case) => !ONLY || ONLY.test(c.name);
/** `FAULT_MATRIX_BUGS=1` runs the known-bug cases as ordinary tests (to check a fix). */
const RUN_BUGS = process.env.FAULT_MATRIX_BUGS === "1";
const isTodo = (c: Case) => c.bug !== undefined && !RUN_BUGS;

/** Runs cases with at most `limit` at once, each bounded by {@link CASE_LIMIT_MS}. */
function runCases(cases: Case[], fake: FakeRuntime, limit: number): Map<string, Promise<void>> {
  const results = new Map<string, Promise<void>>();
  const queue = cases.filter((c) => !isTodo(c) && selected(c));
  const pool = queue.filter((c) => !c.serial);
  const serial = queue.filter((c) => c.serial);
  const slots: Promise<void>[] = [];
  const starters = new Map<string, () => void>();
  for (const c of queue) {
    results.set(
      c.name,
      new Promise<void>((resolve, reject) =>
        starters.set(c.name, () => runOne(c, fake).then(resolve, reject))
      ),
    );
  }
  let next = 0;
  const worker = async () => {
    while (next < pool.length) {
      const c = pool[next++];
      starters.get(c.name)!();
      await results.get(c.name)!.catch(() => {});
    }
  };
  for (let i = 0; i < Math.min(limit, pool.length); i++) slots.push(worker());
  void Promise.all(slots).then(async () => {
    for (const c of serial) {
      starters.get(c.name)!();
      await results.get(c.name)!.catch(() => {});
    }
  });
  for (const p of results.values()) p.catch(() => {});
  return results;
}

/** Cases whose leak check has not run yet, with their temp states (removed by the suite if it ends first). */
const unfinished = new Map<string, TempState>();

async function runOne(c: Case, fake: FakeRuntime): Promise<void> {
  const s = await tempState("sk-fm-");
  unfinished.set(c.name, s);
  const h = new Harness(s, fake);
  let failure: unknown;
  try {
    await h.open();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`case did not finish within ${CASE_LIMIT_MS}ms`)),
        CASE_LIMIT_MS,
      );
    });
    try {
      await Promise.race([c.run(h), limit]);
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    failure = err;
  }
  try {
    await h.finish();
  } catch (err) {
    failure ??= err;
  } finally {
    unfinished.delete(c.name);
  }
  if (failure !== undefined) throw failure;
}

describe("fault matrix: fake-shim faults × TaskManager", () => {
  let fake: FakeRuntime;
  let leaks: LeakSnapshot;
  let results = new Map<string, Promise<void>>();

  before(async () => {
    fake = await fakeRuntime("sk-fmb-");
    leaks = await snapshotLeaks([fake.dir]);
    results = runCases(CASES, fake, CONCURRENCY);
  });

  // Bun gives hooks 5 s whatever the options say: every case has settled by now (each test awaited its own).
  after(async () => {
    await settlesWithin(Promise.allSettled(results.values()), 1000);
    // Cases start in `before`, not in their tests: a test-name filter skips the tests but not the cases,
    // which then outlive the suite. The leak check below kills their shims, their dirs are removed, and this
    // says why they ran.
    const running = [...unfinished.keys()];
    const why = running.length === 0 ? "" : `${running.length} case(s) still running when the suite ended ` +
      `(a test-name filter such as \`bun test -t\` does not stop them; select cases with ` +
      `FAULT_MATRIX_ONLY=<regexp>): ${running.slice(0, 3).join("; ")}`;
    try {
      await assertNoLeaks(leaks, { timeoutMs: 2500 });
    } catch (err) {
      throw why ? new Error(`${why}; ${(err as Error).message}`) : err;
    } finally {
      await fake.cleanup();
      for (const s of unfinished.values()) await s.cleanup();
    }
    if (why) throw new Error(why);
  });

  it("covers at least 30 cases that run", () => {
    assert.ok(CASES.filter((c) => !c.bug).length >= 30, `${CASES.length} cases`);
    assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, "case names are unique");
  });

  for (const c of CASES) {
    const opts = isTodo(c)
      ? { todo: `bug: ${c.bug}` }
      : selected(c)
      ? { timeout: 180_000 }
      : { skip: "not selected by FAULT_MATRIX_ONLY" };
    it(c.name, opts, async () => {
      const p = results.get(c.name);
      assert.ok(p, "the case was started");
      await p;
    });
  }
});
