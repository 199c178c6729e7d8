import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { selfCommand, selfExecutable } from "./self.ts";

describe("self", () => {
  it("selfExecutable() is the test runner's script or the compiled binary, as an absolute path", () => {
    const self = selfExecutable();
    assert.ok(self.startsWith("/"), self);
    assert.ok(!self.startsWith("/$bunfs/"), self);
  });
  it("selfCommand() re-runs this program: a runtime plus the script, or the binary alone", () => {
    const cmd = selfCommand();
    assert.ok(cmd.file.startsWith("/"), cmd.file);
    if (cmd.args.length > 0) assert.equal(cmd.args.at(-1), selfExecutable());
    else assert.equal(cmd.file, selfExecutable());
  });
});
