import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { constants, existsSync, statSync } from "node:fs";
import { type FileHandle, mkdir, mkdtemp, open, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { spawnSync } from "node:child_process";
import { makeFifos } from "../platform/fifo.ts";
import {
  createFifoSet,
  existingFifoSet,
  FIFO_DIR_GRACE_MS,
  FIFO_DIR_NAME,
  fifoDirCreator,
  fifoDirOf,
  isLeftoverFifoDir,
  nextPollDelay,
  POLL_MAX_MS,
  readFifo,
  sweepFifoDirs,
} from "./stdio.ts";

/** A sink that records what it was given. */
function collector() {
  const chunks: Uint8Array[] = [];
  return {
    chunks,
    text: () => Buffer.concat(chunks).toString(),
    write(c: Uint8Array) {
      chunks.push(c);
      return true;
    },
    once(_e: "drain", cb: () => void) {
      cb();
    },
  };
}

describe("createFifoSet()", () => {
  let state = "";
  before(async () => {
    state = await mkdtemp(join(tmpdir(), "shimkit-stdio-"));
  });
  after(async () => {
    await rm(state, { recursive: true, force: true });
  });

  it("createFifoSet() makes stdout and stderr FIFOs, no stdin without -i", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c1", stdin: false, terminal: false });
    try {
      assert.ok(set.dir.startsWith(join(state, FIFO_DIR_NAME, "default-c1-")), set.dir);
      assert.equal(set.paths.stdin, "");
      assert.equal(set.paths.terminal, false);
      assert.ok(statSync(set.paths.stdout).isFIFO());
      assert.ok(statSync(set.paths.stderr).isFIFO());
      assert.deepEqual((await readdir(set.dir)).sort(), ["stderr", "stdout"]);
    } finally {
      await set.close();
    }
    assert.ok(!existsSync(set.dir));
    assert.ok(!existsSync(join(state, FIFO_DIR_NAME)), "empty .fifo parent is removed");
  });

  it("createFifoSet() with a terminal leaves stderr empty", async () => {
    const set = await createFifoSet({
      state,
      namespace: "ns",
      id: "c2",
      execId: "e1",
      stdin: true,
      terminal: true,
    });
    try {
      assert.equal(set.paths.stderr, "");
      assert.equal(set.paths.terminal, true);
      assert.ok(statSync(set.paths.stdin).isFIFO());
      assert.ok(set.dir.includes("ns-c2-e1-"));
    } finally {
      await set.close();
    }
    assert.ok(!existsSync(set.dir));
  });

  it("FifoSet.attach() copies output until the writer closes", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c3", stdin: false, terminal: false });
    // Play the shim: it holds both ends of each FIFO (O_RDWR never blocks on Linux).
    const shimOut = await open(set.paths.stdout, "r+");
    const shimErr = await open(set.paths.stderr, "r+");
    try {
      const out = collector();
      const err = collector();
      await set.attach({ stdout: out, stderr: err });
      await shimOut.write("hello ");
      await shimErr.write("oops");
      await shimOut.write("world");
      await shimOut.close();
      await shimErr.close();
      set.processExited();
      assert.equal(await set.drain(5000), true);
      assert.equal(out.text(), "hello world");
      assert.equal(err.text(), "oops");
    } finally {
      await set.close();
    }
  });

  it("FifoSet.drain() times out while a writer is still open", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c4", stdin: false, terminal: false });
    const shimOut = await open(set.paths.stdout, "r+");
    const shimErr = await open(set.paths.stderr, "r+");
    try {
      await set.attach({ stdout: collector(), stderr: collector() });
      assert.equal(await set.drain(50), false);
    } finally {
      await shimOut.close();
      await shimErr.close();
      set.processExited();
      assert.equal(await set.drain(5000), true);
      await set.close();
    }
  });

  it("FifoSet.open() lets the shim's blocking write-end open complete; no writer yet is not the end", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c8", stdin: false, terminal: false });
    try {
      await set.open();
      const out = collector();
      await set.attach({ stdout: out, stderr: collector() });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await set.drain(10), false, "not finished before any writer came");
      // What the runc shim does in Create: a plain blocking O_WRONLY open, which needs a reader.
      const w = await open(set.paths.stdout, "w");
      const e = await open(set.paths.stderr, "w");
      await w.write("late");
      await w.close();
      await e.close();
      set.processExited();
      assert.equal(await set.drain(5000), true);
      assert.equal(out.text(), "late");
    } finally {
      await set.close();
    }
  });

  it("FifoSet.holdOpen() keeps early output for a later attach", async () => {
    const created = await createFifoSet({
      state,
      namespace: "default",
      id: "c9",
      stdin: false,
      terminal: false,
    });
    let shimOut: FileHandle | undefined;
    let shimErr: FileHandle | undefined;
    try {
      await created.holdOpen(async () => {
        // The shim opens its ends during Create and keeps them.
        shimOut = await open(created.paths.stdout, "r+");
        shimErr = await open(created.paths.stderr, "r+");
      });
      await shimOut!.write("early");
      const later = existingFifoSet(state, created.paths)!;
      assert.equal(later.dir, created.dir);
      const out = collector();
      await later.attach({ stdout: out, stderr: collector() });
      await shimOut!.close();
      await shimErr!.close();
      later.processExited();
      assert.equal(await later.drain(5000), true);
      assert.equal(out.text(), "early");
      await later.close();
    } finally {
      await created.close();
    }
    assert.ok(!existsSync(created.dir));
  });

  it("fifoDirOf() recognises only CLI FIFO dirs", () => {
    assert.equal(fifoDirOf("/s", "/s/.fifo/default-c1-abc/stdout"), "/s/.fifo/default-c1-abc");
    assert.equal(fifoDirOf("/s", "/s/.fifo/default-c1-abc/stderr"), undefined);
    assert.equal(fifoDirOf("/s", "/elsewhere/x/stdout"), undefined);
    assert.equal(fifoDirOf("/s", ""), undefined);
    assert.equal(fifoDirOf("/s", "/s/.fifo/stdout"), undefined);
  });

  it("FifoSet.attach() idle reads do not starve other file I/O", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c6", stdin: false, terminal: false });
    const shimOut = await open(set.paths.stdout, "r+");
    const shimErr = await open(set.paths.stderr, "r+");
    try {
      await set.attach({ stdout: collector(), stderr: collector() });
      // Blocking FIFO reads would hold the runtime's file I/O threads; Bun's pool then stalls this write.
      const write = writeFile(join(state, "unrelated"), "x").then(() => "done");
      const timeout = new Promise((r) => setTimeout(() => r("stalled"), 2000));
      assert.equal(await Promise.race([write, timeout]), "done");
    } finally {
      await set.close();
      await shimOut.close();
      await shimErr.close();
    }
  });

  it("FifoSet.close() stops copying while the writer is still open", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c7", stdin: false, terminal: false });
    const shimOut = await open(set.paths.stdout, "r+");
    const shimErr = await open(set.paths.stderr, "r+");
    try {
      await set.attach({ stdout: collector(), stderr: collector() });
      const started = Date.now();
      await set.close();
      assert.ok(Date.now() - started < 1000);
      assert.ok(!existsSync(set.dir));
    } finally {
      await shimOut.close();
      await shimErr.close();
    }
  });

  it("FifoSet.attach() forwards stdin and reports its end", async () => {
    const set = await createFifoSet({ state, namespace: "default", id: "c5", stdin: true, terminal: true });
    const shimIn = await open(set.paths.stdin, "r+");
    const shimOut = await open(set.paths.stdout, "r+");
    try {
      const source = new PassThrough();
      let ended = false;
      await set.attach({
        stdout: collector(),
        stderr: collector(),
        stdin: source,
        onStdinEnd: () => {
          ended = true;
        },
      });
      source.write("abc");
      source.end("def");
      const deadline = Date.now() + 5000;
      while (!ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ended, "onStdinEnd was called");
      const buf = Buffer.alloc(16);
      const { bytesRead } = await shimIn.read(buf, 0, 16, null);
      assert.equal(buf.subarray(0, bytesRead).toString(), "abcdef");
    } finally {
      await shimIn.close();
      await shimOut.close();
      set.processExited();
      await set.drain(5000);
      await set.close();
    }
  });
});

