import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError } from "../errors.ts";
import { createLogger, type LogLevel } from "../log/logger.ts";
import { LineSplitter, LOG_LINE_MAX, openLogFifo } from "./log_fifo.ts";

describe("LineSplitter", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const cases: Array<[string, Uint8Array[], string[], string | undefined]> = [
    ["splits complete lines", [enc("a\nb\n")], ["a", "b"], undefined],
    [
      "carries a partial line across chunks",
      [enc("hel"), enc("lo\nwor"), enc("ld\n")],
      ["hello", "world"],
      undefined,
    ],
    ["keeps the unterminated tail for flush", [enc("a\nrest")], ["a"], "rest"],
    ["drops a CR before LF", [enc("a\r\nb\r\n")], ["a", "b"], undefined],
    ["keeps empty lines", [enc("\n\n")], ["", ""], undefined],
    [
      "reassembles a multi-byte character split across chunks",
      [new Uint8Array([0x63, 0x61, 0x66, 0xc3]), new Uint8Array([0xa9, 0x0a])],
      ["café"],
      undefined,
    ],
  ];
  for (const [name, chunks, want, tail] of cases) {
    it(`LineSplitter ${name}`, () => {
      const s = new LineSplitter();
      assert.deepEqual(chunks.flatMap((c) => s.push(c)), want);
      assert.equal(s.flush(), tail);
    });
  }
  it("LineSplitter cuts lines longer than the limit, terminated or not", () => {
    const s = new LineSplitter(4);
    assert.deepEqual(s.push(enc("abcdefghij\n")), ["abcd", "efgh", "ij"]);
    assert.deepEqual(s.push(enc("0123456789")), ["0123", "4567"]);
    assert.equal(s.flush(), "89");
    assert.equal(LOG_LINE_MAX, 65536);
  });
});

interface Entry {
  level: LogLevel;
  msg: string;
  [k: string]: unknown;
}

function capture(): { logger: ReturnType<typeof createLogger>; entries: Entry[] } {
  const entries: Entry[] = [];
  const logger = createLogger({ level: "trace", format: "json", write: (l) => entries.push(JSON.parse(l)) });
  return { logger, entries };
}

function sh(script: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const c = spawn("/bin/sh", ["-c", script], { stdio: "ignore" });
    c.once("error", reject);
    c.once("exit", (code) => resolve(code));
  });
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

function threadCount(): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0);
}

describe("openLogFifo()", () => {
  let dir = "";
  let n = 0;
  const bundle = async () => {
    const p = join(dir, `b${n++}`);
    await mkdir(p);
    return p;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "shimkit-logfifo-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("openLogFifo() creates a 0700 fifo and forwards lines with level and fields", async () => {
    const b = await bundle();
    const { logger, entries } = capture();
    const fifo = await openLogFifo({
      bundlePath: b,
      logger,
      level: "debug",
      fields: { id: "c1", namespace: "default", runtime: "io.containerd.runc.v2" },
    });
    try {
      const st = await lstat(join(b, "log"));
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o777, 0o700);
      assert.equal(fifo.path, join(b, "log"));
      await sh(`printf 'time="t" level=info msg="starting signal loop"\\n\\npart' > ${b}/log`);
      await until(() => entries.length >= 1, 3000);
    } finally {
      await fifo.close();
    }
    assert.deepEqual(entries.map(({ time: _t, ...e }) => e), [
      {
        level: "debug",
        msg: 'time="t" level=info msg="starting signal loop"',
        id: "c1",
        namespace: "default",
        runtime: "io.containerd.runc.v2",
      },
      { level: "debug", msg: "part", id: "c1", namespace: "default", runtime: "io.containerd.runc.v2" },
    ]);
    await fifo.close();
  });

  it("openLogFifo() keeps reading when the writer exits and a new one opens (no EOF)", async () => {
    const b = await bundle();
    const { logger, entries } = capture();
    const fifo = await openLogFifo({ bundlePath: b, logger });
    try {
      await sh(`echo first > ${b}/log`);
      await until(() => entries.length >= 1, 3000);
      await sh(`echo second > ${b}/log`);
      await until(() => entries.length >= 2, 3000);
      assert.deepEqual(entries.map((e) => e.msg), ["first", "second"]);
    } finally {
      await fifo.close();
    }
  });

  it("openLogFifo() reuses an existing fifo and refuses a regular file", async () => {
    const b = await bundle();
    const { logger } = capture();
    const first = await openLogFifo({ bundlePath: b, logger });
    await first.close();
    const again = await openLogFifo({ bundlePath: b, logger });
    await again.close();
    const b2 = await bundle();
    await writeFile(join(b2, "log"), "");
    await assert.rejects(openLogFifo({ bundlePath: b2, logger }), FailedPreconditionError);
  });

  it("openLogFifo() drains 100 fifos at once on the event loop without a thread each", async () => {
    const N = 100;
    const LINES = 20;
    const { logger, entries } = capture();
    const bundles: string[] = [];
    for (let i = 0; i < N; i++) bundles.push(await bundle());
    const fifos = await Promise.all(
      bundles.map((b, i) => openLogFifo({ bundlePath: b, logger, fields: { id: `c${i}` } })),
    );
    // Counted after the opens: creating 100 fifos spawns mkfifo 100 times, which may grow a runtime's spawn pool.
    const threadsBefore = threadCount();
    let ticks = 0;
    let maxLag = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - last - 10);
      last = now;
      ticks++;
    }, 10);
    let threadsDuring = 0;
    const t0 = performance.now();
    try {
      // One light writer process (shell builtins only) so the test measures our reader, not 100 forks
      // competing for the CPU: round-robin over all fifos, reopening each per line as a restarted shim
      // would, then 256 KiB (4× the pipe buffer) into 3 of them, which only completes if we drain.
      const files = bundles.map((b) => `${b}/log`).join(" ");
      const script =
        `for r in $(seq 1 ${LINES}); do i=0; for f in ${files}; do echo "c$i line $r" >> $f; i=$((i+1)); done; done
for f in ${
          bundles.slice(0, 3).map((b) => `${b}/log`).join(" ")
        }; do head -c 262144 /dev/zero | tr '\\0' x > $f; echo >> $f; done`;
      const writing = sh(script);
      await new Promise((r) => setTimeout(r, 50));
      threadsDuring = threadCount();
      assert.equal(await writing, 0);
      // Each 256 KiB line arrives as exactly 4 entries of LOG_LINE_MAX.
      const want = N * LINES + 3 * 4;
      await until(() => entries.length >= want, 10_000);
      assert.equal(entries.filter((e) => /^c\d+ line \d+$/.test(e.msg)).length, N * LINES);
      assert.equal(entries.filter((e) => e.msg.startsWith("xxxx")).length, 12);
      assert.equal(entries.length, want);
      for (let i = 0; i < N; i++) {
        assert.equal(
          entries.filter((e) => e.id === `c${i}` && / line /.test(e.msg)).length,
          LINES,
          `fifo ${i}`,
        );
      }
      const elapsed = performance.now() - t0;
      // Loose bounds: the machine may be shared. A reader that blocks the loop fails these by seconds.
      assert.ok(
        ticks >= Math.floor(elapsed / 100),
        `timer starved: ${ticks} ticks in ${elapsed.toFixed(0)} ms`,
      );
      assert.ok(maxLag < 1000, `event loop lag ${maxLag.toFixed(0)} ms`);
      assert.ok(threadsDuring - threadsBefore < 20, `threads grew from ${threadsBefore} to ${threadsDuring}`);
    } finally {
      clearInterval(timer);
      await Promise.all(fifos.map((f) => f.close()));
    }
  });
});
