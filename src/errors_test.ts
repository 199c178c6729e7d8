import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { quoteValue } from "./errors.ts";

describe("quoteValue()", () => {
  it("quoteValue() JSON-quotes a short value, escaping NUL and control characters", () => {
    assert.equal(quoteValue("a/b"), '"a/b"');
    assert.equal(quoteValue("a\u0000b\n"), '"a\\u0000b\\n"');
  });
  it("quoteValue() cuts a long value after 120 characters (or the given max) and notes its length", () => {
    assert.equal(quoteValue("x".repeat(120)), `"${"x".repeat(120)}"`);
    assert.equal(quoteValue("x".repeat(121)), `"${"x".repeat(120)}"… (121 characters)`);
    assert.equal(quoteValue("abcdef", 3), '"abc"… (6 characters)');
  });
});
