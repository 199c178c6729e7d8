import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as index from "@bufbuild/protobuf";
import * as core from "./protobuf.ts";
import { ConnectRequestSchema } from "../gen/containerd/task/v2/task_pb.ts";

describe("api/protobuf (protobuf-es values without the index)", () => {
  it("are the very values the index exports", () => {
    assert.equal(core.create, index.create);
    assert.equal(core.fromBinary, index.fromBinary);
    assert.equal(core.toBinary, index.toBinary);
    assert.equal(core.createFileRegistry, index.createFileRegistry);
    assert.equal(core.ScalarType, index.ScalarType);
  });

  it("round-trip a generated message", () => {
    const bytes = core.toBinary(ConnectRequestSchema, core.create(ConnectRequestSchema, { id: "c1" }));
    assert.deepEqual(bytes, new Uint8Array([0x0a, 0x02, 0x63, 0x31]));
    assert.equal(core.fromBinary(ConnectRequestSchema, bytes).id, "c1");
  });
});
