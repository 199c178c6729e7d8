import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as index from "@bufbuild/protobuf";
import * as core from "./protobuf.ts";

describe("protobuf (binary functions without the index)", () => {
  it("are the very functions the index exports, so both share one protobuf-es", () => {
    // Identity, not equivalence: a second copy of protobuf-es would have its own message symbols.
    assert.equal(core.create, index.create);
    assert.equal(core.isMessage, index.isMessage);
    assert.equal(core.fromBinary, index.fromBinary);
    assert.equal(core.toBinary, index.toBinary);
    assert.equal(core.protoInt64, index.protoInt64);
    assert.equal(core.ScalarType, index.ScalarType);
  });
});
