import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
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
  it("rejects unknown fields with InvalidArgument naming the field and the known ones", () => {
    assert.throws(
      () => encodeRuntimeOptionsValue({ nope: 1 }),
      (e: Error) => isInvalidArgument(e) && /unknown field "nope" .*known: .*binaryName/.test(e.message),
    );
  });
  it("reads uint32 fields from numbers and integer strings", () => {
    assert.equal(decode({ io_uid: 1000, IoGid: "2000" }).ioUid, 1000);
    assert.equal(decode({ IoGid: "2000" }).ioGid, 2000);
    assert.equal(decode({ ioUid: 4294967295 }).ioUid, 4294967295);
  });
  const badValues: Array<[string, Record<string, unknown>, RegExp]> = [
    ["a number for a string", { root: 7 }, /field "root" must be a string, got 7/],
    [
      "a string for a bool",
      { systemdCgroup: "yes" },
      /field "systemdCgroup" must be true or false, got "yes"/,
    ],
    ["a negative uint32", { ioUid: -1 }, /field "ioUid" must be an integer from 0 to 4294967295/],
    ["a too large uint32", { ioUid: 2 ** 32 }, /must be an integer from 0 to 4294967295/],
    ["a fraction", { ioGid: 1.5 }, /field "ioGid" must be an integer/],
  ];
  for (const [name, opts, re] of badValues) {
    it(`rejects ${name} with InvalidArgument`, () => {
      assert.throws(
        () => encodeRuntimeOptionsValue(opts),
        (e: Error) => isInvalidArgument(e) && re.test(e.message),
      );
    });
  }
  it("encodes exactly what protobuf-es's fromJson would", () => {
    const opts = { root: "/r", binary_name: "crun", SystemdCgroup: true, noPivotRoot: false, io_uid: 5 };
    const want = toBinary(
      OptionsSchema,
      fromJson(OptionsSchema, {
        root: "/r",
        binaryName: "crun",
        systemdCgroup: true,
        noPivotRoot: false,
        ioUid: 5,
      }),
    );
    assert.deepEqual(encodeRuntimeOptionsValue(opts)!.value, want);
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
