import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  BUNDLE_FILES,
  bundleDir,
  bundleFile,
  hiddenBundleDir,
  hiddenPath,
  isHiddenName,
  lockPath,
  locksDir,
  namespaceRootDir,
  namespaceStateDir,
  recordPath,
  recordsDir,
  workDir,
} from "./layout.ts";

const S = "/run/shimkit";
const R = "/var/lib/shimkit";

describe("layout", () => {
  const cases: Array<[string, () => string, string]> = [
    ["namespaceStateDir()", () => namespaceStateDir(S, "default"), "/run/shimkit/default"],
    ["bundleDir()", () => bundleDir(S, "default", "c1"), "/run/shimkit/default/c1"],
    ["hiddenBundleDir()", () => hiddenBundleDir(S, "default", "c1"), "/run/shimkit/default/.c1"],
    ["namespaceRootDir()", () => namespaceRootDir(R, "k8s.io"), "/var/lib/shimkit/k8s.io"],
    ["workDir()", () => workDir(R, "default", "c1"), "/var/lib/shimkit/default/c1"],
    ["recordsDir()", () => recordsDir(R, "default"), "/var/lib/shimkit/.records/default"],
    ["recordPath()", () => recordPath(R, "default", "c1"), "/var/lib/shimkit/.records/default/c1.json"],
    ["locksDir()", () => locksDir(S, "default"), "/run/shimkit/.locks/default"],
    ["lockPath()", () => lockPath(S, "default", "c1"), "/run/shimkit/.locks/default/c1.lock"],
    ["hiddenPath()", () => hiddenPath("/var/lib/shimkit/default/c1"), "/var/lib/shimkit/default/.c1"],
    ["bundleFile() config", () => bundleFile("/b", "config"), "/b/config.json"],
    ["bundleFile() bootstrap", () => bundleFile("/b", "bootstrap"), "/b/bootstrap.json"],
    ["bundleFile() shimBinaryPath", () => bundleFile("/b", "shimBinaryPath"), "/b/shim-binary-path"],
  ];
  for (const [name, fn, want] of cases) {
    it(`${name} builds ${want}`, () => assert.equal(fn(), want));
  }

  it("BUNDLE_FILES names match protocol-facts §3", () => {
    assert.deepEqual(Object.values(BUNDLE_FILES).sort(), [
      "address",
      "bootstrap.json",
      "config.json",
      "init.pid",
      "log",
      "options.json",
      "rootfs",
      "runtime",
      "sandbox",
      "shim-binary-path",
      "shim.pid",
      "work",
    ]);
  });

  const hostile = ["..", "../etc", "a/b", "", ".c1", "x\x00y"];
  for (const bad of hostile) {
    it(`bundleDir() and friends reject id ${JSON.stringify(bad)}`, () => {
      for (const fn of [bundleDir, hiddenBundleDir, lockPath]) {
        assert.throws(() => fn(S, "default", bad), InvalidArgumentError);
        assert.throws(() => fn(S, bad, "c1"), InvalidArgumentError);
      }
      assert.throws(() => workDir(R, "default", bad), InvalidArgumentError);
      assert.throws(() => recordPath(R, "default", bad), InvalidArgumentError);
    });
  }

  const hidden: Array<[string, boolean]> = [[".c1", true], [".records", true], [".locks", true], [
    "c1",
    false,
  ], ["default", false]];
  for (const [name, want] of hidden) {
    it(`isHiddenName() says ${want} for ${name}`, () => assert.equal(isHiddenName(name), want));
  }
});
