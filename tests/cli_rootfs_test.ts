/**
 * `run`/`create` without `--rootfs` or `--bundle`, as the README's first
 * command runs it: the runc shim gets the built-in busybox rootfs in
 * `<root>/.rootfs/busybox` (built on first use, read-only, private /tmp),
 * restore and gc leave it alone, the fake shim needs none, and a host
 * without a static busybox gets a clear error before anything is created.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CliResult, runCli } from "./helpers/cli.ts";
import { findLeaks, snapshotLeaks } from "./helpers/leaks.ts";
import { needsAll, needsBinary, needsRoot } from "./helpers/require.ts";
import { BUSYBOX_PATHS } from "./helpers/rootfs.ts";
import { type TempState, tempState } from "./helpers/temp_state.ts";

const RUNC = "io.containerd.runc.v2";
const FAKE = "io.containerd.fake.v2";
const EXIT_INVALID_ARGUMENT = 5;

const skipRuncShim = needsAll(needsRoot(), needsBinary("containerd-shim-runc-v2"));
const skipRunc = needsAll(skipRuncShim, needsBinary("runc")) ||
  (BUSYBOX_PATHS.some((p) => existsSync(p)) ? false : "needs /bin/busybox (busybox-static)");

let seq = 0;
/** A container id unique across concurrent runs (runc's state is per namespace, host-wide). */
function uniqueId(name: string): string {
  return `rf${process.pid}-${Date.now().toString(36)}-${seq++}-${name}`;
}

