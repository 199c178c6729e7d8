import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  formatSignal,
  INTERRUPT_WINDOW_MS,
  nextForward,
  parseSignal,
  signalOfExitStatus,
} from "./signals.ts";

describe("parseSignal()", () => {
  const cases: Array<[string, number]> = [
    ["SIGTERM", 15],
    ["TERM", 15],
    ["term", 15],
    ["15", 15],
    [" SIGKILL ", 9],
    ["9", 9],
    ["SIGHUP", 1],
    ["int", 2],
    ["SIGQUIT", 3],
    ["SIGUSR1", 10],
    ["USR2", 12],
    ["SIGCHLD", 17],
    ["SIGCLD", 17],
    ["SIGIOT", 6],
    ["SIGABRT", 6],
    ["SIGCONT", 18],
    ["SIGSTOP", 19],
    ["SIGWINCH", 28],
    ["SIGSYS", 31],
    ["SIGRTMIN", 34],
    ["SIGRTMIN+3", 37],
    ["RTMAX-1", 63],
    ["SIGRTMAX", 64],
    ["64", 64],
  ];
  for (const [input, want] of cases) {
    it(`parseSignal() reads "${input}" as ${want}`, () => assert.equal(parseSignal(input), want));
  }

  const bad = ["", "0", "65", "-1", "SIGFOO", "SIG", "RTMIN+31", "RTMAX+1", "RTMIN-1", "1.5", "TERM15"];
  for (const input of bad) {
    it(`parseSignal() rejects "${input}" as invalid argument`, () => {
      assert.throws(() => parseSignal(input), InvalidArgumentError);
    });
  }
});

describe("formatSignal()", () => {
  const cases: Array<[number, string]> = [
    [15, "SIGTERM"],
    [9, "SIGKILL"],
    [6, "SIGABRT"],
    [17, "SIGCHLD"],
    [29, "SIGIO"],
    [34, "SIGRTMIN"],
    [36, "SIGRTMIN+2"],
    [64, "SIGRTMAX"],
    [32, "32"],
  ];
  for (const [input, want] of cases) {
    it(`formatSignal() names ${input} "${want}"`, () => assert.equal(formatSignal(input), want));
  }
  it("formatSignal() round-trips through parseSignal() for 1-31 and 34-64", () => {
    for (let n = 1; n <= 64; n++) {
      if (n === 32 || n === 33) continue;
      assert.equal(parseSignal(formatSignal(n)), n);
    }
  });
});

describe("signalOfExitStatus()", () => {
  const cases: Array<[number, number | undefined]> = [[137, 9], [143, 15], [129, 1], [0, undefined], [
    3,
    undefined,
  ], [
    128,
    undefined,
  ], [255, undefined]];
  for (const [input, want] of cases) {
    it(`signalOfExitStatus() maps ${input} to ${want}`, () => assert.equal(signalOfExitStatus(input), want));
  }
});

describe("nextForward()", () => {
  it("nextForward() forwards every signal as it came, and SIGINT too until the third within the window", () => {
    const recent: number[] = [];
    assert.deepEqual(nextForward(recent, 15, 0), { send: 15, stage: "forward" });
    assert.deepEqual(nextForward(recent, 2, 0), { send: 2, stage: "forward" });
    assert.deepEqual(nextForward(recent, 1, 10), { send: 1, stage: "forward" }, "other signals do not count");
    assert.deepEqual(nextForward(recent, 2, 100), { send: 2, stage: "warn" });
    assert.deepEqual(nextForward(recent, 2, 200), { send: 9, stage: "kill" });
    assert.deepEqual(nextForward(recent, 2, 300), { send: 2, stage: "forward" }, "counting starts over");
  });
  it("nextForward() forgets SIGINTs older than the window", () => {
    const recent: number[] = [];
    nextForward(recent, 2, 0);
    assert.equal(nextForward(recent, 2, INTERRUPT_WINDOW_MS + 1).stage, "forward");
    assert.equal(nextForward(recent, 2, INTERRUPT_WINDOW_MS + 2).stage, "warn");
    assert.equal(nextForward(recent, 2, 3 * INTERRUPT_WINDOW_MS).stage, "forward");
  });
});
