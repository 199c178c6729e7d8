import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, StructSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { decodeFast, decodeMessage, decodesFast } from "./decoder.ts";
import {
  ListsSchema,
  MapsSchema,
  OptionalsSchema,
  ScalarsSchema,
  TreeSchema,
  WellKnownSchema,
  WithStructSchema,
  WrappedSchema,
} from "../tests/gen/kinds_pb.ts";
import { LegacySchema, WithClosedEnumSchema, WithGroupSchema } from "../tests/gen/kinds2_pb.ts";
import { RequestSchema, ResponseSchema } from "./gen/ttrpc_pb.ts";
import { randomInit, rng } from "../tests/random_message.ts";

const FAST = [
  ScalarsSchema,
  OptionalsSchema,
  ListsSchema,
  MapsSchema,
  TreeSchema,
  WellKnownSchema,
  AnySchema,
  TimestampSchema,
  ValueSchema,
  StructSchema,
  RequestSchema,
  ResponseSchema,
  LegacySchema,
];

type Outcome = { value: unknown; error?: undefined } | { value?: undefined; error: Error };

function attempt(fn: () => unknown): Outcome {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err as Error };
  }
}

/** Asserts that decodeMessage returns what fromBinary returns for `bytes`, or throws what it throws. */
function same(schema: DescMessage, bytes: Uint8Array, label: string): void {
  const want = attempt(() => fromBinary(schema, bytes));
  const got = attempt(() => decodeMessage(schema, bytes));
  if (want.error) {
    assert.ok(got.error, `${label}: fromBinary throws "${want.error.message}", decodeMessage returned`);
    assert.equal(got.error.message, want.error.message, label);
  } else {
    assert.ok(!got.error, `${label}: decodeMessage threw "${got.error?.message}"`);
    assert.deepStrictEqual(got.value, want.value, label);
  }
}

