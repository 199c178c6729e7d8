import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { typeRegistry } from "../../api/registry.ts";
import { InternalError } from "../../errors.ts";
import { decodeRuntimeInfo, formatInfo, parseShimVersion } from "./info.ts";

describe("parseShimVersion()", () => {
  it("parseShimVersion() reads a runc shim's -v output", () => {
    const text =
      "containerd-shim-runc-v2:\n  Version:  1.6.20~ds1\n  Revision: 1.6.20~ds1-1+deb12u3\n  Go version: go1.19.8\n\n";
    assert.deepEqual(parseShimVersion(text), {
      version: "1.6.20~ds1",
      revision: "1.6.20~ds1-1+deb12u3",
      text: text.trim(),
    });
  });
  it("parseShimVersion() leaves fields out of unknown output", () => {
    assert.deepEqual(parseShimVersion("something else\n"), {
      version: undefined,
      revision: undefined,
      text: "something else",
    });
  });
});

describe("decodeRuntimeInfo()", () => {
  it("decodeRuntimeInfo() decodes name, version and JSON features", () => {
    const schema = typeRegistry.getMessage("containerd.types.RuntimeInfo")!;
    const bytes = toBinary(
      schema,
      create(schema, {
        name: "io.containerd.x.v2",
        version: { version: "2.0.0", revision: "abc" },
        features: {
          typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/features/Features",
          value: new TextEncoder().encode('{"ociVersionMax":"1.2.0","hooks":["prestart"]}'),
        },
        annotations: { a: "b" },
      }),
    );
    const v = decodeRuntimeInfo(bytes);
    assert.equal(v.name, "io.containerd.x.v2");
    assert.deepEqual(v.version, { version: "2.0.0", revision: "abc" });
    assert.deepEqual(v.features?.value, { ociVersionMax: "1.2.0", hooks: ["prestart"] });
    assert.deepEqual(v.annotations, { a: "b" });
    assert.equal(v.options, undefined);
    const text = formatInfo({ runtime: "x", binary: "/bin/x", info: v });
    assert.match(text, /^version\s+2\.0\.0$/m);
    assert.match(text, /^ {2}hooks\s+prestart$/m);
    assert.match(text, /^annotation a\s+b$/m);
  });
  it("decodeRuntimeInfo() rejects garbage as internal", () => {
    assert.throws(() => decodeRuntimeInfo(new Uint8Array([0xff, 0xff, 0xff])), InternalError);
  });
});

describe("formatInfo()", () => {
  it("formatInfo() shows why -info is missing", () => {
    const text = formatInfo({
      runtime: "io.containerd.runc.v2",
      binary: "/usr/bin/containerd-shim-runc-v2",
      version: { version: "1.6.20", revision: "r", text: "" },
      infoError: "not supported by this shim",
    });
    assert.match(text, /^version\s+1\.6\.20$/m);
    assert.match(text, /^name\s+\(-info: not supported by this shim\)$/m);
  });
});
