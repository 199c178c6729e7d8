import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  acquireContainerLock,
  isStaleLockOwner,
  liveLockOwner,
  type LockOwner,
  parseLockOwner,
  parseProcStat,
  probeProcess,
  readLockOwner,
  removeStaleLocks,
  withContainerLock,
} from "./lock.ts";
import { AbortedError } from "../errors.ts";
import { lockPath } from "./layout.ts";
import { isProcessAlive, selfCommand } from "../platform/process.ts";

describe("parseProcStat()", () => {
  const tail = "S 1 100 100 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
  const cases: Array<{ name: string; text: string; want: ReturnType<typeof parseProcStat> }> = [
    { name: "reads field 22", text: `42 (sleep) ${tail}`, want: { startTime: 987654, state: "S" } },
    {
      name: "survives spaces and parens in comm",
      text: `42 (a) b (c)) ${tail}`,
      want: { startTime: 987654, state: "S" },
    },
    { name: "rejects text without comm", text: "42 sleep S 1", want: undefined },
    { name: "rejects a short line", text: "42 (x) S 1 2", want: undefined },
  ];
  for (const tc of cases) it(tc.name, () => assert.deepEqual(parseProcStat(tc.text), tc.want));
});

describe("isStaleLockOwner()", () => {
  const owner: LockOwner = { pid: 10, startTime: 500, host: "h1" };
  const cases = [
    {
      name: "live owner, same start time: held",
      host: "h1",
      now: { alive: true, startTime: 500 },
      want: false,
    },
    { name: "dead owner: stale", host: "h1", now: { alive: false }, want: true },
    {
      name: "pid reused (other start time): stale",
      host: "h1",
      now: { alive: true, startTime: 501 },
      want: true,
    },
    { name: "alive, start time unknown: held", host: "h1", now: { alive: true }, want: false },
    { name: "other host: never stale", host: "h2", now: { alive: false }, want: false },
    {
      name: "holder's start time unknown (0): held while alive",
      host: "h1",
      owner: { ...owner, startTime: 0 },
      now: { alive: true, startTime: 9 },
      want: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(isStaleLockOwner(tc.owner ?? owner, tc.host, tc.now), tc.want));
  }
});

describe("parseLockOwner()", () => {
  const cases = [
    {
      name: "parses an owner",
      text: '{"pid":5,"startTime":7,"host":"h"}',
      want: { pid: 5, startTime: 7, host: "h" },
    },
    { name: "rejects an empty file", text: "", want: undefined },
    { name: "rejects pid 0", text: '{"pid":0,"startTime":7,"host":"h"}', want: undefined },
    { name: "rejects a missing host", text: '{"pid":5,"startTime":7}', want: undefined },
  ];
  for (const tc of cases) it(tc.name, () => assert.deepEqual(parseLockOwner(tc.text), tc.want));
});

describe("acquireContainerLock()", () => {
  let state = "";
  before(async () => {
    state = await fsp.mkdtemp(join(tmpdir(), "shimkit-lock-"));
  });
  after(async () => {
    await fsp.rm(state, { recursive: true, force: true });
  });

  it("writes this process as owner and removes the file on release", async () => {
    const lock = await acquireContainerLock(state, "ns", "c1");
    const owner = await readLockOwner(state, "ns", "c1");
    assert.equal(owner?.pid, process.pid);
    assert.equal(owner?.host, hostname());
    assert.equal(owner?.startTime, (await probeProcess(process.pid)).startTime);
    assert.deepEqual(await liveLockOwner(state, "ns", "c1"), owner);
    await lock.release();
    await lock.release();
    assert.equal(await readLockOwner(state, "ns", "c1"), undefined);
    assert.equal(await liveLockOwner(state, "ns", "c1"), undefined);
  });

  it("gives up with AbortedError while a live holder keeps it", async () => {
    const lock = await acquireContainerLock(state, "ns", "c2");
    try {
      const t0 = Date.now();
      await assert.rejects(acquireContainerLock(state, "ns", "c2", { timeoutMs: 150 }), AbortedError);
      assert.ok(Date.now() - t0 >= 140);
      await assert.rejects(acquireContainerLock(state, "ns", "c2", { timeoutMs: 0 }), /held by pid/);
    } finally {
      await lock.release();
    }
  });

  it("serializes contenders in one process", async () => {
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map((n) =>
      withContainerLock(state, "ns", "c3", async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 5));
        order.push(n);
        inside--;
      })
    ));
    assert.equal(maxInside, 1);
    assert.equal(order.length, 5);
  });

  it("releases when the function throws", async () => {
    await assert.rejects(
      withContainerLock(state, "ns", "c4", () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await readLockOwner(state, "ns", "c4"), undefined);
  });

  it("breaks a stale lock from a dead pid", async () => {
    const dead = spawnSync("true").pid!;
    const path = lockPath(state, "ns", "c5");
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, JSON.stringify({ pid: dead, startTime: 1, host: hostname() }));
    assert.equal(await liveLockOwner(state, "ns", "c5"), undefined);
    const lock = await acquireContainerLock(state, "ns", "c5", { timeoutMs: 0 });
    assert.equal((await readLockOwner(state, "ns", "c5"))?.pid, process.pid);
    await lock.release();
  });

  it("breaks a lock whose pid was reused by another process", async () => {
    const path = lockPath(state, "ns", "c6");
    await fsp.mkdir(dirname(path), { recursive: true });
    const me = (await probeProcess(process.pid)).startTime!;
    await fsp.writeFile(path, JSON.stringify({ pid: process.pid, startTime: me + 1, host: hostname() }));
    const lock = await acquireContainerLock(state, "ns", "c6", { timeoutMs: 0 });
    assert.equal((await readLockOwner(state, "ns", "c6"))?.startTime, me);
    await lock.release();
  });

  it("never breaks a lock from another host", async () => {
    const path = lockPath(state, "ns", "c7");
    await fsp.mkdir(dirname(path), { recursive: true });
    await fsp.writeFile(path, JSON.stringify({ pid: 999999, startTime: 1, host: "elsewhere.invalid" }));
    await assert.rejects(acquireContainerLock(state, "ns", "c7", { timeoutMs: 0 }), AbortedError);
    await fsp.rm(path);
  });

  it("removeStaleLocks() removes dead owners' locks and keeps live ones", async () => {
    const live = await acquireContainerLock(state, "gc", "live");
    const stalePath = lockPath(state, "gc", "dead");
    await fsp.writeFile(
      stalePath,
      JSON.stringify({ pid: spawnSync("true").pid, startTime: 1, host: hostname() }),
    );
    assert.deepEqual(await removeStaleLocks(state, true), [stalePath]);
    assert.ok(await fsp.stat(stalePath));
    assert.deepEqual(await removeStaleLocks(state), [stalePath]);
    await assert.rejects(fsp.stat(stalePath));
    assert.equal((await readLockOwner(state, "gc", "live"))?.pid, process.pid);
    await live.release();
  });
});

