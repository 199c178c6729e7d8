import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { encodeMessage, usesFastPath } from "../vendor/ttrpc-ts/src/encoder.ts";
import { randomInit, rng } from "../vendor/ttrpc-ts/tests/random_message.ts";
import { typeRegistry } from "../src/api/registry.ts";

/** Every message shimkit defines, and the well-known types it registers. */
const MESSAGES: DescMessage[] = [...typeRegistry].filter((t): t is DescMessage => t.kind === "message");

describe("ttrpc-ts's encoder on every containerd API message", () => {
  it("compiles every containerd message (none uses a wrapper, Struct field or group)", () => {
    const slow = MESSAGES.filter((m) => !m.typeName.startsWith("google.") && !usesFastPath(m)).map((m) =>
      m.typeName
    );
    assert.deepEqual(slow, []);
  });

  it("writes the bytes toBinary writes, for random messages of each", () => {
    assert.ok(MESSAGES.length > 100, `only ${MESSAGES.length} messages registered`);
    for (const schema of MESSAGES) {
      for (let seed = 1; seed <= 25; seed++) {
        const msg = create(schema, randomInit(rng(seed), schema, 2) as never);
        assert.deepEqual(
          encodeMessage(schema, msg),
          toBinary(schema, msg),
          `${schema.typeName} seed ${seed}`,
        );
      }
    }
  });
});
