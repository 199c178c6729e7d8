import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kindOf } from "../errors.ts";
import { REMOVE_TREE_PASSES, removeTree } from "./remove_tree.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "shimkit-rmtree-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("removeTree()", () => {
  it("removes a nested tree, a single file, and accepts a path that does not exist", async () => {
    await withTemp(async (dir) => {
      const tree = join(dir, "tree");
      await mkdir(join(tree, "a", "b"), { recursive: true });
      await writeFile(join(tree, "a", "b", "f"), "x");
      await writeFile(join(tree, "g"), "y");
      await removeTree(tree);
      assert.equal(existsSync(tree), false);
      const file = join(dir, "file");
      await writeFile(file, "z");
      await removeTree(file);
      assert.equal(existsSync(file), false);
      await removeTree(join(dir, "missing"));
    });
  });

  it("leaves nothing when entries vanish while it walks (Bun's rm stops early there and says it succeeded)", async () => {
    await withTemp(async (dir) => {
      for (let round = 0; round < 40; round++) {
        const tree = join(dir, `t${round}`);
        mkdirSync(tree);
        for (let i = 0; i < 150; i++) writeFileSync(join(tree, `f${i}`), "x");
        const removing = removeTree(tree);
        // Another remover, racing the walk, as a shim that tidies its bundle while it is deleted.
        for (let i = 149; i >= 0; i -= 7) {
          try {
            unlinkSync(join(tree, `f${i}`));
          } catch { /* already removed by the walk */ }
        }
        await removing;
        assert.equal(existsSync(tree), false, `round ${round}: ${tree} is still there`);
      }
    });
  });

  it("goes again while something is left, then gives up naming the path and what it holds", async () => {
    await withTemp(async (dir) => {
      const tree = join(dir, "stuck");
      await mkdir(tree);
      for (const n of ["a", "b", "c", "d", "e", "f", "g"]) await writeFile(join(tree, n), "");
      let calls = 0;
      const err = await removeTree(tree, {
        remove: () => {
          calls++;
          return Promise.resolve();
        },
      }).then(() => undefined, (e) => e);
      assert.equal(calls, REMOVE_TREE_PASSES);
      assert.equal(kindOf(err), "internal");
      assert.match(
        String((err as Error).message),
        new RegExp(
          `^remove ".*stuck": still present after ${REMOVE_TREE_PASSES} passes \\(holds "[a-g]", .*, … \\(7\\)\\)$`,
        ),
      );

      // A pass that leaves something the first time and finishes the second is success.
      calls = 0;
      await removeTree(tree, {
        remove: async (p) => {
          if (++calls === 2) await rm(p, { recursive: true, force: true });
        },
      });
      assert.equal(calls, 2);
      assert.equal(existsSync(tree), false);
    });
  });

  it("a failing pass is reported with its errno kind and the path", async () => {
    const denied = Object.assign(new Error("EACCES: permission denied, rm '/x'"), { code: "EACCES" });
    const err = await removeTree("/x", { remove: () => Promise.reject(denied) }).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(kindOf(err), "permission_denied");
    assert.match(String((err as Error).message), /^remove "\/x": EACCES/);
  });
});
