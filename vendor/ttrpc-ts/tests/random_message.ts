/**
 * Random messages of any protobuf-es schema, for differential tests of the
 * encoder and decoder against `toBinary` and `fromBinary` (ttrpc-ts's
 * `src/encoder_test.ts` and `src/decoder_test.ts`, shimkit's
 * `tests/codec_api_test.ts`): every scalar type with its edge values,
 * non-ASCII strings whose UTF-8 length crosses a varint boundary, undeclared
 * enum values, oneofs, lists, maps and nesting.
 *
 * @module
 */

import type { DescField, DescMessage } from "@bufbuild/protobuf";

/**
 * A small seeded PRNG (mulberry32), so a failure names a reproducible seed.
 *
 * @param seed any integer
 * @returns numbers in [0, 1)
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source of numbers in [0, 1). */
export type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

const STRINGS = [
  "",
  "a",
  "task-1",
  "x".repeat(127),
  "x".repeat(128),
  "x".repeat(300),
  "é",
  "日本語のテキスト",
  "é".repeat(70), // 140 bytes from 70 units: the length prefix guess is 2 bytes, right
  "日".repeat(42), // 126 bytes: a 1-byte prefix after a 2-byte guess (the bytes are moved)
  "日".repeat(43), // 129 bytes
  "🐳 containerd",
  "\ud800 lone surrogate",
];

/** A random value for a scalar of protobuf-es type number `type` (edge values first). */
function scalar(r: Rand, type: number): unknown {
  switch (type) {
    case 1: // double
      return pick(r, [0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 1e300, 5e-324, r() * 1e6 - 5e5]);
    case 2: // float
      return pick(r, [0, -0, 1.5, NaN, Infinity, -Infinity, 3.4e38, -3.4e38, Math.fround(r() * 1000)]);
    case 3: // int64
    case 16: // sfixed64
    case 18: // sint64
      return pick(r, [
        0n,
        1n,
        -1n,
        127n,
        128n,
        9223372036854775807n,
        -9223372036854775808n,
        BigInt(
          Math.floor(r() * 2 ** 52),
        ) * (r() < 0.5 ? -1n : 1n),
      ]);
    case 4: // uint64
    case 6: // fixed64
      return pick(r, [
        0n,
        1n,
        127n,
        128n,
        4294967296n,
        18446744073709551615n,
        BigInt(Math.floor(r() * 2 ** 53)),
      ]);
    case 5: // int32
    case 15: // sfixed32
    case 17: // sint32
      return pick(r, [
        0,
        1,
        -1,
        127,
        128,
        -129,
        0x7fffffff,
        -0x80000000,
        Math.floor(r() * 2 ** 31) - 2 ** 30,
      ]);
    case 7: // fixed32
    case 13: // uint32
      return pick(r, [0, 1, 127, 128, 16383, 16384, 0xffffffff, Math.floor(r() * 2 ** 32)]);
    case 8: // bool
      return r() < 0.5;
    case 9: // string
      return pick(r, STRINGS);
    case 12: { // bytes
      const n = pick(r, [0, 1, 5, 127, 128, 300]);
      return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    }
  }
  throw new Error(`no generator for scalar type ${type}`);
}

function enumValue(r: Rand, field: DescField & { enum: { values: { number: number }[] } }): number {
  // Declared values, and one the enum does not declare (open enums keep it).
  return r() < 0.8 ? pick(r, field.enum.values).number : 5;
}

/**
 * A random init object for `schema`, for `create(schema, init)`.
 *
 * @param r the random source (see {@link rng})
 * @param schema the message schema
 * @param depth how many levels of nested messages to fill at most
 * @returns the init object
 */
export function randomInit(r: Rand, schema: DescMessage, depth: number): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const oneof of schema.oneofs) {
    if (r() < 0.3) continue;
    const f = pick(r, oneof.fields);
    if (f.fieldKind === "message" && depth <= 0) continue;
    init[oneof.localName] = { case: f.localName, value: fieldValue(r, f, depth) };
  }
  for (const f of schema.fields) {
    if (f.oneof !== undefined || r() < 0.3) continue;
    if (f.fieldKind === "list") {
      if (f.listKind === "message" && depth <= 0) continue;
      const n = pick(r, [0, 1, 3, 20]);
      init[f.localName] = Array.from(
        { length: n },
        () =>
          f.listKind === "message"
            ? randomInit(r, f.message, depth - 1)
            : f.listKind === "enum"
            ? enumValue(r, f as never)
            : scalar(r, f.scalar),
      );
    } else if (f.fieldKind === "map") {
      if (f.mapKind === "message" && depth <= 0) continue;
      const entries: Record<string, unknown> = {};
      for (let i = pick(r, [0, 1, 4]); i > 0; i--) {
        const key = String(scalar(r, f.mapKey));
        entries[key] = f.mapKind === "message"
          ? randomInit(r, f.message, depth - 1)
          : f.mapKind === "enum"
          ? enumValue(r, f as never)
          : scalar(r, f.scalar);
      }
      init[f.localName] = entries;
    } else {
      if (f.fieldKind === "message" && depth <= 0) continue;
      init[f.localName] = fieldValue(r, f, depth);
    }
  }
  return init;
}

function fieldValue(r: Rand, f: DescField, depth: number): unknown {
  if (f.fieldKind === "message") return randomInit(r, f.message, depth - 1);
  if (f.fieldKind === "enum") return enumValue(r, f as never);
  if (f.fieldKind === "scalar") return scalar(r, f.scalar);
  throw new Error(`unexpected ${f.fieldKind}`);
}
