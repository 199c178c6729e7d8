/**
 * Runtime options in the forms callers give them: an `Any` as is, or a plain
 * object of `containerd.runc.v1.Options` fields packed with the bare type URL
 * 1.6 shims require. Pure.
 *
 * @module
 */

import type { DescField } from "@bufbuild/protobuf";
import { create, ScalarType, toBinary } from "../api/protobuf.ts";
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
  const init: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    // Go field names (BinaryName) → JSON names (binaryName); proto names (binary_name) pass unchanged.
    const name = /^[A-Z]/.test(k) ? k[0].toLowerCase() + k.slice(1) : k;
    const field = OptionsSchema.fields.find((f) => f.jsonName === name || f.name === name);
    if (!field) {
      throw new InvalidArgumentError(
        `runtime options: unknown field "${k}" for ${OptionsSchema.typeName} (known: ${
          OptionsSchema.fields.map((f) => f.jsonName).join(", ")
        })`,
      );
    }
    init[field.localName] = scalarValue(field, k, v);
  }
  return { typeUrl: RUNC_OPTIONS_TYPE_URL, value: toBinary(OptionsSchema, create(OptionsSchema, init)) };
}

/**
 * Checks one option value against its field, as protobuf JSON would read it
 * (booleans, strings, integers or integer strings in range). Written here
 * rather than with protobuf-es's `fromJson`, whose import decodes every
 * well-known type's descriptor: this runs on every `run`'s start path.
 */
function scalarValue(field: DescField, key: string, v: unknown): unknown {
  const bad = (want: string) =>
    new InvalidArgumentError(`runtime options: field "${key}" must be ${want}, got ${JSON.stringify(v)}`);
  if (field.fieldKind !== "scalar") throw bad("a scalar (only scalar runc options are supported)");
  switch (field.scalar) {
    case ScalarType.BOOL:
      if (typeof v !== "boolean") throw bad("true or false");
      return v;
    case ScalarType.STRING:
      if (typeof v !== "string") throw bad("a string");
      return v;
    case ScalarType.UINT32: {
      const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
        throw bad("an integer from 0 to 4294967295");
      }
      return n;
    }
    default:
      throw bad(`a ${ScalarType[field.scalar]} (not supported)`);
  }
}
