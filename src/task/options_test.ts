import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { OptionsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import { isInvalidArgument } from "../errors.ts";
import { encodeRuntimeOptionsValue, RUNC_OPTIONS_TYPE_URL } from "./options.ts";
import { checkIdmapSupport, usesIdmapMounts } from "./features.ts";
import { isFailedPrecondition } from "../errors.ts";

describe("encodeRuntimeOptionsValue()", () => {
  const decode = (o: Parameters<typeof encodeRuntimeOptionsValue>[0]) => {
    const any = encodeRuntimeOptionsValue(o)!;
    assert.equal(any.typeUrl, RUNC_OPTIONS_TYPE_URL);
    return fromBinary(OptionsSchema, any.value);
  };
  it("accepts JSON, proto and Go field names", () => {
    const m = decode({ root: "/r", binary_name: "crun", SystemdCgroup: true });
    assert.equal(m.root, "/r");
    assert.equal(m.binaryName, "crun");
    assert.equal(m.systemdCgroup, true);
  });
  it("passes an Any through", () => {
    const any = { typeUrl: "x.Y", value: new Uint8Array([1]) };
    assert.deepEqual(encodeRuntimeOptionsValue(any), any);
  });
  it("gives undefined for no options", () => {
    assert.equal(encodeRuntimeOptionsValue(undefined), undefined);
    assert.equal(encodeRuntimeOptionsValue({}), undefined);
  });
  it("rejects unknown fields with InvalidArgument", () => {
    assert.throws(() => encodeRuntimeOptionsValue({ nope: 1 }), isInvalidArgument);
  });
});

describe("usesIdmapMounts()", () => {
  const cases: [string, Record<string, unknown>, boolean][] = [
    ["no mounts", {}, false],
    ["plain mounts", { mounts: [{ destination: "/proc" }] }, false],
    ["empty mappings", { mounts: [{ uidMappings: [] }] }, false],
    ["uid mappings", { mounts: [{ uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }] }, true],
    ["gid mappings", { mounts: [{ gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }] }, true],
  ];
  for (const [name, spec, want] of cases) {
    it(`usesIdmapMounts() ${name}`, () => assert.equal(usesIdmapMounts(spec), want));
  }
});

describe("checkIdmapSupport()", () => {
  it("accepts enabled idmap", () =>
    checkIdmapSupport({ linux: { mountExtensions: { idmap: { enabled: true } } } }));
  const bad: [string, unknown, RegExp][] = [
    ["a missing entry", { linux: {} }, /missing `mountExtensions.idmap`/],
    [
      "a disabled entry",
      { linux: { mountExtensions: { idmap: { enabled: false } } } },
      /not present or disabled/,
    ],
    ["no document", undefined, /missing/],
  ];
  for (const [name, f, re] of bad) {
    it(`checkIdmapSupport() rejects ${name}`, () => {
      assert.throws(() => checkIdmapSupport(f), (e: Error) => isFailedPrecondition(e) && re.test(e.message));
    });
  }
});
