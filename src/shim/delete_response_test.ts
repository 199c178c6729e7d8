import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeDeleteResponse } from "./delete_response.ts";

const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));

describe("decodeDeleteResponse()", () => {
  it("decodeDeleteResponse() decodes the bytes a 1.6 shim printed", () => {
    const got = decodeDeleteResponse(hex("08cc51108901" + "1a0b08a8e096d80610a0e6943d"));
    assert.equal(got.pid, 10444);
    assert.equal(got.exitStatus, 137);
    assert.equal(got.exitedAt?.getTime(), 1795534888 * 1000 + 128); // seconds 1795534888, nanos 128267040
  });
  it("decodeDeleteResponse() treats Go's zero time and an empty message as absent", () => {
    assert.deepEqual(decodeDeleteResponse(hex("1a0b0880929ab8c398feffff01")), {
      pid: 0,
      exitStatus: 0,
      exitedAt: undefined,
    });
    assert.deepEqual(decodeDeleteResponse(new Uint8Array()), { pid: 0, exitStatus: 0 });
  });
  it("decodeDeleteResponse() rejects truncated bytes", () => {
    assert.throws(() => decodeDeleteResponse(hex("1a0b08")), /decode delete response/);
  });
});
