/**
 * Runtime options in the forms callers give them: an `Any` as is, or a plain
 * object of `containerd.runc.v1.Options` fields packed with the bare type URL
 * 1.6 shims require. Pure.
 *
 * @module
 */

import { fromJson, type JsonObject, toBinary } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../errors.ts";
import { OptionsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import type { AnyValue } from "../taskapi/types.ts";

/** The bare type URL of runc's runtime options. */
export const RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options";

const isAnyValue = (v: unknown): v is AnyValue =>
  typeof (v as AnyValue).typeUrl === "string" && (v as AnyValue).value instanceof Uint8Array;

/**
 * Packs runtime options. An object is read as `containerd.runc.v1.Options`
 * fields; keys may be JSON names (`binaryName`), proto names (`binary_name`)
 * or containerd's TOML/Go names (`BinaryName`).
 *
 * @param options an `Any` (passed through) or a plain object
 * @returns the packed `Any`, or undefined for no options (undefined or an empty object)
 * @throws InvalidArgumentError naming the bad field
 * @example
 * ```ts
 * encodeRuntimeOptionsValue({ root: "/run/runc", SystemdCgroup: true });
 * // { typeUrl: "containerd.runc.v1.Options", value: Uint8Array [...] }
 * ```
 */
export function encodeRuntimeOptionsValue(
  options: AnyValue | Record<string, unknown> | undefined,
): AnyValue | undefined {
  if (options === undefined) return undefined;
  if (isAnyValue(options)) return { typeUrl: options.typeUrl, value: options.value };
  const entries = Object.entries(options);
  if (entries.length === 0) return undefined;
  const json: JsonObject = {};
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    // Go field names (BinaryName) → JSON names (binaryName); proto names (binary_name) pass unchanged.
    const name = /^[A-Z]/.test(k) ? k[0].toLowerCase() + k.slice(1) : k;
    json[name] = v as JsonObject[string];
  }
  try {
    const msg = fromJson(OptionsSchema, json);
    return { typeUrl: RUNC_OPTIONS_TYPE_URL, value: toBinary(OptionsSchema, msg) };
  } catch (err) {
    throw new InvalidArgumentError(`runtime options: ${(err as Error).message}`, { cause: err });
  }
}
