import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { AnySchema, StructSchema, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { encodeInit, encodeMessage, usesFastPath } from "./encoder.ts";
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
import { LegacySchema, WithGroupSchema } from "../tests/gen/kinds2_pb.ts";
import { RequestSchema, ResponseSchema } from "./gen/ttrpc_pb.ts";
import { randomInit, rng } from "../tests/random_message.ts";

/** The error `fn` throws, or undefined. */
function thrown(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  return undefined;
}

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
];

describe("encoder (protobuf-es toBinary's bytes from a reused scratch buffer)", () => {
  it("compiles every schema without a special local form or a group", () => {
    for (const schema of FAST) assert.equal(usesFastPath(schema), true, schema.typeName);
  });

  it("leaves wrappers, Struct fields, groups and required fields to toBinary", () => {
    assert.equal(usesFastPath(WrappedSchema), false);
    assert.equal(usesFastPath(WithStructSchema), false);
    assert.equal(usesFastPath(WithGroupSchema), false);
    // LEGACY_REQUIRED is checked per message, so the schema compiles and a missing field goes to toBinary.
    assert.equal(usesFastPath(LegacySchema), true);
  });

  it("writes the bytes toBinary writes, for random messages of every field kind", () => {
    for (const schema of FAST) {
      for (let seed = 1; seed <= 150; seed++) {
        const msg = create(schema, randomInit(rng(seed), schema, 3) as never);
        assert.deepEqual(
          encodeMessage(schema, msg),
          toBinary(schema, msg),
          `${schema.typeName} seed ${seed}`,
        );
      }
    }
  });

  it("writes the same bytes for schemas it leaves to toBinary", () => {
    const cases: Array<[DescMessage, Record<string, unknown>]> = [
      [WrappedSchema, { wrapped: 5, name: "w" }],
      [WithStructSchema, { json: { a: 1, b: [true, null, "x"], c: { d: "e" } } }],
      [WithGroupSchema, { label: "g", item: { weight: 3 } }],
      [LegacySchema, { name: "n", count: 7, values: [1, 2], packedValues: [3, 4] }],
    ];
    for (const [schema, init] of cases) {
      const msg = create(schema, init as never);
      assert.deepEqual(encodeMessage(schema, msg), toBinary(schema, msg), schema.typeName);
    }
  });

  it("keeps unknown fields, after the known ones, as toBinary does", () => {
    const msg = create(ScalarsSchema, { fString: "s" });
    msg.$unknown = [{ no: 99, wireType: 2, data: Uint8Array.of(3, 1, 2, 3) }];
    assert.deepEqual(encodeMessage(ScalarsSchema, msg), toBinary(ScalarsSchema, msg));
  });

  it("writes nested messages longer than 127 bytes (length prefixes moved) and large messages", () => {
    const children = Array.from(
      { length: 40 },
      (_, i) => ({ name: "c".repeat(i * 7), scalars: { fString: "日".repeat(i) } }),
    );
    const big = create(TreeSchema, { name: "root", children, lists: { lBytes: [new Uint8Array(200_000)] } });
    assert.deepEqual(encodeMessage(TreeSchema, big), toBinary(TreeSchema, big));
    // After a message larger than the scratch keeps, small ones still encode right.
    const small = create(ScalarsSchema, { fInt32: -1 });
    assert.deepEqual(encodeMessage(ScalarsSchema, small), toBinary(ScalarsSchema, small));
  });

  it("returns buffers that later encodings never overwrite", () => {
    const kept: Array<[Uint8Array, Uint8Array]> = [];
    for (let seed = 1; seed <= 3000; seed++) {
      const msg = create(ScalarsSchema, randomInit(rng(seed), ScalarsSchema, 0) as never);
      kept.push([encodeMessage(ScalarsSchema, msg), toBinary(ScalarsSchema, msg)]);
    }
    for (const [ours, ref] of kept) assert.deepEqual(ours, ref);
  });

  it("accepts what toBinary coerces, with toBinary's bytes", () => {
    const msg = create(ScalarsSchema);
    (msg as Record<string, unknown>).fInt32 = "5"; // toBinary takes a numeric string for a 32-bit integer
    (msg as Record<string, unknown>).fInt64 = "-12";
    (msg as Record<string, unknown>).fString = 42;
    assert.deepEqual(encodeMessage(ScalarsSchema, msg), toBinary(ScalarsSchema, msg));
  });

  it("refuses what toBinary refuses, with toBinary's error", () => {
    const bad: Array<[DescMessage, (m: Record<string, unknown>) => void]> = [
      [ScalarsSchema, (m) => (m.fInt32 = 1.5)],
      [ScalarsSchema, (m) => (m.fInt32 = 2 ** 31)],
      [ScalarsSchema, (m) => (m.fUint32 = -1)],
      [ScalarsSchema, (m) => (m.fFloat = 1e39)],
      [ScalarsSchema, (m) => (m.fInt64 = "twelve")],
      [ScalarsSchema, (m) => (m.fUint64 = -1n)],
      [ListsSchema, (m) => (m.lSint32 = [1, 2 ** 40])],
      [TreeSchema, (m) => (m.scalars = create(ListsSchema))], // a message of another type
      [LegacySchema, (m) => delete m.name], // a required field not set
    ];
    for (const [schema, spoil] of bad) {
      const msg = create(schema, (schema === LegacySchema ? { name: "n" } : {}) as never);
      spoil(msg as Record<string, unknown>);
      const want = thrown(() => toBinary(schema, msg));
      assert.ok(want, `toBinary accepts ${schema.typeName}: the case is wrong`);
      const got = thrown(() => encodeMessage(schema, msg));
      assert.equal(got?.message, want.message, schema.typeName);
    }
  });

  it("encodeInit is create then encodeMessage", () => {
    const init = { name: "t", scalars: { fSint64: -3n, fEnum: 1 }, choice: { case: "cInt32", value: -7 } };
    assert.deepEqual(encodeInit(TreeSchema, init), toBinary(TreeSchema, create(TreeSchema, init as never)));
  });
});
