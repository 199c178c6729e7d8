/**
 * Which message schemas ttrpc-ts's own encoder and decoder may handle: those
 * whose messages are plain protobuf-es objects all the way down. Anything
 * else goes to protobuf-es's `toBinary` and `fromBinary`.
 *
 * @module
 */

import type { DescField, DescMessage } from "@bufbuild/protobuf";

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