function randomBytes(schema: DescMessage, seed: number, depth = 3): Uint8Array {
  const init = randomInit(rng(seed), schema, depth);
  if (schema === LegacySchema) init.name ??= "required"; // toBinary refuses a Legacy without it
  return toBinary(schema, create(schema, init as never));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

describe("decoder (protobuf-es fromBinary's messages from compiled field readers)", () => {
  it("compiles every plain schema, and leaves wrappers, Struct fields, groups and closed enums to fromBinary", () => {
    for (const schema of FAST) assert.equal(decodesFast(schema), true, schema.typeName);
    for (const schema of [WrappedSchema, WithStructSchema, WithGroupSchema, WithClosedEnumSchema]) {
      assert.equal(decodesFast(schema), false, schema.typeName);
    }
  });

  it("returns fromBinary's message for random messages of every field kind, all on the fast path", () => {
    for (const schema of FAST) {
      for (let seed = 1; seed <= 150; seed++) {
        const bytes = randomBytes(schema, seed);
        const label = `${schema.typeName} seed ${seed}`;
        assert.deepStrictEqual(decodeFast(schema, bytes), fromBinary(schema, bytes), label);
        same(schema, bytes, label);
      }
    }
  });

  it("merges as fromBinary does when a message is encoded twice (last scalar wins, lists append, messages merge)", () => {
    for (const schema of FAST) {
      for (let seed = 1; seed <= 40; seed++) {
        const bytes = concat(randomBytes(schema, seed), randomBytes(schema, seed + 1000));
        const label = `${schema.typeName} seeds ${seed}+${seed + 1000}`;
        assert.deepStrictEqual(decodeFast(schema, bytes), fromBinary(schema, bytes), label);
      }
    }
  });

  it("reads another schema's bytes as fromBinary does: unknown fields kept, mismatched wire types refused alike", () => {
    for (const from of FAST) {
      for (const as of FAST) {
        for (let seed = 1; seed <= 8; seed++) {
          same(as, randomBytes(from, seed), `${from.typeName} as ${as.typeName}`);
        }
      }
    }
  });

  it("refuses truncated and corrupted input as fromBinary does", () => {
    for (const schema of [TreeSchema, ListsSchema, MapsSchema, ScalarsSchema]) {
      for (let seed = 1; seed <= 6; seed++) {
        const bytes = randomBytes(schema, seed, 2);
        for (let n = 0; n < bytes.length; n += Math.max(1, bytes.length >> 6)) {
          same(schema, bytes.subarray(0, n), `${schema.typeName} seed ${seed} first ${n}`);
        }
        const r = rng(seed);
        for (let i = 0; i < 40 && bytes.length > 0; i++) {
          const bad = bytes.slice();
          bad[Math.floor(r() * bad.length)] = Math.floor(r() * 256);
          same(schema, bad, `${schema.typeName} seed ${seed} mutation ${i}`);
        }
      }
    }
  });

  it("reads repeated scalars packed and unpacked, whatever the field declares", () => {
    // l_int32 (5) is packed by default: here as two plain varints; l_unpacked (19, tag 0x9a 0x01) as one packed run.
    const bytes = Uint8Array.of(5 << 3, 7, 5 << 3, 0x7f, 0x9a, 0x01, 3, 1, 2, 3);
    assert.deepStrictEqual(decodeFast(ListsSchema, bytes), fromBinary(ListsSchema, bytes));
    assert.deepEqual(decodeMessage(ListsSchema, bytes).lInt32, [7, 127]);
    assert.deepEqual(decodeMessage(ListsSchema, bytes).lUnpacked, [1, 2, 3]);
  });

  it("refuses invalid UTF-8 in a proto3 string with fromBinary's error", () => {
    const bytes = Uint8Array.of((9 << 3) | 2, 2, 0xc3, 0x28);
    same(ScalarsSchema, bytes, "invalid utf-8");
    assert.ok(attempt(() => decodeMessage(ScalarsSchema, bytes)).error);
  });

  it("stops at protobuf-es's nesting limit with its error", () => {
    let tree: Record<string, unknown> = { name: "leaf" };
    for (let i = 0; i < 120; i++) tree = { name: `n${i}`, children: [tree] };
    const bytes = toBinary(TreeSchema, create(TreeSchema, tree as never));
    same(TreeSchema, bytes, "120 levels");
    assert.ok(attempt(() => decodeMessage(TreeSchema, bytes)).error);
  });

  it("keeps unknown fields, large and small", () => {
    const msg = create(ScalarsSchema, { fString: "s" });
    msg.$unknown = [
      { no: 99, wireType: 2, data: Uint8Array.of(3, 1, 2, 3) },
      { no: 100, wireType: 0, data: Uint8Array.of(0x96, 0x01) },
      { no: 2000, wireType: 5, data: Uint8Array.of(1, 2, 3, 4) },
      { no: 2001, wireType: 1, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) },
    ];
    const bytes = toBinary(ScalarsSchema, msg);
    assert.deepStrictEqual(decodeFast(ScalarsSchema, bytes), fromBinary(ScalarsSchema, bytes));
    assert.equal(decodeMessage(ScalarsSchema, bytes).$unknown?.length, 4);
  });

  it("merges a child message seen twice with the unknown fields of both", () => {
    const scalars = create(ScalarsSchema, { fInt32: 1 });
    scalars.$unknown = [{ no: 99, wireType: 0, data: Uint8Array.of(1) }];
    const once = toBinary(TreeSchema, create(TreeSchema, { scalars }));
    const bytes = concat(once, once);
    const got = decodeFast(TreeSchema, bytes);
    assert.deepStrictEqual(got, fromBinary(TreeSchema, bytes));
    assert.equal(got?.scalars?.$unknown?.length, 2);
  });

  it("merges a map entry's message value given twice in one entry", () => {
    // Maps.m_message (13): one entry, key "k", value Scalars{f_int32: 1} and then Scalars{f_string: "x"}.
    const entry = Uint8Array.of(0x0a, 1, 0x6b, 0x12, 2, 0x28, 1, 0x12, 3, 0x4a, 1, 0x78);
    const bytes = concat(Uint8Array.of((13 << 3) | 2, entry.length), entry);
    const got = decodeFast(MapsSchema, bytes);
    assert.deepStrictEqual(got, fromBinary(MapsSchema, bytes));
    assert.equal(got?.mMessage.k.fInt32, 1);
    assert.equal(got?.mMessage.k.fString, "x");
  });

  it("returns fromBinary's message for the schemas it leaves to fromBinary", () => {
    same(WrappedSchema, toBinary(WrappedSchema, create(WrappedSchema, { wrapped: 5, name: "w" })), "wrapped");
    same(WithClosedEnumSchema, Uint8Array.of(1 << 3, 2, 1 << 3, 9), "closed enum, unknown value");
  });
});
