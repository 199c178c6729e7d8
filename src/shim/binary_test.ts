import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeadlineExceededError, NotFoundError, NotImplementedError } from "../errors.ts";
import { createLogger } from "../log/logger.ts";
import { readBootstrap, writeBootstrap } from "../bundle/bootstrap.ts";
import { type Bundle, createBundle, deleteBundle, listBundles } from "../bundle/bundle.ts";
import { isProcessAlive, listPidsWithCwd, selfExecutable } from "../platform/process.ts";
import { type LogFifo, openLogFifo } from "./log_fifo.ts";
import { dialPath, shimSocketAddress } from "./socket.ts";
import {
  readShimBinaryPath,
  runShimDelete,
  runShimInfo,
  runShimStart,
  runShimVersion,
  writeShimBinaryPath,
} from "./binary.ts";

const SHIM = "/usr/bin/containerd-shim-runc-v2";
const needsRealShim = process.getuid?.() === 0 && existsSync(SHIM)
  ? false
  : "needs root and containerd-shim-runc-v2";

describe("shim binary with fakes", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "shimkit-binary-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const base = () => ({
    bundle: dir,
    namespace: "default",
    id: "c1",
    grpcAddress: join(dir, "g.sock"),
    ttrpcAddress: join(dir, "t.sock"),
    publishBinary: "/bin/true",
  });

  it("runShimStart() kills the process group when the shim outlives the timeout", async () => {
    const fake = join(dir, "containerd-shim-hang-v1");
    await writeFile(fake, '#!/bin/sh\nsleep 30 &\necho $! > "$0.child"\nwait\n');
    await chmod(fake, 0o755);
    await assert.rejects(runShimStart({ ...base(), binary: fake, timeoutMs: 300 }), (e: unknown) => {
      assert.ok(e instanceof DeadlineExceededError);
      assert.match(
        (e as Error).message,
        /^start shim "c1": containerd-shim-hang-v1 did not exit within 300ms \(process group killed\)$/,
      );
      return true;
    });
    const child = Number(await readFile(fake + ".child", "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(isProcessAlive(child), false);
  });

  it("runShimStart() passes argv, env, cwd and stdin the way containerd does", async () => {
    const fake = join(dir, "containerd-shim-echo-v1");
    await writeFile(
      fake,
      `#!/bin/sh\necho "$*" > args; pwd > cwd; env > env; cat > stdin\nprintf '{"version":3,"address":"unix:///x","protocol":"ttrpc"}'\n`,
    );
    await chmod(fake, 0o755);
    const boot = await runShimStart({
      ...base(),
      binary: fake,
      debug: true,
      env: ["SCHED_CORE=1"],
      runtimeOptions: new Uint8Array([0x0a, 0x01, 0x41]),
      baseEnv: { PATH: "/usr/bin:/bin" },
    });
    assert.deepEqual(boot, { version: 3, address: "unix:///x", protocol: "ttrpc" });
    assert.equal(
      (await readFile(join(dir, "args"), "utf8")).trim(),
      `-namespace default -address ${dir}/g.sock -publish-binary /bin/true -id c1 -debug start`,
    );
    assert.equal((await readFile(join(dir, "cwd"), "utf8")).trim(), dir);
    const env = await readFile(join(dir, "env"), "utf8");
    for (
      const kv of [
        `TTRPC_ADDRESS=${dir}/t.sock`,
        `GRPC_ADDRESS=${dir}/g.sock`,
        "NAMESPACE=default",
        "MAX_SHIM_VERSION=2",
        "GOMAXPROCS=2",
        "SCHED_CORE=1",
      ]
    ) {
      assert.ok(env.split("\n").includes(kv), `env lacks ${kv}`);
    }
    assert.deepEqual([...await readFile(join(dir, "stdin"))], [0x0a, 0x01, 0x41]);
  });

  it("runShimStart() reports a missing binary as NotFound", async () => {
    await assert.rejects(
      runShimStart({ ...base(), binary: "/nonexistent/containerd-shim-x-v1" }),
      (e: unknown) => {
        assert.ok(e instanceof NotFoundError);
        assert.match((e as Error).message, /^start shim "c1": run "\/nonexistent\/containerd-shim-x-v1": /);
        return true;
      },
    );
  });

  it("writeShimBinaryPath() writes 0600 and readShimBinaryPath() reads it back", async () => {
    await writeShimBinaryPath({ path: dir }, SHIM);
    assert.equal(await readShimBinaryPath({ path: dir }), SHIM);
    assert.equal((await lstat(join(dir, "shim-binary-path"))).mode & 0o777, 0o600);
  });
});

