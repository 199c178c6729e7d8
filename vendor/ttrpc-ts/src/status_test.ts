import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, codeName, TtrpcError } from "./status.ts";

describe("codeName()", () => {
  const cases: Array<[number, string]> = [
    [0, "OK"],
    [1, "Canceled"],
    [2, "Unknown"],
    [4, "DeadlineExceeded"],
    [5, "NotFound"],
    [8, "ResourceExhausted"],
    [12, "Unimplemented"],
    [14, "Unavailable"],
    [16, "Unauthenticated"],
    [17, "Code(17)"],
    [-1, "Code(-1)"],
    [1.5, "Code(1.5)"],
  ];
  for (const [code, name] of cases) {
    it(`codeName() names ${code} "${name}"`, () => assert.equal(codeName(code), name));
  }
  it("Code covers 0–16 in gRPC order", () => {
    assert.deepEqual(
      Object.values(Code),
      Array.from({ length: 17 }, (_, i) => i),
    );
  });
});

describe("TtrpcError", () => {
  it("TtrpcError keeps code, message, details and name", () => {
    const e = new TtrpcError(Code.NotFound, "container not created: not found");
    assert.ok(e instanceof Error);
    assert.equal(e.name, "TtrpcError");
    assert.equal(e.code, 5);
    assert.equal(e.message, "container not created: not found");
    assert.deepEqual(e.details, []);
  });

  const cases: Array<[string, unknown, number, string]> = [
    ["a TtrpcError as is", new TtrpcError(6, "exists"), 6, "exists"],
    [
      "an Error with grpcCode",
      Object.assign(new Error("gone"), { grpcCode: 5 }),
      5,
      "gone",
    ],
    [
      "an Error with a non-numeric grpcCode",
      Object.assign(new Error("x"), { grpcCode: "5" }),
      2,
      "x",
    ],
    ["a plain Error", new Error("boom"), 2, "boom"],
    ["a string", "oops", 2, "oops"],
    ["null", null, 2, "null"],
  ];
  for (const [name, thrown, code, message] of cases) {
    it(`TtrpcError.from() converts ${name}`, () => {
      const e = TtrpcError.from(thrown);
      assert.equal(e.code, code);
      assert.equal(e.message, message);
      if (thrown instanceof TtrpcError) assert.equal(e, thrown);
    });
  }
});
