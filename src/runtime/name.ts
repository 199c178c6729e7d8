/**
 * Runtime name rules (containerd `pkg/shim/util.go` BinaryName). Pure.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { validateRuntimeName } from "../ids.ts";

/** What a runtime string denotes: a shim binary given by absolute path, or a dotted runtime name. */
export type RuntimeRef =
  | { kind: "path"; path: string }
  | { kind: "name"; name: string; binary: string };

/**
 * Derives the shim binary name from a runtime name: the last two dot-parts,
 * `io.containerd.runc.v2` → `containerd-shim-runc-v2`.
 *
 * @param runtime dotted runtime name
 * @returns the binary name to look up
 * @throws InvalidArgumentError when there are fewer than two dot-parts or the first, second-to-last or last part is empty
 * @example
 * ```ts
 * binaryName("io.containerd.runc.v2"); // "containerd-shim-runc-v2"
 * ```
 */
export function binaryName(runtime: string): string {
  const parts = runtime.split(".");
  // containerd 2.x rejects < 2 parts and an empty first part; we also reject an
  // empty name or version part, which would only yield "containerd-shim--v2".
  if (parts.length < 2 || parts[0] === "" || parts.at(-1) === "" || parts.at(-2) === "") {
    throw new InvalidArgumentError(
      `invalid runtime name ${
        JSON.stringify(runtime)
      }: want at least two non-empty dot-separated parts like io.containerd.runc.v2`,
    );
  }
  return `containerd-shim-${parts.at(-2)}-${parts.at(-1)}`;
}

/**
 * Classifies a runtime string as an absolute binary path or a dotted name.
 *
 * @param runtime runtime as configured (`io.containerd.runc.v2` or `/opt/bin/containerd-shim-foo-v1`)
 * @returns a {@link RuntimeRef}; for names it carries the derived binary name
 * @throws InvalidArgumentError for a relative path (contains `/` but is not absolute) or a malformed name
 */
export function classifyRuntime(runtime: string): RuntimeRef {
  validateRuntimeName(runtime);
  if (runtime.startsWith("/")) return { kind: "path", path: runtime };
  return { kind: "name", name: runtime, binary: binaryName(runtime) };
}
