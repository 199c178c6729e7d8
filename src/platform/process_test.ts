import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import {
  hasCwd,
  isHostPid,
  isProcessAlive,
  listenerPids,
  listeningSocketInodes,
  listPidsWithCwd,
  PID_MAX_LIMIT,
  processState,
  runProcess,
  signalProcessGroup,
} from "./process.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("runProcess()", () => {
  it("runProcess() captures stdout, stderr and the exit status", async () => {
    const r = await runProcess("/bin/sh", ["-c", "printf out; printf err >&2; exit 3"], { timeoutMs: 5000 });
    assert.equal(text(r.stdout), "out");
    assert.equal(text(r.stderr), "err");
    assert.equal(r.exitCode, 3);
    assert.equal(r.signal, null);
    assert.equal(r.timedOut, false);
  });

  it("runProcess() passes cwd, env and stdin bytes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-proc-"));
    try {
      const r = await runProcess("/bin/sh", ["-c", 'pwd; echo "$FOO"; cat'], {
        cwd: dir,
        env: { FOO: "bar", PATH: "/usr/bin:/bin" },
        stdin: new Uint8Array([0x68, 0x69, 0x00, 0xff]),
        timeoutMs: 5000,
      });
      assert.equal(r.exitCode, 0);
      const out = r.stdout;
      assert.equal(text(out.subarray(0, out.length - 4)), `${dir}\nbar\n`);
      assert.deepEqual([...out.subarray(out.length - 4)], [0x68, 0x69, 0x00, 0xff]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runProcess() starts the child in its own process group", async () => {
    const r = await runProcess("/bin/sh", ["-c", "cut -d' ' -f5 /proc/$$/stat; echo $$"], {
      timeoutMs: 5000,
    });
    const [pgid, pid] = text(r.stdout).trim().split("\n").map(Number);
    assert.equal(pgid, pid);
    assert.equal(r.pid, pid);
  });

  it("runProcess() caps captured output and marks it truncated", async () => {
    const r = await runProcess("/bin/sh", ["-c", "head -c 100000 /dev/zero"], {
      timeoutMs: 5000,
      maxOutputBytes: 1000,
    });
    assert.equal(r.stdout.length, 1000);
    assert.equal(r.truncated, true);
    assert.equal(r.exitCode, 0);
  });

  it("runProcess() kills the whole process group on timeout", async () => {
    const t0 = Date.now();
    const r = await runProcess("/bin/sh", ["-c", "sleep 30 & echo $!; sleep 30"], { timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, "SIGKILL");
    assert.ok(Date.now() - t0 < 5000);
    const grandchild = Number(text(r.stdout).trim());
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(isProcessAlive(grandchild), false, "background sleep must be gone");
  });

  it("runProcess() does not hang when a daemon keeps the pipes open", async () => {
    const r = await runProcess("/bin/sh", ["-c", "sleep 2 & echo started"], { timeoutMs: 5000 });
    assert.equal(r.exitCode, 0);
    assert.equal(text(r.stdout), "started\n");
    assert.ok(signalProcessGroup(r.pid));
  });

  it("runProcess() rejects with ENOENT for a missing binary", async () => {
    await assert.rejects(runProcess("/nonexistent/bin", [], { timeoutMs: 1000 }), (e: unknown) => {
      assert.equal((e as { code?: string }).code, "ENOENT");
      return true;
    });
  });
});

describe("isHostPid()", () => {
  for (
    const [pid, want] of [
      [1, true],
      [process.pid, true],
      [PID_MAX_LIMIT - 1, true],
      [PID_MAX_LIMIT, false],
      [PID_MAX_LIMIT + 7, false],
      [0, false],
      [-1, false],
      [1.5, false],
      [Number.NaN, false],
    ] as const
  ) {
    it(`isHostPid(${pid}) is ${want}`, () => assert.equal(isHostPid(pid), want));
  }
  it("isHostPid() agrees with the kernel's pid_max, which can never reach PID_MAX_LIMIT", async () => {
    const { readFileSync } = await import("node:fs");
    const max = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
    assert.ok(max <= PID_MAX_LIMIT && isHostPid(max - 1), String(max));
  });
});

