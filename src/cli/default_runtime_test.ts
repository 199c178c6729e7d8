import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chooseRuntime, resolveDefaultRuntime, runcShimAvailable } from "./default_runtime.ts";
import { FAKE_RUNTIME, RUNC_RUNTIME } from "../config/config.ts";
import { tempState } from "../../tests/helpers/temp_state.ts";

describe("chooseRuntime()", () => {
  const cases: Array<[string, string | undefined, string, boolean, string, boolean]> = [
    ["keeps a requested runtime", "io.x.v1", RUNC_RUNTIME, false, "io.x.v1", false],
    ["keeps runc when it is available", undefined, RUNC_RUNTIME, true, RUNC_RUNTIME, false],
    ["falls back to the fake shim when runc is missing", undefined, RUNC_RUNTIME, false, FAKE_RUNTIME, true],
    ["keeps another configured runtime", undefined, "io.y.v2", false, "io.y.v2", false],
    ["never replaces an explicitly requested runc", RUNC_RUNTIME, RUNC_RUNTIME, false, RUNC_RUNTIME, false],
  ];
  for (const [name, requested, configured, avail, runtime, fellBack] of cases) {
    it(name, () => assert.deepEqual(chooseRuntime(requested, configured, avail), { runtime, fellBack }));
  }
});

describe("runcShimAvailable()", () => {
  it("finds the shim in PATH or at the configured path", async () => {
    await using s = await tempState();
    const bin = join(s.dir, "containerd-shim-runc-v2");
    const none = { runtimes: {} };
    assert.equal(await runcShimAvailable(none, { PATH: s.state }, "/nonexistent/self"), false);
    await writeFile(bin, "#!/bin/sh\n");
    await chmod(bin, 0o755);
    assert.equal(await runcShimAvailable(none, { PATH: `${s.state}:${s.dir}` }, "/nonexistent/self"), true);
    assert.equal(await runcShimAvailable(none, { PATH: "" }, join(s.dir, "shimkit")), true, "beside self");
    const configured = { runtimes: { [RUNC_RUNTIME]: { path: join(s.dir, "missing"), options: {} } } };
    assert.equal(await runcShimAvailable(configured, { PATH: s.dir }), false);
  });
  it("follows the resolver's rules: no relative PATH entries, no directories", async () => {
    await using s = await tempState();
    const none = { runtimes: {} };
    await writeFile(join(s.dir, "containerd-shim-runc-v2"), "#!/bin/sh\n", { mode: 0o755 });
    const cwd = process.cwd();
    process.chdir(s.dir); // where the binary is: "." would find it
    let inCwd: boolean;
    try {
      inCwd = await runcShimAvailable(none, { PATH: ".:" }, "/nonexistent/self");
    } finally {
      process.chdir(cwd);
    }
    assert.equal(inCwd, false, "'.' is never searched");
    await mkdir(join(s.state, "containerd-shim-runc-v2"));
    assert.equal(await runcShimAvailable(none, { PATH: s.state }, "/nonexistent/self"), false, "a directory");
  });
  it("resolveDefaultRuntime() falls back without a runc shim", async () => {
    const r = await resolveDefaultRuntime(undefined, { runtimes: {}, defaultRuntime: RUNC_RUNTIME }, {
      PATH: "/nonexistent",
    });
    // process.execPath's directory could hold a runc shim only on exotic setups.
    assert.ok(r.runtime === FAKE_RUNTIME || r.runtime === RUNC_RUNTIME);
    assert.equal(r.fellBack, r.runtime === FAKE_RUNTIME);
  });
});
