import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../errors.ts";
import { UsageError } from "../exit_codes.ts";
import { type ExecArgs, parseExecArgs } from "./exec.ts";

describe("parseExecArgs()", () => {
  it("parseExecArgs() reads ids, flags and the command", () => {
    const a = parseExecArgs([
      "-t",
      "-i",
      "--cwd",
      "/tmp",
      "--env",
      "A=1",
      "c1",
      "e1",
      "--",
      "sh",
      "-c",
      "ls",
    ]) as ExecArgs;
    assert.deepEqual(a, {
      id: "c1",
      execId: "e1",
      args: ["sh", "-c", "ls"],
      tty: true,
      interactive: true,
      detach: false,
      cwd: "/tmp",
      env: ["A=1"],
      user: undefined,
    });
  });
  it("parseExecArgs() reads -u UID[:GID] and rejects a name", () => {
    assert.deepEqual((parseExecArgs(["-u", "33:44", "c1", "e1", "id"]) as ExecArgs).user, {
      uid: 33,
      gid: 44,
    });
    assert.throws(() => parseExecArgs(["--user", "www-data", "c1", "e1", "id"]), InvalidArgumentError);
  });
  it("parseExecArgs() answers help", () => assert.equal(parseExecArgs(["-h"]), "help"));
  const usage: Array<[string, string[]]> = [
    ["a missing exec id", ["c1"]],
    ["a missing command", ["c1", "e1"]],
    ["-d with -i", ["-d", "-i", "c1", "e1", "--", "true"]],
    ["an unknown flag", ["--nope", "c1", "e1", "--", "true"]],
  ];
  for (const [name, argv] of usage) {
    it(`parseExecArgs() rejects ${name} as a usage error`, () =>
      assert.throws(() => parseExecArgs(argv), UsageError));
  }
  it("parseExecArgs() says EXEC_ID is missing when -- follows the container id", () => {
    assert.throws(() => parseExecArgs(["web", "--", "ls", "/"]), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(
        (e as Error).message,
        /^exec: missing EXEC_ID: "--" comes right after container ID "web"\n/,
      );
      assert.match((e as Error).message, /e\.g\. shimkit exec web e1 -- ls \/\)$/);
      return true;
    });
    // `--` before the ids only ends the flags.
    assert.deepEqual((parseExecArgs(["-t", "--", "c1", "e1", "true"]) as ExecArgs).args, ["true"]);
  });
  it("parseExecArgs() rejects a bad exec id as an invalid argument", () => {
    assert.throws(() => parseExecArgs(["c1", "../e", "--", "true"]), (e: unknown) => {
      return e instanceof InvalidArgumentError && !(e instanceof UsageError);
    });
  });
});
