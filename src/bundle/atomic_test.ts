import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.ts";

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
