import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { decodeFast, decodesFast } from "../vendor/ttrpc-ts/src/decoder.ts";
import { encodeMessage, usesFastPath } from "../vendor/ttrpc-ts/src/encoder.ts";
import { randomInit, rng } from "../vendor/ttrpc-ts/tests/random_message.ts";
import { typeRegistry } from "../src/api/registry.ts";

/** Every message shimkit defines, and the well-known types it registers. */
const MESSAGES: DescMessage[] = [...typeRegistry].filter((t): t is DescMessage => t.kind === "message");

describe("ttrpc-ts's encoder and decoder on every containerd API message", () => {
  it("compiles every containerd message (none uses a wrapper, Struct field, group or closed enum)", () => {
    const containerd = MESSAGES.filter((m) => !m.typeName.startsWith("google."));
    assert.deepEqual(containerd.filter((m) => !usesFastPath(m)).map((m) => m.typeName), []);
    assert.deepEqual(containerd.filter((m) => !decodesFast(m)).map((m) => m.typeName), []);
  });

  it("writes the bytes toBinary writes and reads back fromBinary's message, for random messages of each", () => {
    assert.ok(MESSAGES.length > 100, `only ${MESSAGES.length} messages registered`);
    for (const schema of MESSAGES) {
      for (let seed = 1; seed <= 25; seed++) {
        const label = `${schema.typeName} seed ${seed}`;
        const msg = create(schema, randomInit(rng(seed), schema, 2) as never);
        const bytes = toBinary(schema, msg);
        assert.deepEqual(encodeMessage(schema, msg), bytes, label);
        if (decodesFast(schema)) {
          assert.deepStrictEqual(decodeFast(schema, bytes), fromBinary(schema, bytes), label);
        }
      }
    }
  });
});
