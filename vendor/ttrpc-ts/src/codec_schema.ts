/**
 * What ttrpc-ts's compiled encoder and decoder need to know of a schema:
 * whether they may handle it (its messages are plain protobuf-es objects all
 * the way down; anything else goes to `toBinary` and `fromBinary`), and the
 * wire type of each scalar field.
 *
 * @module
 */

import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { ScalarType } from "./protobuf.ts";
import { BIT32, BIT64, LEN, VARINT } from "./wire.ts";

/** Wrapper types, which protobuf-es unwraps to their scalar in singular fields outside a oneof. */
const WRAPPERS = new Set(
  ["Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"].map(
    (t) => `google.protobuf.${t}Value`,
  ),
);

/**
 * Whether no message the schema reaches (itself included) has a field that
 * protobuf-es gives a special local form (an unwrapped wrapper type, a
 * `google.protobuf.Struct` as JSON) or the delimited (group) encoding, nor a
 * field `alsoReject` refuses.
 *
 * @param schema the message schema
 * @param alsoReject a further test per field (the decoder refuses closed enums)
 * @returns true when every message reached is plain
 */
export function isPlainSchema(schema: DescMessage, alsoReject?: (field: DescField) => boolean): boolean {
  return plain(schema, alsoReject, new Set());
}

function plain(
  schema: DescMessage,
  alsoReject: ((field: DescField) => boolean) | undefined,
  seen: Set<DescMessage>,
): boolean {
  if (seen.has(schema)) return true;
  seen.add(schema);
  for (const field of schema.fields) {
    if (alsoReject?.(field)) return false;
    const child = field.message;
    if (child === undefined) continue;
    if ("delimitedEncoding" in field && field.delimitedEncoding) return false;
    if (child.typeName === "google.protobuf.Struct" && schema.typeName !== "google.protobuf.Value") {
      return false;
    }
    if (field.fieldKind === "message" && field.oneof === undefined && WRAPPERS.has(child.typeName)) {
      return false;
    }
    if (!plain(child, alsoReject, seen)) return false;
  }
  return true;
}

/**
 * The wire type a scalar field type is written with (enums are written as `INT32`).
 *
 * @param type the scalar type
 * @returns one of {@link VARINT}, {@link BIT64}, {@link LEN}, {@link BIT32}
 */
export function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BIT64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return BIT32;
    default:
      return VARINT;
  }
}