/**
 * Runs readFifo() on a fake FIFO until it has backed off to its longest pause, then reports the
 * process's exit and wakes it; resolves with which came first after the wake-up, the read's end
 * or a timer of `withinMs`.
 */
async function exitAfterBackoff(
  read: (exited: boolean) => Promise<{ bytesRead: number }>,
  withinMs: number,
): Promise<{ first: string; got: number }> {
  const fifo: { state?: "eof" } = {};
  let reads = 0;
  const fh = {
    read() {
      reads++;
      return read(fifo.state === "eof");
    },
  } as unknown as FileHandle;
  let wakeUp = () => {};
  let woken = new Promise<void>((r) => wakeUp = r);
  const got = readFifo(fh, new Uint8Array(16), () => fifo.state, () => woken);
  // Let it back off to its longest wait.
  await new Promise((r) => setTimeout(r, 80));
  assert.ok(reads >= 3, `${reads} reads while waiting`);
  fifo.state = "eof";
  const w = wakeUp;
  woken = new Promise<void>((r) => wakeUp = r);
  w();
  const first = await Promise.race([
    got.then(() => "returned"),
    new Promise<string>((r) => setTimeout(() => r("still waiting"), withinMs)),
  ]);
  return { first, got: await got };
}

describe("readFifo()", () => {
  it("readFifo() stops backing off as soon as it is woken", async () => {
    // A FIFO whose writer has not connected: reads return 0 (settling in microtasks only).
    // Woken, it reads again without waiting for its timer: it returns before a 0 ms timeout fires.
    const { first, got } = await exitAfterBackoff(() => Promise.resolve({ bytesRead: 0 }), 0);
    assert.equal(first, "returned");
    assert.equal(got, 0);
  });

  it("readFifo() starts its backoff over when the process exits while a writer is still attached", async () => {
    // The shim closes its end a moment after the exit: the first read after the wake-up finds the
    // writer still there (EAGAIN), and the end of file must be seen after a 1 ms pause, not after
    // the longest one (POLL_MAX_MS).
    let readsAfterExit = 0;
    const { first, got } = await exitAfterBackoff((exited) => {
      if (exited && ++readsAfterExit > 1) return Promise.resolve({ bytesRead: 0 });
      return Promise.reject(Object.assign(new Error("EAGAIN"), { code: "EAGAIN" }));
    }, POLL_MAX_MS / 2);
    assert.equal(first, "returned");
    assert.equal(got, 0);
    assert.equal(readsAfterExit, 2);
  });
});

