import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readlinkSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { tempState } from "./temp_state.ts";
import { assertNoLeaks, findLeaks, ownedPids, parseProcStat, type ProcInfo, snapshotLeaks } from "./leaks.ts";
import { findBinary, needsAll, needsBinary, needsRoot } from "./require.ts";
import { busyboxRootfs, findBusybox } from "./rootfs.ts";
import { runCli } from "./cli.ts";

describe("tempState()", () => {
  it("creates state, root and socketDir and removes everything on disposal", async () => {
    let dir: string;
    {
      await using s = await tempState();
      dir = s.dir;
      for (const d of [s.state, s.root, s.socketDir]) assert.ok(statSync(d).isDirectory());
      await writeFile(join(s.state, "f"), "x");
    }
    assert.equal(existsSync(dir), false);
  });

  it("unmounts a mount under the dir before removing it", { skip: needsRoot() }, async () => {
    const s = await tempState();
    try {
      const mp = join(s.dir, "m");
      await mkdir(mp);
      await new Promise<void>((resolve, reject) => {
        const p = spawn("mount", ["-t", "tmpfs", "tmpfs", mp]);
        p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`mount exited ${code}`))));
      });
      await writeFile(join(mp, "f"), "x");
    } finally {
      await s.cleanup();
    }
    assert.equal(existsSync(s.dir), false);
  });
});

describe("parseProcStat()", () => {
  it("handles a command name with spaces and parentheses", () => {
    assert.deepEqual(parseProcStat("42 (a (b) c) S 7 42 42 0 -1"), { pid: 42, state: "S", ppid: 7 });
  });
  it("rejects garbage", () => assert.equal(parseProcStat("nonsense"), undefined));
});

describe("ownedPids()", () => {
  const p = (pid: number, ppid: number, extra: Partial<ProcInfo> = {}): ProcInfo => ({
    pid,
    ppid,
    state: "S",
    cmdline: "x",
    ...extra,
  });
  it("includes descendants and processes tied to a watched dir", () => {
    const procs = [
      p(1, 0),
      p(10, 1),
      p(11, 10),
      p(12, 11),
      p(20, 1, { cwd: "/tmp/sk-1/state/default/c1" }),
      p(21, 1, { cmdline: "shim -bundle /tmp/sk-1/state/x" }),
      p(22, 1, { cwd: "/tmp/sk-10" }),
    ];
    assert.deepEqual([...ownedPids(procs, 10, ["/tmp/sk-1"])].sort(), [11, 12, 20, 21]);
  });
});

describe("snapshotLeaks() and assertNoLeaks()", () => {
  it("reports a child process, socket and directory left behind, kills the process, then reports only the dir", async () => {
    await using s = await tempState();
    const before = await snapshotLeaks([s.dir]);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const closed = new Promise<NodeJS.Signals | null>((r) => child.on("close", (_code, sig) => r(sig)));
    const server = createServer();
    const sock = join(s.socketDir, "x.sock");
    await new Promise<void>((r) => server.listen(sock, r));
    await mkdir(join(s.state, "leak"));
    try {
      await assert.rejects(
        assertNoLeaks(before, { timeoutMs: 100 }),
        /leaked processes: \d+ \S*sleep 30.*sockets: .*x\.sock.*dirs: .*leak/,
      );
      assert.equal(await closed, "SIGKILL", "the failing check killed the leaked process");
    } finally {
      child.kill("SIGKILL");
      await closed;
      await new Promise((r) => server.close(r));
    }
    const leaks = await findLeaks(before);
    assert.deepEqual(leaks.processes, []);
    assert.deepEqual(leaks.sockets, []);
    assert.deepEqual(leaks.dirs, [join(s.state, "leak")]);
  });
});

describe("require", () => {
  it("needsBinary() finds sh and names a missing binary", () => {
    assert.equal(needsBinary("sh"), false);
    assert.ok(findBinary("sh")?.endsWith("/sh"));
    assert.equal(needsBinary("no-such-binary-xyz"), "needs no-such-binary-xyz in PATH");
  });
  it("needsAll() joins unmet reasons", () => {
    assert.equal(needsAll(false, false), false);
    assert.equal(needsAll("needs root", false, "needs x in PATH"), "needs root and needs x in PATH");
  });
  it("needsRoot() matches the uid", () => {
    assert.equal(needsRoot(), process.getuid?.() === 0 ? false : "needs root");
  });
});

describe("busyboxRootfs()", () => {
  it("builds a rootfs with busybox and applet links, once", {
    skip: existsSync("/bin/busybox") ? false : "needs /bin/busybox",
  }, async () => {
    assert.ok(await findBusybox());
    const a = await busyboxRootfs();
    const b = await busyboxRootfs();
    assert.equal(a, b);
    assert.ok(statSync(join(a, "bin", "busybox")).isFile());
    assert.equal(readlinkSync(join(a, "bin", "sh")), "busybox");
    assert.ok(statSync(join(a, "proc")).isDirectory());
  });
});

describe("runCli()", () => {
  it("runs the CLI and returns code and output", async () => {
    const r = await runCli(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^shimkit version \d+\.\d+\.\d+\n$/);
  });
  it("passes stdin and environment", async () => {
    await using s = await tempState();
    const r = await runCli(["config", "migrate", "-"], {
      stdin: 'version = 2\n[plugins."io.containerd.runtime.v2.task"]\nsched_core = true\n',
      env: { SHIMKIT_STATE: s.state },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /version = 3/);
    assert.match(r.stdout, /SCHED_CORE=1/);
  });
});
