/**
 * Recursive removal that checks its own result.
 *
 * Bun 1.4's `fs.rm(path, { recursive: true, force: true })` stops walking a
 * directory when one of its entries vanishes under it (another process
 * removed or renamed it) and then reports success with the rest of the tree
 * still on disk (oven-sh/bun#42062; the fix, oven-sh/bun#35800, is not
 * released). A shim exiting while its bundle is removed is exactly such a
 * race. {@link removeTree} therefore looks after each pass and goes again
 * while something is left; Node and Deno finish in the first pass.
 *
 * @module
 */

import { lstat, readdir, rm } from "node:fs/promises";
import { fromErrno, newError, quoteValue as q } from "../errors.ts";

/** How many passes {@link removeTree} makes before it gives up. */
export const REMOVE_TREE_PASSES = 5;

/** Options of {@link removeTree}. */
export interface RemoveTreeOptions {
  /** Passes before giving up (default {@link REMOVE_TREE_PASSES}). */
  passes?: number;
  /** One removal pass (default: `fs.rm` recursive and forced); tests replace it. */
  remove?: (path: string) => Promise<void>;
}

const rmForced = (path: string) => rm(path, { recursive: true, force: true });

/**
 * Removes `path` and everything below it, as `rm -rf` does: a path that does
 * not exist is no error. Unlike one `fs.rm` call, it returns only once the path
 * is gone.
 *
 * @param path the file or directory to remove
 * @param opts passes and the removal step
 * @throws ShimkitError (kind from the errno) when a pass fails, or `internal` naming the path and what is
 *   still in it after the last pass
 */
export async function removeTree(path: string, opts: RemoveTreeOptions = {}): Promise<void> {
  const passes = Math.max(1, opts.passes ?? REMOVE_TREE_PASSES);
  const remove = opts.remove ?? rmForced;
  for (let pass = 1; pass <= passes; pass++) {
    try {
      await remove(path);
    } catch (err) {
      throw fromErrno(err, `remove ${q(path)}`);
    }
    if (!(await exists(path))) return;
  }
  const left = await readdir(path).catch(() => [] as string[]);
  const shown = left.slice(0, 5).map((n) => q(n)).join(", ") +
    (left.length > 5 ? `, … (${left.length})` : "");
  throw newError(
    "internal",
    `remove ${q(path)}: still present after ${passes} pass${passes === 1 ? "" : "es"}` +
      (left.length > 0 ? ` (holds ${shown})` : ""),
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return false;
    throw fromErrno(err, `remove ${q(path)}: check`);
  }
}
