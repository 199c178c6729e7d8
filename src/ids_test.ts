import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "./errors.ts";
import { ID_MAX_LENGTH, validateId, validateNamespace, validateRuntimeName } from "./ids.ts";

describe("validateId()", () => {
  const valid = ["c1", "a", "A-b_c.d", "1", "abc123", "x".repeat(ID_MAX_LENGTH), "sandbox-0.task_1"];
  for (const id of valid) {
    it(`validateId() accepts ${JSON.stringify(id.length > 20 ? id.slice(0, 20) + "…" : id)}`, () => {
      assert.equal(validateId(id), id);
    });
  }

  const invalid: Array<[string, string, RegExp]> = [
    ["empty", "", /^invalid id "": must not be empty$/],
    ["dot-dot", "..", /^invalid id "\.\.": must match/],
    ["traversal", "../x", /^invalid id "\.\.\/x": must match \^\[A-Za-z0-9\]\+/],
    ["slash", "a/b", /invalid id "a\/b"/],
    ["absolute", "/etc", /invalid id "\/etc"/],
    ["leading dot", ".hidden", /invalid id "\.hidden"/],
    ["trailing dot", "a.", /invalid id "a\."/],
    ["double separator", "a--b", /invalid id "a--b"/],
    ["NUL", "a\x00b", /invalid id "a\\u0000b"/],
    ["newline", "a\nb", /invalid id "a\\nb"/],
    ["space", "a b", /invalid id "a b"/],
    ["unicode", "café", /invalid id "café"/],
    ["too long", "x".repeat(ID_MAX_LENGTH + 1), /length 77 exceeds maximum of 76/],
    ["colon", "a:b", /invalid id "a:b"/],
  ];
  for (const [name, id, re] of invalid) {
    it(`validateId() rejects ${name}`, () => {
      assert.throws(
        () => validateId(id),
        (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message),
      );
    });
  }

  it("validateId() names the field", () => {
    assert.throws(() => validateId("../x", "exec id"), /^InvalidArgumentError: invalid exec id "\.\.\/x"/);
  });

  it("validateId() rejects non-strings", () => {
    assert.throws(() => validateId(undefined as unknown as string), InvalidArgumentError);
    assert.throws(() => validateId(42 as unknown as string), InvalidArgumentError);
  });
});

describe("validateNamespace()", () => {
  it("validateNamespace() accepts default and k8s.io", () => {
    assert.equal(validateNamespace("default"), "default");
    assert.equal(validateNamespace("k8s.io"), "k8s.io");
  });
  it("validateNamespace() names the namespace field", () => {
    assert.throws(() => validateNamespace("a/b"), /invalid namespace "a\/b": must match/);
    assert.throws(() => validateNamespace(""), /invalid namespace "": must not be empty/);
  });
});

describe("validateRuntimeName()", () => {
  const valid = [
    "io.containerd.runc.v2",
    "runc.v1",
    "io.containerd.kata-qemu.v2",
    "/usr/bin/containerd-shim-runc-v2",
  ];
  for (const name of valid) {
    it(`validateRuntimeName() accepts ${name}`, () => assert.equal(validateRuntimeName(name), name));
  }
  const invalid: Array<[string, string, RegExp]> = [
    ["empty", "", /must not be empty/],
    [
      "relative path",
      "bin/shim",
      /want an absolute path to a shim binary or a dotted name like io\.containerd\.runc\.v2/,
    ],
    ["dot-relative path", "./containerd-shim-runc-v2", /want an absolute path/],
    ["no dot", "runc", /want a dotted name/],
    ["leading dot", ".runc.v2", /want a dotted name/],
    ["NUL in path", "/usr/bin/x\x00y", /control characters/],
    ["newline", "io.containerd.runc.v2\n", /control characters/],
    ["space", "io containerd.v2", /want a dotted name/],
    ["too long", "/" + "a".repeat(5000), /exceeds maximum/],
  ];
  for (const [name, value, re] of invalid) {
    it(`validateRuntimeName() rejects ${name}`, () => {
      assert.throws(
        () => validateRuntimeName(value),
        (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message),
      );
    });
  }
});

describe("error messages quote bounded values", () => {
  it("validateId() of a 100 000-character id gives a short message that names the length", () => {
    assert.throws(() => validateId("x".repeat(100_000)), (e: unknown) => {
      const msg = (e as Error).message;
      assert.ok(msg.length < 300, `${msg.length} characters`);
      assert.match(msg, /"x{120}"… \(100000 characters\): length 100000 exceeds maximum of 76$/);
      return true;
    });
  });
});