describe("acquireContainerLock() across processes", () => {
  let state = "";
  const children = new Set<ChildProcess>();
  const child = resolve(dirname(fileURLToPath(import.meta.url)), "lock_child.ts");
  const run = (...args: string[]) => {
    const c = selfCommand();
    // selfCommand() ends with the running script; swap in the child script, keep the runtime and its flags.
    const p = spawn(c.file, [...c.args.slice(0, -1), child, state, "ns", ...args], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.add(p);
    p.once("exit", () => children.delete(p));
    return p;
  };
  const firstLine = (p: ChildProcess) =>
    new Promise<string>((res, rej) => {
      let buf = "";
      p.stdout!.on("data", (d) => {
        buf += d;
        const nl = buf.indexOf("\n");
        if (nl >= 0) res(buf.slice(0, nl));
      });
      p.once("exit", () => rej(new Error(`child exited before a line: ${JSON.stringify(buf)}`)));
    });
  const exited = (p: ChildProcess) =>
    new Promise<void>((res) =>
      p.exitCode !== null || p.signalCode !== null ? res() : p.once("exit", () => res())
    );

  before(async () => {
    state = await fsp.mkdtemp(join(tmpdir(), "shimkit-lock2-"));
  });
  after(async () => {
    for (const p of children) p.kill("SIGKILL");
    await Promise.all([...children].map(exited));
    await fsp.rm(state, { recursive: true, force: true });
  });

  it("waits for a live holder in another process, then gets the lock", async () => {
    const holder = run("c1", "hold");
    assert.equal(await firstLine(holder), `locked ${holder.pid}`);
    assert.equal((await liveLockOwner(state, "ns", "c1"))?.pid, holder.pid);
    await assert.rejects(
      acquireContainerLock(state, "ns", "c1", { timeoutMs: 200 }),
      new RegExp(`held by pid ${holder.pid}`),
    );
    setTimeout(() => holder.stdin!.end(), 100);
    const lock = await acquireContainerLock(state, "ns", "c1", { timeoutMs: 10_000 });
    assert.equal((await readLockOwner(state, "ns", "c1"))?.pid, process.pid);
    await lock.release();
    await exited(holder);
  });

  it("breaks the lock of a holder killed with SIGKILL", async () => {
    const holder = run("c2", "hold");
    await firstLine(holder);
    holder.kill("SIGKILL");
    await exited(holder);
    // Deno reports a killed child as exited as soon as the signal is sent; wait until the kernel agrees.
    for (let i = 0; i < 200 && isProcessAlive(holder.pid!); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await liveLockOwner(state, "ns", "c2"), undefined);
    const lock = await acquireContainerLock(state, "ns", "c2", { timeoutMs: 0 });
    await lock.release();
  });

  it("makes another process wait while this one holds it", async () => {
    const lock = await acquireContainerLock(state, "ns", "c3");
    const short = run("c3", "take", "100");
    assert.equal(await firstLine(short), "failed aborted");
    const waiter = run("c3", "take", "10000");
    const line = firstLine(waiter);
    await new Promise((r) => setTimeout(r, 300));
    await lock.release();
    assert.equal(await line, "acquired");
    await Promise.all([exited(short), exited(waiter)]);
  });
});
