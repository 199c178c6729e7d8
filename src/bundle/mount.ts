/**
 * Recursive unmount of a bundle's rootfs (containerd `mount.UnmountRecursive`),
 * done only when something is actually mounted there. The mountinfo parsing
 * is pure; unmounting runs `umount`, falling back to a lazy detach.
 *
 * @module
 */

import { readFile, realpath } from "node:fs/promises";
import { fromErrno, newError } from "../errors.ts";
import { runProcess } from "../platform/process.ts";

const UMOUNT_TIMEOUT_MS = 10_000;

/**
 * Extracts the mount points (field 5) from `/proc/self/mountinfo` text,
 * decoding the kernel's octal escapes (`\040` for a space, …).
 *
 * @param mountinfo contents of a mountinfo file
 * @returns mount points in file order
 */
export function parseMountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split("\n")) {
    if (line === "") continue;
    const field = line.split(" ")[4];
    if (field) {
      points.push(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
    }
  }
  return points;
}

/**
 * Selects the mount points at or below `dir`, deepest first, each once, so
 * they can be unmounted in order.
 *
 * @param points mount points (from {@link parseMountPoints})
 * @param dir the directory (already resolved with realpath)
 * @returns matching mount points, deepest first
 */
export function mountPointsUnder(points: readonly string[], dir: string): string[] {
  const base = dir.endsWith("/") && dir !== "/" ? dir.slice(0, -1) : dir;
  const found = new Set(points.filter((p) => p === base || p.startsWith(base + "/")));
  return [...found].sort((a, b) => b.split("/").length - a.split("/").length || b.length - a.length);
}

/**
 * Lists what is mounted at or below `dir` right now, deepest first.
 *
 * @param dir directory such as `<bundle>/rootfs`
 * @param mountinfoPath where to read the mount table (injectable for tests)
 * @returns mount points at or below `dir`; empty when none or `dir` is gone
 */
export async function mountsUnder(dir: string, mountinfoPath = "/proc/self/mountinfo"): Promise<string[]> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return [];
    throw fromErrno(err, `list mounts under ${JSON.stringify(dir)}`);
  }
  return mountPointsUnder(parseMountPoints(await readFile(mountinfoPath, "utf8")), real);
}

/**
 * Unmounts everything mounted at or below `dir`, deepest first. Does
 * nothing (and runs nothing) when nothing is mounted there or `dir` is gone.
 *
 * @param dir directory such as `<bundle>/rootfs`
 * @param mountinfoPath where to read the mount table (injectable for tests)
 * @returns the mount points that were unmounted
 * @throws an error carrying umount's stderr when a mount point cannot be detached
 */
export async function unmountRecursive(
  dir: string,
  mountinfoPath = "/proc/self/mountinfo",
): Promise<string[]> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return [];
    throw fromErrno(err, `unmount ${JSON.stringify(dir)}`);
  }
  const points = mountPointsUnder(parseMountPoints(await readFile(mountinfoPath, "utf8")), real);
  for (const point of points) {
    const r = await runProcess("umount", [point], { timeoutMs: UMOUNT_TIMEOUT_MS });
    if (r.exitCode === 0) continue;
    // Busy (a process still has its cwd or an open file there): detach lazily, as containerd does on EBUSY.
    const lazy = await runProcess("umount", ["-l", point], { timeoutMs: UMOUNT_TIMEOUT_MS });
    if (lazy.exitCode !== 0) {
      const stderr = new TextDecoder().decode(lazy.stderr).trim() ||
        new TextDecoder().decode(r.stderr).trim();
      throw newError(
        "unknown",
        `unmount ${JSON.stringify(point)}: ${stderr || `umount exited with status ${lazy.exitCode}`}`,
      );
    }
  }
  return points;
}
