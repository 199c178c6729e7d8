import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { denoResolutionFlags, selfCommand, selfExecutable } from "./self.ts";

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

describe("denoResolutionFlags()", () => {
  const cases: Array<[string, string[], string[]]> = [
    ["finds nothing on a plain command line", ["deno", "run", "-A", "/w/m.ts", "ps"], []],
    [
      "keeps --config with a separate value, made absolute",
      ["deno", "run", "-A", "--config", "cfg/deno.json", "/w/m.ts"],
      ["--config=/cwd/cfg/deno.json"],
    ],
    ["keeps --config=value", ["deno", "run", "--config=/x/deno.json", "/w/m.ts"], ["--config=/x/deno.json"]],
    ["spells -c as --config", ["deno", "run", "-c", "/x/deno.json", "/w/m.ts"], ["--config=/x/deno.json"]],
    [
      "keeps --import-map URLs as they are and --no-config",
      ["deno", "run", "--import-map=https://h/m.json", "--no-config", "/w/m.ts"],
      ["--import-map=https://h/m.json", "--no-config"],
    ],
    [
      "ignores the script's own --config (shimkit's flag)",
      ["deno", "run", "-A", "/w/m.ts", "--config", "/etc/shimkit/config.toml"],
      [],
    ],
    ["finds the script given relative to the cwd", ["deno", "run", "-c", "d.json", "../w/m.ts"], [
      "--config=/cwd/d.json",
    ]],
    ["finds the script given as a file URL", ["deno", "run", "-c", "/d.json", "file:///w/m.ts"], [
      "--config=/d.json",
    ]],
    ["gives nothing when the script is not on the line", ["deno", "test", "-c", "/d.json"], []],
  ];
  for (const [name, argv, want] of cases) {
    it(`denoResolutionFlags() ${name}`, () =>
      assert.deepEqual(denoResolutionFlags(argv, "/w/m.ts", "/cwd"), want));
  }
});
