/**
 * Parsing of the spec values a user types (pure): `--user UID[:GID]`,
 * `--mount type=bind,src=/a,dst=/b,options=rbind:ro` and `--log-uri`, the syntax of `ctr run`.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import type { OciMount } from "./default_spec.ts";

/** A process user: numeric ids, as the OCI spec takes them. */
export interface SpecUser {
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
}

/** The largest id Linux accepts: 2^32 − 2 (2^32 − 1 is the "no id" value). */
const MAX_ID = 4_294_967_294;

function parseId(text: string, what: string, value: string): number {
  if (!/^[0-9]+$/.test(text)) {
    throw new InvalidArgumentError(
      `invalid --user "${value}": want UID or UID:GID in numbers (names are not looked up), got ${what} "${text}"`,
    );
  }
  const n = Number(text);
  if (n > MAX_ID) {
    throw new InvalidArgumentError(`invalid --user "${value}": ${what} ${text} is above ${MAX_ID}`);
  }
  return n;
}

/**
 * Parses `UID[:GID]`; the group defaults to 0, as for runc's own default spec.
 *
 * @param value the flag's value
 * @returns the ids
 * @throws InvalidArgumentError naming the value for anything but one or two decimal ids
 * @example
 * ```ts
 * parseUser("1000:100"); // { uid: 1000, gid: 100 }
 * parseUser("1000");     // { uid: 1000, gid: 0 }
 * ```
 */
export function parseUser(value: string): SpecUser {
  const parts = value.split(":");
  if (parts.length > 2) {
    throw new InvalidArgumentError(`invalid --user "${value}": want UID or UID:GID`);
  }
  return {
    uid: parseId(parts[0], "uid", value),
    gid: parts.length === 2 ? parseId(parts[1], "gid", value) : 0,
  };
}

const MOUNT_KEYS: Record<string, "type" | "source" | "destination" | "options"> = {
  type: "type",
  src: "source",
  source: "source",
  dst: "destination",
  destination: "destination",
  target: "destination",
  options: "options",
};

/**
 * Parses one `--mount` value: comma-separated `key=value` fields, `type`
 * (default `bind`), `src`/`source`, `dst`/`destination`/`target` and
 * `options` (colon-separated). A bind mount's source is made absolute against
 * `cwd`, and it gets `rbind` when its options name neither `bind` nor `rbind`
 * (runc only bind-mounts with one of them).
 *
 * @param value the flag's value
 * @param cwd the directory a relative bind source is resolved against
 * @returns the OCI mount
 * @throws InvalidArgumentError naming the value for an unknown or repeated key, a missing or relative
 *   destination, or a bind mount without a source
 * @example
 * ```ts
 * parseMount("type=bind,src=/srv/data,dst=/data,options=rbind:ro", "/");
 * // { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"] }
 * ```
 */
export function parseMount(value: string, cwd: string): OciMount {
  const fields: Partial<Record<"type" | "source" | "destination" | "options", string>> = {};
  for (const field of value.split(",")) {
    const eq = field.indexOf("=");
    const key = eq < 0 ? field : field.slice(0, eq);
    const name = MOUNT_KEYS[key];
    if (eq < 0 || name === undefined) {
      throw new InvalidArgumentError(
        `invalid --mount "${value}": unknown field "${field}" (want type=, src=, dst= and options=)`,
      );
    }
    if (fields[name] !== undefined) {
      throw new InvalidArgumentError(`invalid --mount "${value}": ${key} given twice`);
    }
    fields[name] = field.slice(eq + 1);
  }
  const type = fields.type || "bind";
  const destination = fields.destination;
  if (!destination) {
    throw new InvalidArgumentError(`invalid --mount "${value}": no dst (the path in the container)`);
  }
  if (!isAbsolute(destination)) {
    throw new InvalidArgumentError(
      `invalid --mount "${value}": dst "${destination}" must be an absolute path`,
    );
  }
  const options = fields.options ? fields.options.split(":").filter((o) => o !== "") : [];
  let source = fields.source || undefined;
  if (type === "bind") {
    if (source === undefined) {
      throw new InvalidArgumentError(`invalid --mount "${value}": a bind mount needs src`);
    }
    source = resolve(cwd, source);
    if (!options.includes("bind") && !options.includes("rbind")) options.unshift("rbind");
  }
  const mount: OciMount = { destination, type };
  if (source !== undefined) mount.source = source;
  if (options.length > 0) mount.options = options;
  return mount;
}

/**
 * Parses a `--log-uri` value into the stdio URI a shim opens for the
 * process's stdout and stderr: `file:///abs/path` (appended to, parents
 * created) and `binary:///abs/logger?args` (the shim runs the logger) pass
 * through; a plain path becomes `file://` + the path made absolute against `cwd`.
 *
 * @param value the flag's value
 * @param cwd the directory a relative path is resolved against
 * @returns the URI
 * @throws InvalidArgumentError naming the value for another scheme or a relative or empty URI path
 * @example
 * ```ts
 * parseLogUri("out.log", "/srv");             // "file:///srv/out.log"
 * parseLogUri("file:///var/log/c1.log", "/"); // "file:///var/log/c1.log"
 * ```
 */
export function parseLogUri(value: string, cwd: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  if (!scheme) {
    if (value === "") {
      throw new InvalidArgumentError(`invalid --log-uri "": want a path, file:///PATH or binary:///PATH`);
    }
    return `file://${resolve(cwd, value)}`;
  }
  const name = scheme[1].toLowerCase();
  if (name !== "file" && name !== "binary") {
    throw new InvalidArgumentError(`invalid --log-uri "${value}": scheme "${name}" is not file or binary`);
  }
  const path = value.slice(scheme[0].length).split("?")[0];
  if (!path.startsWith("/") || path === "/") {
    throw new InvalidArgumentError(`invalid --log-uri "${value}": want an absolute path after ${name}://`);
  }
  return value;
}