describe("process facts", () => {
  it("isProcessAlive() is true for us and pid 1, false for a dead pid", () => {
    assert.equal(isProcessAlive(process.pid), true);
    assert.equal(isProcessAlive(1), true);
    assert.equal(isProcessAlive(0), false);
    assert.equal(isProcessAlive(-5), false);
    assert.equal(isProcessAlive(2 ** 22 + 1), false);
  });

  it("isProcessAlive() treats a zombie as dead", async () => {
    // sh forks a short sleep, then execs a long one before the short one ends (so sh cannot reap it):
    // once it exits it stays an unreaped zombie child of the long sleep.
    const parent = spawn("/bin/sh", ["-c", "sleep 0.3 & echo $!; exec sleep 5"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const pid = await new Promise<number>((res) =>
        parent.stdout!.once("data", (d) => res(Number(String(d).trim())))
      );
      const deadline = Date.now() + 3000;
      while (processState(pid) !== "Z" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(processState(pid), "Z", `state of ${pid}: ${processState(pid)}`);
      assert.equal(isProcessAlive(pid), false);
    } finally {
      parent.kill("SIGKILL");
      await new Promise((r) => parent.once("exit", r));
    }
  });

  it("processState() reads the state letter", () => {
    assert.match(processState(process.pid) ?? "", /^[RS]$/);
    assert.equal(processState(2 ** 22 + 1), undefined);
  });

  it("listPidsWithCwd() finds a process by its working directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-cwd-"));
    const child = spawn("sleep", ["5"], { cwd: dir, stdio: "ignore" });
    try {
      await new Promise((r) => child.once("spawn", r));
      assert.deepEqual(await listPidsWithCwd(dir), [child.pid]);
    } finally {
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("signalProcessGroup() reports a missing group and refuses pid 0/1", () => {
    assert.equal(signalProcessGroup(2 ** 22 + 1, "SIGTERM"), false);
    assert.throws(() => signalProcessGroup(1), RangeError);
    assert.throws(() => signalProcessGroup(0), RangeError);
  });
});

describe("hasCwd()", () => {
  it("is true for a process in that directory (this one, in its cwd) and false elsewhere", () => {
    assert.equal(hasCwd(process.pid, process.cwd()), true);
    assert.equal(hasCwd(process.pid, tmpdir() === process.cwd() ? "/" : tmpdir()), false);
  });
  it("is false for a pid that is not a process, and for a directory that does not exist", () => {
    assert.equal(hasCwd(0, "/"), false);
    assert.equal(hasCwd(-1, "/"), false);
    assert.equal(hasCwd(4_194_304, "/"), false);
    assert.equal(hasCwd(process.pid, "/no/such/dir"), false);
  });
});

describe("listeningSocketInodes() and listenerPids()", () => {
  const table = [
    "Num       RefCount Protocol Flags    Type St Inode Path",
    "0000000000000000: 00000002 00000000 00010000 0001 01 1001 /run/s/abc",
    "0000000000000000: 00000003 00000000 00000000 0001 03 1002 /run/s/abc",
    "0000000000000000: 00000002 00000000 00010000 0001 01 1003 /run/s/other",
    "0000000000000000: 00000002 00000000 00010000 0001 01 1004 @abstract",
    "0000000000000000: 00000002 00000000 00000000 0001 03  1005",
    "0000000000000000: 00000002 00000000 00010000 0001 01 1006 /run/s/with space",
  ].join("\n");

  it("takes only listening sockets bound to exactly that path", () => {
    assert.deepEqual(
      listeningSocketInodes(table, "/run/s/abc"),
      ["1001"],
      "the connected one (no ACCEPTCON) is not",
    );
    assert.deepEqual(listeningSocketInodes(table, "/run/s/with space"), ["1006"]);
    assert.deepEqual(listeningSocketInodes(table, "/run/s/ab"), []);
    assert.deepEqual(listeningSocketInodes("", "/run/s/abc"), []);
  });

  it("listenerPids() finds the process listening on a path, and nothing once it stops", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-listen-"));
    const path = join(dir, "s.sock");
    const server = createServer();
    try {
      await new Promise<void>((r) => server.listen(path, r));
      assert.deepEqual(await listenerPids(path), [process.pid]);
      assert.deepEqual(await listenerPids(join(dir, "missing.sock")), []);
    } finally {
      await new Promise((r) => server.close(r));
      await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(await listenerPids(path), []);
  });
});