describe("nextPollDelay()", () => {
  it("doubles from 1 ms and stops at POLL_MAX_MS", () => {
    const seen = [1];
    while (seen.length < 8) seen.push(nextPollDelay(seen.at(-1)!));
    assert.deepEqual(seen, [1, 2, 4, 8, 16, 20, 20, 20]);
    assert.equal(POLL_MAX_MS, 20);
  });
});

describe("fifoDirCreator()", () => {
  const cases: Array<[string, number | undefined]> = [
    ["default-c1-1234-AbC123", 1234],
    ["default-web-1-e1-99-x9Y8z7", 99],
    ["default-c1-AbC123", undefined],
    ["default-c1-0-AbC123", undefined],
  ];
  for (const [name, want] of cases) {
    it(`${name}: ${want}`, () => assert.equal(fifoDirCreator(name), want));
  }
});

describe("isLeftoverFifoDir()", () => {
  const old = FIFO_DIR_GRACE_MS;
  const cases: Array<[string, Parameters<typeof isLeftoverFifoDir>[0], boolean]> = [
    ["held open: kept", { held: true, creator: 5, creatorAlive: false, ageMs: old }, false],
    ["creator alive: kept", { held: false, creator: 5, creatorAlive: true, ageMs: old }, false],
    [
      "creator gone, nobody holds it: removed",
      { held: false, creator: 5, creatorAlive: false, ageMs: 0 },
      true,
    ],
    ["no creator in the name, young: kept", {
      held: false,
      creator: undefined,
      creatorAlive: false,
      ageMs: 10,
    }, false],
    ["no creator in the name, old: removed", {
      held: false,
      creator: undefined,
      creatorAlive: false,
      ageMs: old,
    }, true],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => assert.equal(isLeftoverFifoDir(input), want));
  }
});

describe("sweepFifoDirs()", () => {
  it("removes the dirs of gone creators that nobody holds, and keeps the rest; --dry-run only lists", async () => {
    const state = await mkdtemp(join(tmpdir(), "shimkit-sweep-"));
    const held: FileHandle[] = [];
    try {
      const parent = join(state, FIFO_DIR_NAME);
      const gone = spawnSync("true").pid!;
      const make = async (name: string) => {
        const dir = join(parent, name);
        await mkdir(dir, { recursive: true });
        await makeFifos([join(dir, "stdout")], { mode: 0o600 });
        return dir;
      };
      const orphan = await make(`default-c1-${gone}-AAAAAA`);
      const mine = await make(`default-c2-${process.pid}-BBBBBB`);
      const inUse = await make(`default-c3-${gone}-CCCCCC`);
      held.push(await open(join(inUse, "stdout"), constants.O_RDWR | constants.O_NONBLOCK));
      const legacyOld = await make("default-c4-DDDDDD");
      const past = new Date(Date.now() - FIFO_DIR_GRACE_MS - 1000);
      await utimes(legacyOld, past, past);
      const legacyNew = await make("default-c5-EEEEEE");

      assert.deepEqual((await sweepFifoDirs(state, { dryRun: true })).sort(), [orphan, legacyOld].sort());
      assert.ok(existsSync(orphan), "a dry run removes nothing");
      assert.deepEqual((await sweepFifoDirs(state)).sort(), [orphan, legacyOld].sort());
      assert.deepEqual(
        (await readdir(parent)).sort(),
        [mine, inUse, legacyNew].map((d) => d.slice(parent.length + 1)).sort(),
      );
    } finally {
      await Promise.all(held.map((fh) => fh.close()));
      await rm(state, { recursive: true, force: true });
    }
  });

  it("finds nothing in a state dir without FIFO dirs", async () => {
    const state = await mkdtemp(join(tmpdir(), "shimkit-sweep-"));
    try {
      assert.deepEqual(await sweepFifoDirs(state), []);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });
});
