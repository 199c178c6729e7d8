/**
 * Host cgroup clean-up for tests that run real containers: runc creates the
 * parent of a container's `cgroupsPath` in every controller and leaves it
 * behind, empty, when the container is deleted.
 *
 * @module
 */

import { readdir, rmdir } from "node:fs/promises";
import { join } from "node:path";

/** The cgroup filesystem root. */
const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Removes the empty cgroup parent `name` (`/sys/fs/cgroup/<name>` on cgroup v2,
 * `/sys/fs/cgroup/<controller>/<name>` on v1). A non-empty parent is kept: a
 * leftover container still shows up. Never throws.
 *
 * @param name the parent's name, e.g. `shimkit-test`
 * @returns when done
 */
export async function removeCgroupParents(name: string): Promise<void> {
  const dirs = [join(CGROUP_ROOT, name)];
  for (const e of await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) dirs.push(join(CGROUP_ROOT, e.name, name));
  }
  for (const d of dirs) await rmdir(d).catch(() => {});
}
