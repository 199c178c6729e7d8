/**
 * Skip reasons for tests that need root or real binaries, for
 * `it("...", { skip: needsRoot() }, ...)`: `false` when the need is met,
 * else a reason string.
 *
 * @module
 */

import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/**
 * Checks that the test runs as root.
 *
 * @returns false, or `"needs root"`
 */
export function needsRoot(): false | string {
  return process.getuid?.() === 0 ? false : "needs root";
}

/**
 * Finds an executable in PATH (or at an absolute path).
 *
 * @param name a binary name or absolute path
 * @param path the search path (default `process.env.PATH`)
 * @returns the absolute path, or undefined
 */
export function findBinary(name: string, path: string = process.env.PATH ?? ""): string | undefined {
  const candidates = name.startsWith("/")
    ? [name]
    : path.split(":").filter((d) => d).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}

/**
 * Checks that a binary is in PATH.
 *
 * @param name the binary, e.g. `containerd-shim-runc-v2`
 * @returns false, or `"needs <name> in PATH"`
 */
export function needsBinary(name: string): false | string {
  return findBinary(name) ? false : `needs ${name} in PATH`;
}

/**
 * Combines several needs into one skip value: false when all are met, else
 * the unmet reasons joined with " and " (`"needs root and needs runc in PATH"`).
 *
 * @param needs results of {@link needsRoot} / {@link needsBinary}
 * @returns false, or the combined reason
 */
export function needsAll(...needs: Array<false | string>): false | string {
  const reasons = needs.filter((n): n is string => typeof n === "string");
  return reasons.length === 0 ? false : reasons.join(" and ");
}
