import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isInvalidArgument } from "../errors.ts";
import { normalizeStdio, statusName } from "./client.ts";

describe("normalizeStdio()", () => {
  const cases: [string, Parameters<typeof normalizeStdio>[0], ReturnType<typeof normalizeStdio>][] = [
    ["leaves empty stdio empty", {}, { stdin: "", stdout: "", stderr: "", terminal: false }],
    [
      "copies a file:// stdout to the missing stderr (1.6 crashes otherwise)",
      { stdout: "file:///o" },
      { stdin: "", stdout: "file:///o", stderr: "file:///o", terminal: false },
    ],
    [
      "copies a binary:// stderr to the missing stdout",
      { stderr: "binary:///log?x=1" },
      { stdin: "", stdout: "binary:///log?x=1", stderr: "binary:///log?x=1", terminal: false },
    ],
    [
      "leaves a lone fifo stdout alone",
      { stdout: "/run/fifo/out" },
      { stdin: "", stdout: "/run/fifo/out", stderr: "", terminal: false },
    ],
    [
      "keeps both when both are set",
      { stdin: "/i", stdout: "file:///o", stderr: "file:///e" },
      { stdin: "/i", stdout: "file:///o", stderr: "file:///e", terminal: false },
    ],
    [
      "keeps stderr empty with a terminal",
      { stdout: "file:///o", terminal: true },
      { stdin: "", stdout: "file:///o", stderr: "", terminal: true },
    ],
  ];
  for (const [name, input, want] of cases) {
    it(`normalizeStdio() ${name}`, () => assert.deepEqual(normalizeStdio(input), want));
  }
  it("normalizeStdio() rejects a stderr with a terminal", () => {
    assert.throws(() => normalizeStdio({ stderr: "/e", terminal: true }), isInvalidArgument);
  });
});

describe("statusName()", () => {
  const cases: [number, string][] = [
    [0, "unknown"],
    [1, "created"],
    [2, "running"],
    [3, "stopped"],
    [4, "paused"],
    [5, "pausing"],
    [9, "unknown"],
  ];
  for (const [n, want] of cases) it(`statusName(${n}) is ${want}`, () => assert.equal(statusName(n), want));
});
