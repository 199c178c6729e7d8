/**
 * The shim runtimes the cross-module tests run against, each with the reason it is
 * skipped on this machine (or `false`): the real runc v2 and v1 shims (root, the
 * binaries and a static busybox for the rootfs) and the embedded fake shim.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.ts";
import { needsAll, needsBinary, needsRoot } from "./require.ts";
import { findBusybox } from "./rootfs.ts";

/** One runtime to run a test suite against. */
export interface RuntimeCase {
  /** Runtime name given to `--runtime` and `TaskManager.create`. */
  runtime: string;
  /** True for the runc shims: they need a rootfs, a private runc root and a cgroup parent. */
  runc: boolean;
  /** Why it cannot run here, or false. */
  skip: false | string;
}

/**
 * Lists runc v2, runc v1 and the fake shim with their skip reasons.
 *
 * @returns the cases, in that order
 */
export async function shimRuntimes(): Promise<RuntimeCase[]> {
  const busybox = (await findBusybox()) ? false : "needs busybox (busybox-static)";
  const runc = (version: "v1" | "v2"): RuntimeCase => ({
    runtime: `io.containerd.runc.${version}`,
    runc: true,
    skip: needsAll(needsRoot(), needsBinary(`containerd-shim-runc-${version}`), needsBinary("runc"), busybox),
  });
  return [
    runc("v2"),
    runc("v1"),
    {
      runtime: "io.containerd.fake.v2",
      runc: false,
      skip: existsSync(join(REPO_ROOT, "src", "fakeshim", "main.ts")) ? false : "needs src/fakeshim/main.ts",
    },
  ];
}
