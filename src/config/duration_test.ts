import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";
import { InvalidArgumentError } from "../errors.ts";

describe("parseDuration()", () => {
  const good: Array<[string, number]> = [
    ["0", 0],
    ["0s", 0],
    ["5s", 5000],
    ["250ms", 250],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    [".5s", 500],
    ["1500us", 1.5],
    ["2µs", 0.002],
    ["1000000ns", 1],
    ["1h2m3s4ms", 3_723_004],
  ];
  for (const [text, ms] of good) {
    it(`parses "${text}" as ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }
  const bad = ["", "5", "5x", "s", "-5s", "5 s", "1m 30s", "1.2.3s", "5S", " 5s"];
  for (const text of bad) {
    it(`rejects "${text}"`, () => {
      assert.throws(() => parseDuration(text), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError);
        assert.equal(e.message, `invalid duration "${text}"`);
        return true;
      });
    });
  }
});

describe("formatDuration()", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [5000, "5s"],
    [3000, "3s"],
    [250, "250ms"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [1500, "1.5s"],
    [0.5, "500000ns"],
  ];
  for (const [ms, text] of cases) {
    it(`formats ${ms} ms as "${text}" and reads it back`, () => {
      assert.equal(formatDuration(ms), text);
      assert.equal(parseDuration(text), ms);
    });
  }
});