function cliIn(s: TempState, env: Record<string, string> = {}) {
  return (args: string[]): Promise<CliResult> =>
    runCli(["--state", s.state, "--root", s.root, ...args], { env, timeoutMs: 60_000 });
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

async function assertNoProcesses(
  s: TempState,
  snap: Awaited<ReturnType<typeof snapshotLeaks>>,
): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const leaks = await findLeaks(snap);
    if (leaks.processes.length === 0 && leaks.sockets.length === 0) return;
    if (Date.now() > deadline) {
      assert.fail(`leaked under ${s.dir}: ${leaks.processes.join("; ")} ${leaks.sockets.join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("cli built-in busybox rootfs (runc shim)", { skip: skipRunc }, () => {
  const states: TempState[] = [];
  const ids: Array<[TempState, string]> = [];
  after(async () => {
    for (const [s, id] of ids) await cliIn(s)(["delete", "--force", id]).catch(() => {});
    for (const s of states) await s.cleanup();
  });
  const fresh = async () => {
    const s = await tempState("sk-rf-");
    states.push(s);
    return s;
  };
  const id = (s: TempState, name: string) => {
    const v = uniqueId(name);
    ids.push([s, v]);
    return v;
  };

  it("run --rm without --rootfs runs echo hi on the runc shim and builds the rootfs, saying so once", async () => {
    const s = await fresh();
    const snap = await snapshotLeaks([s.dir]);
    const r = ok(await cliIn(s)(["run", "--rm", id(s, "hi"), "--", "echo", "hi"]), "run");
    assert.equal(r.stdout, "hi\n");
    // The default runtime has a shim: which one was picked is debug detail, not news.
    assert.doesNotMatch(r.stderr, /runtime selected/);
    assert.match(
      r.stderr,
      /level=info msg="built the busybox rootfs.*rootfs=\S+\/root\/\.rootfs\/busybox/,
    );
    assert.ok(existsSync(join(s.root, ".rootfs", "busybox", "bin", "busybox")));
    const again = ok(await cliIn(s)(["run", "--rm", id(s, "hi2"), "--", "echo", "hi"]), "second run");
    assert.equal(again.stdout, "hi\n");
    assert.doesNotMatch(again.stderr, /level=info/, "a run on the rootfs built before logs nothing at info");
    await assertNoProcesses(s, snap);
    assert.deepEqual(await readdir(join(s.state, "default")), [], "no bundle left");
  });

  it("the built-in rootfs is read-only with a writable /tmp, and a command needs no --", async () => {
    const s = await fresh();
    const r = await cliIn(s)([
      "run",
      "--rm",
      id(s, "ro"),
      "sh",
      "-c",
      "echo x > /tmp/f && cat /tmp/f; touch /etc/new",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "x\n");
    assert.match(r.stderr, /Read-only file system/);
    assert.ok(!existsSync(join(s.root, ".rootfs", "busybox", "etc", "new")));
  });

  it("gc, gc --dry-run and load leave the built-in rootfs alone", async () => {
    const s = await fresh();
    const cli = cliIn(s);
    ok(await cli(["run", "--rm", id(s, "gc"), "--", "true"]), "run");
    const dry = JSON.parse(ok(await cli(["gc", "--dry-run", "--json"]), "gc --dry-run").stdout);
    assert.ok(!JSON.stringify(dry).includes(".rootfs"), JSON.stringify(dry));
    ok(await cli(["gc"]), "gc");
    ok(await cli(["load"]), "load");
    assert.ok(existsSync(join(s.root, ".rootfs", "busybox", "bin", "busybox")));
    assert.deepEqual(JSON.parse(ok(await cli(["ps", "--json"]), "ps").stdout), []);
  });

  it("--mount binds a host dir (read-only here) and --user sets the process's ids", async () => {
    const s = await fresh();
    const host = join(s.dir, "host-data");
    await mkdir(host);
    await writeFile(join(host, "f"), "from the host\n");
    const r = await cliIn(s)([
      "run",
      "--rm",
      "--mount",
      `type=bind,src=${host},dst=/data,options=rbind:ro`,
      "--mount",
      "type=tmpfs,dst=/scratch",
      "--user",
      "1000:100",
      id(s, "mnt"),
      "sh",
      "-c",
      "cat /data/f; id -u; id -g; touch /scratch/ok && echo scratch ok; touch /data/new",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "from the host\n1000\n100\nscratch ok\n");
    assert.match(r.stderr, /touch: \/data\/new: Read-only file system/);
    assert.deepEqual(await readdir(host), ["f"], "the read-only bind left the host dir alone");
    assert.deepEqual(await readdir(join(s.state, "default")), [], "no bundle left");
  });

  it("run --log-uri has the runc shim write stdout and stderr to the file", async () => {
    const s = await fresh();
    const log = join(s.dir, "logs", "c.log");
    // stderr goes first and has 100 ms to be copied: the containerd 1.6 runc shim's stdout copier closes the
    // file they share when the container exits, losing stderr still in flight (see README, --log-uri; with
    // "echo out; echo err >&2" 3 runs in 40 lost "err").
    const r = await cliIn(s)([
      "run",
      "--rm",
      "--log-uri",
      log,
      id(s, "log"),
      "sh",
      "-c",
      "echo err >&2; sleep 0.1; echo out; exit 3",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "");
    assert.deepEqual((await readFile(log, "utf8")).split("\n").sort(), ["", "err", "out"]);
  });

  it("a --mount source that does not exist fails before anything is created (not found)", async () => {
    const s = await fresh();
    const missing = join(s.dir, "no-such-dir");
    const r = await cliIn(s)(["run", "--rm", "--mount", `src=${missing},dst=/data`, id(s, "nomnt"), "true"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr, `shimkit: --mount source "${missing}": no such file or directory\n`);
    assert.ok(
      !existsSync(join(s.state, "default")) || (await readdir(join(s.state, "default"))).length === 0,
    );
  });

  it("create without --rootfs uses the built-in rootfs too", async () => {
    const s = await fresh();
    const cli = cliIn(s);
    const c = id(s, "create");
    ok(await cli(["create", c, "sh", "-c", "echo created"]), "create");
    const st = await cli(["start", "-a", c]);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.stdout, "created\n");
    ok(await cli(["delete", c]), "delete");
  });
});

describe("cli without a static busybox", () => {
  const states: TempState[] = [];
  after(async () => {
    for (const s of states) await s.cleanup();
  });

  it(
    "run on the runc shim without --rootfs fails before creating anything",
    { skip: skipRuncShim },
    async () => {
      const s = await tempState("sk-rf-");
      states.push(s);
      const r = await cliIn(s, { SHIMKIT_BUSYBOX: "/nonexistent/busybox" })([
        "run",
        "--rm",
        "--runtime",
        RUNC,
        "demo",
        "--",
        "echo",
        "hi",
      ]);
      assert.equal(r.code, EXIT_INVALID_ARGUMENT, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^shimkit: runtime "io\.containerd\.runc\.v2" needs a root filesystem: pass --rootfs DIR or --bundle DIR, or install busybox-static for the built-in busybox rootfs \(SHIMKIT_BUSYBOX "\/nonexistent\/busybox" does not exist\)$/m,
      );
      assert.deepEqual(await readdir(s.state), [], "nothing in the state dir");
      assert.deepEqual(await readdir(s.root), [], "nothing in the root dir");
    },
  );

  it("the fake shim needs no rootfs", async () => {
    const s = await tempState("sk-rf-");
    states.push(s);
    const r = ok(
      await cliIn(s, { SHIMKIT_BUSYBOX: "/nonexistent/busybox" })([
        "run",
        "--rm",
        "--runtime",
        FAKE,
        uniqueId("fake"),
        "--",
        "echo",
        "hi",
      ]),
      "run",
    );
    assert.equal(r.stdout, "hi\n");
    assert.doesNotMatch(r.stderr, /rootfs/);
    assert.ok(!existsSync(join(s.root, ".rootfs")));
  });
});
