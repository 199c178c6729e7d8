import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { replaceFileSync, writeFileAtomic } from "./atomic.ts";

describe("writeFileAtomic()", () => {
  it("writeFileAtomic() replaces the file with the exact mode and leaves no temp file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-atomic-"));
    try {
      const p = join(dir, "bootstrap.json");
      await writeFileAtomic(p, "one", 0o644);
      await writeFileAtomic(p, new TextEncoder().encode("two"), 0o600);
      assert.equal(await readFile(p, "utf8"), "two");
      assert.equal((await stat(p)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(dir), ["bootstrap.json"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("writeFileAtomic() fails with ENOENT when the directory is missing", async () => {
    await assert.rejects(writeFileAtomic("/nonexistent-dir/x", "a", 0o644), { code: "ENOENT" });
  });
});

describe("replaceFileSync()", () => {
  it("replaceFileSync() replaces the file with the exact mode, whatever the umask, and leaves no temp file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-atomic-"));
    const old = process.umask(0o077);
    try {
      const p = join(dir, "bootstrap.json");
      replaceFileSync(p, "one", 0o644);
      assert.equal(await readFile(p, "utf8"), "one");
      assert.equal((await stat(p)).mode & 0o777, 0o644);
      replaceFileSync(p, new TextEncoder().encode("two"), 0o600);
      assert.equal(await readFile(p, "utf8"), "two");
      assert.equal((await stat(p)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(dir), ["bootstrap.json"]);
    } finally {
      process.umask(old);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("replaceFileSync() leaves no temp file when the rename fails, and names the errno", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-atomic-"));
    try {
      await mkdir(join(dir, "taken"));
      await mkdir(join(dir, "taken", "x"));
      assert.throws(() => replaceFileSync(join(dir, "taken"), "a", 0o644), (e: unknown) => {
        assert.ok(["EISDIR", "ENOTEMPTY", "EEXIST"].includes((e as { code?: string }).code ?? ""), String(e));
        return true;
      });
      assert.deepEqual(await readdir(dir), ["taken"]);
      assert.throws(() => replaceFileSync("/nonexistent-dir/x", "a", 0o644), { code: "ENOENT" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
