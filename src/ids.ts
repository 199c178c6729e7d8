/**
 * Identifier rules shared by every module that turns a name into a path:
 * container ids, namespaces and runtime names. Pure; no I/O.
 *
 * The id rule is containerd's `identifiers.Validate`: alphanumeric runs
 * joined by single `.`, `_` or `-`, at most 76 characters. It rules out
 * `..`, `/`, NUL, whitespace and a leading dot by construction, which is
 * what keeps `<state>/<ns>/<id>` inside `<state>`.
 *
 * @module
 */

import { InvalidArgumentError, quoteValue } from "./errors.ts";

/** Longest id or namespace containerd accepts (`identifiers.maxLength`). */
export const ID_MAX_LENGTH = 76;

/** Longest runtime name or runtime path accepted (Linux PATH_MAX minus the NUL). */
export const RUNTIME_NAME_MAX_LENGTH = 4095;

const ID_PATTERN = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const ID_RULE = "must match ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$";
// Control characters (including NUL) never belong in a name or a path we exec.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Validates a container (or shim) id with containerd's identifier rule.
 *
 * @param id the value to check
 * @param field what the value is, used in the message (default `id`)
 * @returns the id, unchanged
 * @throws InvalidArgumentError naming the field and the value
 * @example
 * ```ts
 * validateId("c1"); // "c1"
 * validateId("../x"); // throws: invalid id "../x": must match ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$
 * ```
 */
export function validateId(id: string, field = "id"): string {
  if (typeof id !== "string" || id === "") {
    throw new InvalidArgumentError(`invalid ${field} ${quoteValue(String(id ?? ""))}: must not be empty`);
  }
  if (id.length > ID_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `invalid ${field} ${quoteValue(id)}: length ${id.length} exceeds maximum of ${ID_MAX_LENGTH}`,
    );
  }
  if (!ID_PATTERN.test(id)) throw new InvalidArgumentError(`invalid ${field} ${quoteValue(id)}: ${ID_RULE}`);
  return id;
}

/**
 * Validates a namespace name; the rule is the same as for ids.
 *
 * @param ns the namespace
 * @returns the namespace, unchanged
 * @throws InvalidArgumentError naming `namespace` and the value
 */
export function validateNamespace(ns: string): string {
  return validateId(ns, "namespace");
}

/**
 * Tells whether a name is a valid id (containerd's identifier rule), without throwing: for
 * directory and file names found on disk, where an invalid one is skipped, not an error.
 *
 * @param name the name
 * @returns true when {@link validateId} accepts it
 */
export function isValidId(name: string): boolean {
  return typeof name === "string" && name.length <= ID_MAX_LENGTH && ID_PATTERN.test(name);
}

/**
 * Validates the syntax of a runtime: either an absolute path to a shim
 * binary, or a dotted name such as `io.containerd.runc.v2` (runs of
 * `[A-Za-z0-9]` joined by `.`, `_` or `-`, with at least two dot-parts).
 *
 * @param name the runtime as configured or given on the command line
 * @returns the name, unchanged
 * @throws InvalidArgumentError explaining the two valid forms
 */
export function validateRuntimeName(name: string): string {
  if (typeof name !== "string" || name === "") {
    throw new InvalidArgumentError(`invalid runtime ${quoteValue(String(name ?? ""))}: must not be empty`);
  }
  if (name.length > RUNTIME_NAME_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `invalid runtime ${
        quoteValue(name, 64)
      }: length ${name.length} exceeds maximum of ${RUNTIME_NAME_MAX_LENGTH}`,
    );
  }
  if (CONTROL.test(name)) {
    throw new InvalidArgumentError(
      `invalid runtime ${quoteValue(name)}: must not contain control characters`,
    );
  }
  if (name.startsWith("/")) return name;
  if (name.includes("/")) {
    throw new InvalidArgumentError(
      `invalid runtime ${
        quoteValue(name)
      }: want an absolute path to a shim binary or a dotted name like io.containerd.runc.v2`,
    );
  }
  if (!ID_PATTERN.test(name) || !name.includes(".")) {
    throw new InvalidArgumentError(
      `invalid runtime ${
        quoteValue(name)
      }: want a dotted name like io.containerd.runc.v2 (parts of [A-Za-z0-9_-] joined by ".") or an absolute path`,
    );
  }
  return name;
}
