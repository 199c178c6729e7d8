/**
 * Disposable state/root directories for tests: `await using s = await tempState()`
 * gives a fresh temp dir with `state`, `root` and `socketDir` inside, removed on
 * disposal (mounts under it are unmounted first).
 *
 * @module
 */

import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeTree as removeUnmounted } from "../../src/platform/remove_tree.ts";

/** A temporary shimkit state; disposing it removes everything under `dir`. */
export interface TempState extends AsyncDisposable {
  /** The temp dir holding everything below. */
  dir: string;
  /** The state directory (`<dir>/state`), for `--state`. */
  state: string;
  /** The root directory (`<dir>/root`), for `--root`. */
  root: string;
  /** A short socket directory (`<dir>/s`). */
  socketDir: string;
  /** Removes everything, unmounting first; idempotent. Same as disposal. */
  cleanup(): Promise<void>;
}

/**
 * Creates a temp dir under `os.tmpdir()` with `state/`, `root/` and `s/`.
 * Names are short so socket paths stay under the 108-byte limit.
 *
 * @param prefix temp dir name prefix
 * @returns the directories and their disposer
 * @example
 * ```ts
 * await using s = await tempState();
 * await runCli(["--state", s.state, "--root", s.root, "ps"]);
 * ```
 */
export async function tempState(prefix = "sk-"): Promise<TempState> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const t = { dir, state: join(dir, "state"), root: join(dir, "root"), socketDir: join(dir, "s") };
  await Promise.all([mkdir(t.state), mkdir(t.root), mkdir(t.socketDir)]);
  let done: Promise<void> | undefined;
  const cleanup = () => (done ??= removeTree(dir));
  return { ...t, cleanup, [Symbol.asyncDispose]: cleanup };
}

/**
 * Removes the parent directories the manager (and runc, with its root at `<dir>/runc`) create
 * for a namespace and keep: `rmdir` removes each only when it is empty, so a leftover bundle,
 * work dir, record or lock inside still shows up in a leak check.
 *
 * @param s the temp state
 * @param namespace the namespace the test used
 * @returns when done
 */
export async function removeEmptyParents(
  s: Pick<TempState, "dir" | "state" | "root">,
  namespace: string,
): Promise<void> {
  for (
    const d of [
      join(s.state, namespace),
      join(s.state, ".locks", namespace),
      join(s.state, ".locks"),
      join(s.root, namespace),
      join(s.root, ".records", namespace),
      join(s.root, ".records"),
      join(s.dir, "runc", namespace),
      join(s.dir, "runc"),
    ]
  ) await rmdir(d).catch(() => {});
}

/**
 * Mount points at or under `dir`, deepest first, from /proc/self/mountinfo.
 *
 * @param dir an absolute directory
 * @returns mount point paths
 */
export async function mountsUnder(dir: string): Promise<string[]> {
  let info: string;
  try {
    info = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const prefix = dir.endsWith("/") ? dir : dir + "/";
  const out: string[] = [];
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    const mp = field.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp === dir || mp.startsWith(prefix)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

function umount(path: string): Promise<void> {
  return new Promise((resolve) => {
    execFile("umount", ["-l", path], () => resolve());
  });
}

/**
 * Unmounts everything under `dir`, then removes it recursively.
 *
 * @param dir the directory to remove
 */
export async function removeTree(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) await umount(mp);
  // Not plain fs.rm: under Bun it can stop early and report success (see remove_tree.ts).
  await removeUnmounted(dir);
}
