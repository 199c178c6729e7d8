import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { binaryName, classifyRuntime } from "./name.ts";

describe("binaryName()", () => {
  const cases: Array<[string, string]> = [
    ["io.containerd.runc.v2", "containerd-shim-runc-v2"],
    ["io.containerd.runc.v1", "containerd-shim-runc-v1"],
    ["runc.v2", "containerd-shim-runc-v2"],
    ["io.containerd.kata-qemu.v2", "containerd-shim-kata-qemu-v2"],
    ["a.b.c.d.e", "containerd-shim-d-e"],
  ];
  for (const [runtime, want] of cases) {
    it(`binaryName() maps ${runtime} to ${want}`, () => assert.equal(binaryName(runtime), want));
  }
  const bad = ["runc", "", ".runc.v2", "io.containerd.", "io..v2", "."];
  for (const runtime of bad) {
    it(`binaryName() rejects ${JSON.stringify(runtime)}`, () => {
      assert.throws(
        () => binaryName(runtime),
        (e: unknown) => e instanceof InvalidArgumentError && /io\.containerd\.runc\.v2/.test(e.message),
      );
    });
  }
});

describe("classifyRuntime()", () => {
  it("classifyRuntime() keeps an absolute path as a path", () => {
    assert.deepEqual(classifyRuntime("/usr/bin/containerd-shim-runc-v2"), {
      kind: "path",
      path: "/usr/bin/containerd-shim-runc-v2",
    });
  });
  it("classifyRuntime() derives the binary for a dotted name", () => {
    assert.deepEqual(classifyRuntime("io.containerd.runc.v2"), {
      kind: "name",
      name: "io.containerd.runc.v2",
      binary: "containerd-shim-runc-v2",
    });
  });
  const rejected: Array<[string, RegExp]> = [
    [
      "bin/containerd-shim-runc-v2",
      /an absolute path to a shim binary or a dotted name like io\.containerd\.runc\.v2/,
    ],
    ["./containerd-shim-runc-v2", /an absolute path to a shim binary/],
    ["../x.v2", /an absolute path to a shim binary/],
    ["runc", /dotted name/],
    ["", /must not be empty/],
  ];
  for (const [runtime, re] of rejected) {
    it(`classifyRuntime() rejects ${JSON.stringify(runtime)}`, () => {
      assert.throws(
        () => classifyRuntime(runtime),
        (e: unknown) => e instanceof InvalidArgumentError && re.test(e.message),
      );
    });
  }
});
