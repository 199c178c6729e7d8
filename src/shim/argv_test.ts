import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { InvalidArgumentError } from "../errors.ts";
import { encodeRuntimeOptions, shimArgv, shimEnv } from "./argv.ts";

const base = {
  namespace: "default",
  grpcAddress: "/run/shimkit/shimkit.sock",
  publishBinary: "/usr/bin/shimkit",
  id: "c1",
};

describe("shimArgv()", () => {
  const cases: Array<[string, Parameters<typeof shimArgv>[0], "start" | "delete", string[]]> = [
    ["start", base, "start", [
      "-namespace",
      "default",
      "-address",
      "/run/shimkit/shimkit.sock",
      "-publish-binary",
      "/usr/bin/shimkit",
      "-id",
      "c1",
      "start",
    ]],
    ["start with -debug", { ...base, debug: true }, "start", [
      "-namespace",
      "default",
      "-address",
      "/run/shimkit/shimkit.sock",
      "-publish-binary",
      "/usr/bin/shimkit",
      "-id",
      "c1",
      "-debug",
      "start",
    ]],
    ["delete with -bundle", { ...base, bundle: "/run/shimkit/default/c1" }, "delete", [
      "-namespace",
      "default",
      "-address",
      "/run/shimkit/shimkit.sock",
      "-publish-binary",
      "/usr/bin/shimkit",
      "-id",
      "c1",
      "-bundle",
      "/run/shimkit/default/c1",
      "delete",
    ]],
    ["delete with -bundle and -debug", { ...base, bundle: "/b", debug: true }, "delete", [
      "-namespace",
      "default",
      "-address",
      "/run/shimkit/shimkit.sock",
      "-publish-binary",
      "/usr/bin/shimkit",
      "-id",
      "c1",
      "-bundle",
      "/b",
      "-debug",
      "delete",
    ]],
  ];
  for (const [name, args, sub, want] of cases) {
    it(`shimArgv() builds ${name} with every flag before the subcommand`, () =>
      assert.deepEqual(shimArgv(args, sub), want));
  }
  it("shimArgv() rejects delete without a bundle and bad ids", () => {
    assert.throws(() => shimArgv(base, "delete"), /bundle path is required/);
    assert.throws(() => shimArgv({ ...base, id: "../x" }, "start"), InvalidArgumentError);
    assert.throws(() => shimArgv({ ...base, namespace: "" }, "start"), InvalidArgumentError);
  });
});

describe("shimEnv()", () => {
  it("shimEnv() inherits ours, adds the shim variables and puts extra entries last", () => {
    const env = shimEnv({
      base: { PATH: "/usr/bin", GOMAXPROCS: "8", UNSET: undefined },
      ttrpcAddress: "/run/shimkit/shimkit.sock.ttrpc",
      grpcAddress: "/run/shimkit/shimkit.sock",
      namespace: "default",
      extra: ["SCHED_CORE=1", "PATH=/opt/bin:/usr/bin", "EMPTY="],
    });
    assert.deepEqual(Object.entries(env), [
      ["TTRPC_ADDRESS", "/run/shimkit/shimkit.sock.ttrpc"],
      ["GRPC_ADDRESS", "/run/shimkit/shimkit.sock"],
      ["NAMESPACE", "default"],
      ["MAX_SHIM_VERSION", "2"],
      ["GOMAXPROCS", "2"],
      ["SCHED_CORE", "1"],
      ["PATH", "/opt/bin:/usr/bin"],
      ["EMPTY", ""],
    ]);
  });
  for (const bad of ["NOEQUALS", "=value", "A=b\0c"]) {
    it(`shimEnv() rejects extra entry ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => shimEnv({ ttrpcAddress: "", grpcAddress: "", namespace: "n", extra: [bad] }),
        /want KEY=value/,
      );
    });
  }
});

describe("encodeRuntimeOptions()", () => {
  function decode(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
    const r = new BinaryReader(bytes);
    let typeUrl = "";
    let value: Uint8Array = new Uint8Array();
    while (r.pos < r.len) {
      const [f] = r.tag();
      if (f === 1) typeUrl = r.string();
      else if (f === 2) value = r.bytes();
    }
    return { typeUrl, value };
  }
  const cases: Array<[string, string, Uint8Array, string]> = [
    [
      "keeps a bare type url",
      "containerd.runc.v1.Options",
      new Uint8Array([0x08, 0x01]),
      "containerd.runc.v1.Options",
    ],
    [
      "strips type.googleapis.com/ (1.6 rejects it)",
      "type.googleapis.com/containerd.runc.v1.Options",
      new Uint8Array([0x30, 0x01]),
      "containerd.runc.v1.Options",
    ],
    ["omits an empty value", "containerd.runc.v1.Options", new Uint8Array(), "containerd.runc.v1.Options"],
  ];
  for (const [name, url, value, wantUrl] of cases) {
    it(`encodeRuntimeOptions() ${name}`, () => {
      const got = decode(encodeRuntimeOptions(url, value));
      assert.equal(got.typeUrl, wantUrl);
      assert.deepEqual([...got.value], [...value]);
    });
  }
  it("encodeRuntimeOptions() produces the exact Any bytes", () => {
    const got = encodeRuntimeOptions("a.B", new Uint8Array([0x08, 0x01]));
    assert.deepEqual([...got], [0x0a, 0x03, 0x61, 0x2e, 0x42, 0x12, 0x02, 0x08, 0x01]);
  });
  it("encodeRuntimeOptions() rejects an empty type url", () => {
    assert.throws(() => encodeRuntimeOptions("type.googleapis.com/", new Uint8Array()), InvalidArgumentError);
  });
});