describe("shim binary against containerd-shim-runc-v2", { skip: needsRealShim }, () => {
  const ns = `shimkit-test-${process.pid}`;
  let tmp = "";
  let state = "";
  let root = "";
  const created: string[] = [];
  const logs: string[] = [];
  const logger = createLogger({ level: "trace", write: (l) => logs.push(l) });

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "shimkit-realshim-"));
    state = join(tmp, "state");
    root = join(tmp, "root");
    // The shim and runc create these system dirs; remove them afterwards only if we caused them and they are empty.
    for (const d of ["/run/containerd", "/run/containerd/s", "/run/containerd/runc"]) {
      if (!existsSync(d)) created.push(d);
    }
  });
  after(async () => {
    for (const d of [`/run/containerd/runc/${ns}`, ...created.reverse()]) await rmdir(d).catch(() => {});
    await rm(tmp, { recursive: true, force: true });
  });

  const opts = (b: Bundle) => ({
    binary: SHIM,
    bundle: b,
    namespace: ns,
    id: b.id,
    grpcAddress: join(tmp, "shimkit.sock"),
    ttrpcAddress: join(tmp, "shimkit.sock.ttrpc"),
    publishBinary: selfExecutable(),
  });

  /** What a manager does after a failed or finished shim: stop the daemon, remove its socket, close the log, delete the bundle. */
  async function cleanup(b: Bundle, fifo: LogFifo, address?: string): Promise<void> {
    // The runc shim writes no pid file before Create; its daemon is the process whose cwd is the bundle.
    for (const pid of await listPidsWithCwd(b.path)) process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 5000;
    while ((await listPidsWithCwd(b.path)).some(isProcessAlive) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (address) await rm(dialPath(address), { force: true });
    await fifo.close();
    await deleteBundle(b);
  }

  it("runShimStart() starts the daemon; runShimDelete() carries 1.6's stderr; nothing is left", async () => {
    const b = await createBundle({ state, root, namespace: ns, id: "c1", spec: { ociVersion: "1.0.2" } });
    const fifo = await openLogFifo({
      bundlePath: b.path,
      logger,
      fields: { id: b.id, namespace: ns, runtime: "io.containerd.runc.v2" },
    });
    let address: string | undefined;
    try {
      const boot = await runShimStart({ ...opts(b), logger });
      address = boot.address;
      assert.deepEqual(boot, {
        version: 2,
        protocol: "ttrpc",
        address: shimSocketAddress({ grpcAddress: join(tmp, "shimkit.sock"), namespace: ns, id: "c1" }),
      });
      const sock = dialPath(boot.address);
      assert.ok((await lstat(sock)).isSocket());
      assert.equal(await readFile(join(b.path, "address"), "utf8"), boot.address);
      await new Promise<void>((resolve, reject) => {
        const c = connect(sock, () => {
          c.destroy();
          resolve();
        });
        c.once("error", reject);
      });
      await writeBootstrap(b, boot);
      assert.deepEqual(await readBootstrap(b), boot);
      await writeShimBinaryPath(b, SHIM);
      assert.equal((await listPidsWithCwd(b.path)).length, 1, "one shim daemon runs in the bundle");

      // The shim's "starting signal loop" logrus line races its error on stderr; the message carries the error only.
      await assert.rejects(runShimDelete(opts(b)), (e: unknown) => {
        assert.match(
          (e as Error).message,
          /^delete shim "c1": containerd-shim-runc-v2 exited with status 1: io\.containerd\.runc\.v2: open \S+\/c1\/runtime: no such file or directory$/,
        );
        return true;
      });
    } finally {
      await cleanup(b, fifo, address);
    }
    assert.deepEqual(await listPidsWithCwd(b.path), []);
    assert.equal(existsSync(dialPath(address!)), false);
    assert.deepEqual(await listBundles(state), []);
    assert.deepEqual(await readdir(join(root, ns)), []);
  });

  it("runShimDelete() decodes the DeleteResponse once the bundle names a runtime", async () => {
    const b = await createBundle({ state, root, namespace: ns, id: "c2", spec: { ociVersion: "1.0.2" } });
    const fifo = await openLogFifo({ bundlePath: b.path, logger });
    try {
      // What Create would have written; runc then finds no container and the shim reports SIGKILL.
      await writeFile(join(b.path, "runtime"), "runc");
      const before = Date.now();
      const res = await runShimDelete(opts(b));
      // No init.pid: the shim's ReadPidFile fails with -1, which travels as uint32.
      assert.equal(res.pid, 0xffffffff);
      assert.equal(res.exitStatus, 137);
      assert.ok(
        res.exitedAt && res.exitedAt.getTime() >= before - 1000 &&
          res.exitedAt.getTime() <= Date.now() + 1000,
      );
    } finally {
      await cleanup(b, fifo);
    }
    assert.deepEqual(await listBundles(state), []);
  });

  it("runShimStart() names the shim's stderr when config.json is missing, and cleanup leaves no bundle", async () => {
    const b = await createBundle({ state, root, namespace: ns, id: "c3" });
    const fifo = await openLogFifo({ bundlePath: b.path, logger });
    try {
      await assert.rejects(runShimStart(opts(b)), (e: unknown) => {
        assert.match(
          (e as Error).message,
          /^start shim "c3": containerd-shim-runc-v2 exited with status 1: io\.containerd\.runc\.v2: open .*config\.json: no such file or directory$/,
        );
        return true;
      });
    } finally {
      await cleanup(b, fifo);
    }
    assert.deepEqual(await listBundles(state), []);
    assert.equal(existsSync(b.workDir), false);
  });

  it("runShimInfo() is NotImplemented on a 1.6 shim and runShimVersion() prints its version", async () => {
    await assert.rejects(runShimInfo(SHIM), NotImplementedError);
    assert.match(await runShimVersion(SHIM), /Version:\s+1\.6/);
  });
});
