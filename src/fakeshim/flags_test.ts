import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HelpRequested, parseShimFlags, stripFakeShimPrefix } from "./flags.ts";

describe("parseShimFlags()", () => {
  it("parseShimFlags() reads the v2 start argv containerd sends", () => {
    const f = parseShimFlags(
      [
        "-namespace",
        "ns",
        "-address",
        "/run/c.sock",
        "-publish-binary",
        "/bin/x",
        "-id",
        "c1",
        "-debug",
        "start",
      ],
      "v2",
    );
    assert.deepEqual(
      [f.namespace, f.address, f.publishBinary, f.id, f.debug, f.action, f.rest],
      ["ns", "/run/c.sock", "/bin/x", "c1", true, "start", []],
    );
  });
  it("parseShimFlags() accepts -name=value, --name and bool values", () => {
    const f = parseShimFlags(["--namespace=a", "-bundle=/b", "-debug=false", "delete", "extra"], "v2");
    assert.deepEqual([f.namespace, f.bundle, f.debug, f.action, f.rest], ["a", "/b", false, "delete", [
      "extra",
    ]]);
  });
  it("parseShimFlags() gives no action for the daemon argv", () => {
    assert.equal(parseShimFlags(["-namespace", "n", "-id", "c", "-address", "a"], "v2").action, "");
  });
  it("parseShimFlags() reads v1 flags with their defaults", () => {
    const f = parseShimFlags(
      ["-namespace", "n", "-workdir", "/w", "-socket", "unix:///s", "-systemd-cgroup"],
      "v1",
    );
    assert.deepEqual(
      [f.namespace, f.workdir, f.socket, f.systemdCgroup, f.runtimeRoot, f.containerdBinary],
      ["n", "/w", "unix:///s", true, "/run/containerd/runc", "containerd"],
    );
  });
  const rejects: Array<[string, string[], "v1" | "v2", RegExp]> = [
    ["an unknown flag", ["-nope", "start"], "v2", /flag provided but not defined: -nope/],
    ["a v2-only flag in v1", ["-id", "x"], "v1", /flag provided but not defined: -id/],
    ["containerd's -criu-path (a real v1 bug)", ["-criu-path", "/c"], "v1", /not defined: -criu-path/],
    ["a missing value", ["-namespace"], "v2", /flag needs an argument: -namespace/],
    ["a bad bool", ["-debug=maybe"], "v2", /invalid boolean value "maybe"/],
  ];
  for (const [name, argv, flavour, re] of rejects) {
    it(`parseShimFlags() rejects ${name}`, () => assert.throws(() => parseShimFlags(argv, flavour), re));
  }
  it("parseShimFlags() raises HelpRequested for -h", () => {
    assert.throws(() => parseShimFlags(["-h"], "v2"), HelpRequested);
  });
});

describe("stripFakeShimPrefix()", () => {
  const cases: Array<[string[], ReturnType<typeof stripFakeShimPrefix>]> = [
    [["-v"], { help: false, argv: ["-v"] }],
    [["fake-shim", "--flavour", "v1", "-namespace", "n"], {
      help: false,
      flavour: "v1",
      argv: ["-namespace", "n"],
    }],
    [["--flavour=v2", "start"], { help: false, flavour: "v2", argv: ["start"] }],
    [["--help"], { help: true, argv: [] }],
  ];
  for (const [argv, want] of cases) {
    it(`stripFakeShimPrefix() handles ${JSON.stringify(argv)}`, () =>
      assert.deepEqual(stripFakeShimPrefix(argv), want));
  }
  it("stripFakeShimPrefix() rejects an unknown flavour", () => {
    assert.throws(() => stripFakeShimPrefix(["--flavour", "v3"]), /invalid flavour "v3"/);
  });
});
