/**
 * A busybox root filesystem for container tests, built once per test run by
 * the library's `ensureBusyboxRootfs` (src/rootfs/busybox.ts) into a cache
 * directory.
 *
 * The cache is `$SHIMKIT_TEST_CACHE/rootfs-busybox` when `scripts/test.sh` sets
 * that variable (it removes the directory at the end of the run), else
 * `<tmpdir>/shimkit-test-cache/rootfs-busybox`, kept between runs.
 *
 * @module
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import { APPLETS, BUSYBOX_PATHS, ensureBusyboxRootfs, findBusybox } from "../../src/rootfs/busybox.ts";

export { APPLETS, BUSYBOX_PATHS, findBusybox };

/**
 * The cache directory for built test fixtures.
 *
 * @returns an absolute directory path (not created)
 */
export function testCacheDir(): string {
  return process.env.SHIMKIT_TEST_CACHE || join(tmpdir(), "shimkit-test-cache");
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
  return await ensureBusyboxRootfs(join(testCacheDir(), "rootfs-busybox"), { busybox });
}
