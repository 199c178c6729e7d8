import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FailedPreconditionError } from "../../errors.ts";
import { deletePrecondition } from "./delete.ts";

describe("deletePrecondition()", () => {
  const cases: Array<[string, boolean, boolean]> = [
    ["running", false, true],
    ["paused", false, true],
    ["pausing", false, true],
    ["running", true, false],
    ["created", false, false],
    ["stopped", false, false],
    ["unknown", false, false],
  ];
  for (const [status, force, refused] of cases) {
    it(`deletePrecondition() ${refused ? "refuses" : "allows"} a ${status} container${force ? " with --force" : ""}`, () => {
      const e = deletePrecondition("c1", status, force);
      assert.equal(e !== undefined, refused);
      if (e) {
        assert.ok(e instanceof FailedPreconditionError);
        assert.equal(
          e.message,
          `delete "c1": container is ${status}: stop it first (shimkit kill c1) or use --force`,
        );
      }
    });
  }
});
