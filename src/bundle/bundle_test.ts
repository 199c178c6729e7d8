import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../errors.ts";
import {
  createBundle,
  deleteBundle,
  finishInterruptedDelete,
  listBundles,
  listInterruptedDeletes,
  loadBundle,
} from "./bundle.ts";

const isRoot = process.getuid?.() === 0;

describe("bundle", () => {
  let tmp = "";
  let n = 0;
  const fresh = async () => {
    const base = join(tmp, `t${n++}`);
    await mkdir(base);
    return { state: join(base, "state"), root: join(base, "root") };
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "shimkit-bundle-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("createBundle() lays out the bundle and work dir like containerd", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: { ociVersion: "1.0.2" } });
    assert.deepEqual(b, {
      id: "c1",
      namespace: "default",
      path: join(loc.state, "default", "c1"),
      workDir: join(loc.root, "default", "c1"),
      state: loc.state,
      root: loc.root,
    });
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    assert.equal(await mode(join(loc.state, "default")), 0o711);
    assert.equal(await mode(b.path), 0o700);
    assert.equal(await mode(join(b.path, "rootfs")), 0o711);
    assert.equal(await mode(b.workDir), 0o711);
    assert.equal(await readlink(join(b.path, "work")), b.workDir);
    assert.deepEqual(JSON.parse(await readFile(join(b.path, "config.json"), "utf8")), {
      ociVersion: "1.0.2",
    });
    assert.deepEqual((await readdir(b.path)).sort(), ["config.json", "rootfs", "work"]);
  });

  it("createBundle() accepts spec bytes and no spec at all", async () => {
    const loc = await fresh();
    const b1 = await createBundle({
      ...loc,
      namespace: "ns",
      id: "raw",
      spec: new TextEncoder().encode('{"a":1}'),
    });
    assert.equal(await readFile(join(b1.path, "config.json"), "utf8"), '{"a":1}');
    const b2 = await createBundle({ ...loc, namespace: "ns", id: "nospec" });
    assert.deepEqual((await readdir(b2.path)).sort(), ["rootfs", "work"]);
  });

  const hostile: Array<[string, string, string]> = [
    ["traversal id", "default", "../x"],
    ["slash id", "default", "a/b"],
    ["empty id", "default", ""],
    ["hidden id", "default", ".c1"],
    ["NUL id", "default", "a\x00"],
    ["traversal namespace", "..", "c1"],
    ["too long id", "default", "x".repeat(77)],
  ];
  for (const [name, namespace, id] of hostile) {
    it(`createBundle() rejects a ${name} before touching any file`, async () => {
      const loc = await fresh();
      await assert.rejects(createBundle({ ...loc, namespace, id, spec: {} }), InvalidArgumentError);
      await assert.rejects(lstat(loc.state), { code: "ENOENT" });
      await assert.rejects(lstat(loc.root), { code: "ENOENT" });
    });
  }

  it("createBundle() fails with AlreadyExists and leaves the existing bundle alone", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: { v: 1 } });
    await assert.rejects(
      createBundle({ ...loc, namespace: "default", id: "c1", spec: { v: 2 } }),
      (e: unknown) => {
        assert.ok(e instanceof AlreadyExistsError);
        assert.match((e as Error).message, /^create bundle "default\/c1": bundle ".*" already exists$/);
        return true;
      },
    );
    assert.deepEqual(JSON.parse(await readFile(join(b.path, "config.json"), "utf8")), { v: 1 });
    assert.ok((await stat(b.workDir)).isDirectory());
  });

  it("createBundle() recreates a leftover work dir", async () => {
    const loc = await fresh();
    await mkdir(join(loc.root, "default", "c1"), { recursive: true });
    await writeFile(join(loc.root, "default", "c1", "stale"), "x");
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    assert.deepEqual(await readdir(b.workDir), []);
  });

  it("createBundle() removes everything it created when a step fails", async () => {
    const loc = await fresh();
    // A file where <root>/<ns> must be a directory makes the work-dir step fail after the bundle exists.
    await mkdir(loc.root, { recursive: true });
    await writeFile(join(loc.root, "default"), "not a dir");
    await assert.rejects(createBundle({ ...loc, namespace: "default", id: "c1", spec: {} }));
    assert.deepEqual(await readdir(join(loc.state, "default")), []);
  });

  it("loadBundle() finds an existing bundle and reports a missing one as NotFound", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    assert.deepEqual(await loadBundle({ ...loc, namespace: "default", id: "c1" }), b);
    await assert.rejects(loadBundle({ ...loc, namespace: "default", id: "c2" }), NotFoundError);
    await assert.rejects(loadBundle({ ...loc, namespace: "default", id: "../c1" }), InvalidArgumentError);
  });

  it("loadBundle() refuses a bundle or namespace dir that is a symlink, and touches nothing", async () => {
    const loc = await fresh();
    const elsewhere = join(tmp, `elsewhere${n++}`);
    await mkdir(join(elsewhere, "rootfs"), { recursive: true });
    await writeFile(join(elsewhere, "bootstrap.json"), "{}");
    await mkdir(join(loc.state, "default"), { recursive: true });
    await symlink(elsewhere, join(loc.state, "default", "evil"));
    await assert.rejects(loadBundle({ ...loc, namespace: "default", id: "evil" }), (e: unknown) => {
      assert.ok(e instanceof FailedPreconditionError, String(e));
      assert.match(
        (e as Error).message,
        /^load bundle "default\/evil": ".*\/default\/evil" is a symbolic link, not a bundle directory$/,
      );
      return true;
    });
    await symlink(join(loc.state, "default"), join(loc.state, "linked"));
    await assert.rejects(
      loadBundle({ ...loc, namespace: "linked", id: "evil" }),
      /"[^"]*\/linked" is a symbolic link/,
    );
    await writeFile(join(loc.state, "default", "file"), "x");
    await assert.rejects(
      loadBundle({ ...loc, namespace: "default", id: "file" }),
      /"[^"]*\/file" is not a directory/,
    );
    assert.deepEqual((await readdir(elsewhere)).sort(), ["bootstrap.json", "rootfs"]);
    assert.deepEqual(await listBundles(loc.state), [], "listing does not follow symlinks either");
  });

  it("deleteBundle() removes the bundle and work dir and is idempotent", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    await writeFile(join(b.workDir, "criu.log"), "x");
    await writeFile(join(b.path, "address"), "unix:///x");
    await deleteBundle(b);
    assert.deepEqual(await readdir(join(loc.state, "default")), []);
    assert.deepEqual(await readdir(join(loc.root, "default")), []);
    await deleteBundle(b);
  });

  it("deleteBundle() never follows a redirected work symlink", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    const precious = join(tmp, `precious${n++}`);
    await mkdir(precious);
    await writeFile(join(precious, "keep"), "x");
    await rm(join(b.path, "work"));
    execFileSync("ln", ["-s", precious, join(b.path, "work")]);
    await deleteBundle(b);
    assert.deepEqual(await readdir(precious), ["keep"]);
    await assert.rejects(lstat(b.workDir), { code: "ENOENT" });
  });

  it("deleteBundle() removes a rootfs the runtime populated when nothing is mounted there", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    // runc creates its mount points (proc, dev…) inside an unmounted bundle rootfs.
    await mkdir(join(b.path, "rootfs", "proc"));
    await writeFile(join(b.path, "rootfs", "file"), "x");
    await deleteBundle(b);
    await assert.rejects(lstat(b.path), { code: "ENOENT" });
  });

  it("deleteBundle() unmounts a mounted rootfs (and submounts) first", {
    skip: isRoot ? false : "needs root",
  }, async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    const rootfs = join(b.path, "rootfs");
    execFileSync("mount", ["-t", "tmpfs", "shimkit-test", rootfs]);
    try {
      await mkdir(join(rootfs, "sub"));
      execFileSync("mount", ["-t", "tmpfs", "shimkit-test", join(rootfs, "sub")]);
      await writeFile(join(rootfs, "sub", "file"), "x");
      await deleteBundle(b);
      assert.ok(!(await readFile("/proc/self/mountinfo", "utf8")).includes(rootfs));
      await assert.rejects(lstat(b.path), { code: "ENOENT" });
    } finally {
      try {
        execFileSync("umount", ["-R", rootfs], { stdio: "ignore" });
      } catch {
        // Already unmounted by the code under test.
      }
    }
  });

  it("listBundles() lists bundles, skipping hidden entries, files and invalid names", async () => {
    const loc = await fresh();
    await createBundle({ ...loc, namespace: "default", id: "c2", spec: {} });
    await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    await createBundle({ ...loc, namespace: "k8s.io", id: "p1", spec: {} });
    await mkdir(join(loc.state, "default", ".c3"));
    await mkdir(join(loc.state, ".locks", "default"), { recursive: true });
    await mkdir(join(loc.state, "default", "bad name"));
    await writeFile(join(loc.state, "default", "file"), "");
    assert.deepEqual(await listBundles(loc.state), [
      { namespace: "default", id: "c1", path: join(loc.state, "default", "c1") },
      { namespace: "default", id: "c2", path: join(loc.state, "default", "c2") },
      { namespace: "k8s.io", id: "p1", path: join(loc.state, "k8s.io", "p1") },
    ]);
    assert.deepEqual(await listBundles(join(loc.state, "missing")), []);
  });
  it("listInterruptedDeletes() lists hidden `.<id>` dirs in namespace dirs of state and root, nothing else", async () => {
    const loc = await fresh();
    await createBundle({ ...loc, namespace: "default", id: "live", spec: {} });
    await mkdir(join(loc.state, "default", ".c3", "rootfs"), { recursive: true });
    await mkdir(join(loc.state, "k8s.io", ".p1"), { recursive: true });
    await mkdir(join(loc.root, "default", ".c3"), { recursive: true });
    // Not left by a delete: the manager's own hidden dirs, a temp file, a name no id can have.
    await mkdir(join(loc.state, ".locks", "default"), { recursive: true });
    await mkdir(join(loc.root, ".records", "default"), { recursive: true });
    await mkdir(join(loc.root, ".rootfs", "busybox"), { recursive: true });
    await writeFile(join(loc.state, "default", ".c4"), "");
    await mkdir(join(loc.state, "default", ".bad name"));
    await mkdir(join(loc.state, "default", "..c5"));
    const all = await listInterruptedDeletes(loc.state, loc.root);
    assert.deepEqual(all.map(({ mtimeMs: _, ...d }) => d), [
      { namespace: "default", id: "c3", path: join(loc.state, "default", ".c3"), kind: "bundle" },
      { namespace: "k8s.io", id: "p1", path: join(loc.state, "k8s.io", ".p1"), kind: "bundle" },
      { namespace: "default", id: "c3", path: join(loc.root, "default", ".c3"), kind: "work" },
    ]);
    assert.equal(all[0].mtimeMs, (await stat(join(loc.state, "default", ".c3"))).mtimeMs);
    assert.deepEqual((await listInterruptedDeletes(loc.state)).map((d) => d.kind), ["bundle", "bundle"]);
    assert.deepEqual(await listInterruptedDeletes(join(loc.state, "missing"), join(loc.root, "missing")), []);
  });

  it("finishInterruptedDelete() removes what a delete left, content and all", async () => {
    const loc = await fresh();
    const b = await createBundle({ ...loc, namespace: "default", id: "c1", spec: {} });
    await mkdir(join(b.path, "rootfs", "proc"));
    await writeFile(join(b.path, "rootfs", "file"), "x");
    await rename(b.path, join(loc.state, "default", ".c1"));
    await rename(b.workDir, join(loc.root, "default", ".c1"));
    for (const d of await listInterruptedDeletes(loc.state, loc.root)) await finishInterruptedDelete(d);
    assert.deepEqual(await readdir(join(loc.state, "default")), []);
    assert.deepEqual(await readdir(join(loc.root, "default")), []);
  });

  it("finishInterruptedDelete() unmounts the rootfs, as deleteBundle() would have", {
    skip: isRoot ? false : "needs root (mounts a tmpfs)",
  }, async () => {
    const loc = await fresh();
    const hidden = join(loc.state, "default", ".c1");
    await mkdir(join(hidden, "rootfs"), { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "shimkit-test", join(hidden, "rootfs")]);
    try {
      await writeFile(join(hidden, "rootfs", "file"), "x");
      const [entry] = await listInterruptedDeletes(loc.state);
      await finishInterruptedDelete(entry);
      assert.ok(!(await readFile("/proc/self/mountinfo", "utf8")).includes(hidden));
      await assert.rejects(lstat(hidden), { code: "ENOENT" });
    } finally {
      try {
        execFileSync("umount", ["-R", join(hidden, "rootfs")], { stdio: "ignore" });
      } catch {
        // Already unmounted by the code under test.
      }
    }
  });

  it("finishInterruptedDelete() leaves a dir with a mount outside its rootfs, naming the mount point", {
    skip: isRoot ? false : "needs root (mounts a tmpfs)",
  }, async () => {
    const loc = await fresh();
    const hidden = join(loc.root, "default", ".c1");
    const host = join(hidden, "host");
    await mkdir(host, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "shimkit-test", host]);
    try {
      await writeFile(join(host, "keep"), "x");
      const [entry] = await listInterruptedDeletes(loc.state, loc.root);
      await assert.rejects(finishInterruptedDelete(entry), (err: Error) => {
        assert.ok(err instanceof FailedPreconditionError, String(err));
        assert.equal(
          err.message,
          `finish the interrupted delete of "default/c1" (${JSON.stringify(hidden)}): still mounted at ${
            JSON.stringify(host)
          }`,
        );
        return true;
      });
      assert.equal(await readFile(join(host, "keep"), "utf8"), "x", "the mounted dir is untouched");
    } finally {
      execFileSync("umount", [host]);
    }
  });
});
