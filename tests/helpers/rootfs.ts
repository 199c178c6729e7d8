/**
 * A busybox root filesystem for container tests, built once per test run from
 * the host's static busybox (Debian `busybox-static`) into a cache directory.
 *
 * The cache is `$SHIMKIT_TEST_CACHE/rootfs-busybox` when `scripts/test.sh` sets
 * that variable (it removes the directory at the end of the run), else
 * `<tmpdir>/shimkit-test-cache/rootfs-busybox`, kept between runs.
 *
 * @module
 */

import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where the host's static busybox is looked for. */
export const BUSYBOX_PATHS: readonly string[] = ["/bin/busybox", "/usr/bin/busybox"];

/** Applets linked into `/bin` of the rootfs. */
export const APPLETS: readonly string[] = [
  "sh",
  "echo",
  "sleep",
  "true",
  "false",
  "cat",
  "ls",
  "env",
  "id",
  "ps",
  "kill",
  "mkdir",
  "rm",
  "touch",
  "head",
  "tail",
  "wc",
  "grep",
  "printf",
  "pwd",
  "hostname",
  "uname",
  "yes",
  "seq",
  "ln",
  "mount",
  "umount",
  "test",
  "[",
  "stat",
  "date",
  "tee",
  "dd",
  "wget",
  "nc",
  "timeout",
  "trap",
  "whoami",
  "mkfifo",
];

/**
 * The cache directory for built test fixtures.
 *
 * @returns an absolute directory path (not created)
 */
export function testCacheDir(): string {
  return process.env.SHIMKIT_TEST_CACHE || join(tmpdir(), "shimkit-test-cache");
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the host busybox binary.
 *
 * @returns its path, or undefined when busybox-static is not installed
 */
export async function findBusybox(): Promise<string | undefined> {
  for (const p of BUSYBOX_PATHS) if (await exists(p)) return p;
  return undefined;
}

let building: Promise<string> | undefined;

/**
 * Returns the path of a busybox rootfs (`bin/busybox`, applet symlinks in
 * `bin/`, `proc`, `sys`, `dev`, `tmp`, `etc/passwd`, `etc/group`), building
 * it on first use. Treat it as read-only: tests share it.
 *
 * @returns the rootfs directory
 * @throws Error `needs /bin/busybox (busybox-static)` when busybox is missing
 */
export function busyboxRootfs(): Promise<string> {
  return (building ??= build().catch((e) => {
    building = undefined;
    throw e;
  }));
}

async function build(): Promise<string> {
  const busybox = await findBusybox();
  if (!busybox) throw new Error("needs /bin/busybox (busybox-static)");
  const cache = testCacheDir();
  const dest = join(cache, "rootfs-busybox");
  if (await exists(join(dest, "bin", "busybox"))) return dest;
  await mkdir(cache, { recursive: true });
  // Build beside the destination and rename, so concurrent test processes never see half a rootfs.
  const tmp = await mkdtemp(join(cache, ".rootfs-"));
  try {
    for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "run"]) await mkdir(join(tmp, d));
    await chmod(join(tmp, "tmp"), 0o1777);
    await copyFile(busybox, join(tmp, "bin", "busybox"));
    await chmod(join(tmp, "bin", "busybox"), 0o755);
    for (const a of APPLETS) await symlink("busybox", join(tmp, "bin", a));
    await writeFile(
      join(tmp, "etc", "passwd"),
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    await writeFile(join(tmp, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    try {
      await rename(tmp, dest);
    } catch (e) {
      // Another process won the race; its rootfs is as good as ours.
      if (!(await exists(join(dest, "bin", "busybox")))) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return dest;
}
