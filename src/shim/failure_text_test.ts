import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describeShimOutput, splitShimOutput } from "./failure_text.ts";

const ERR = "io.containerd.runc.v2: open /s/ns/c1/runtime: no such file or directory";
const INFO = 'time="2026-11-25T01:37:33Z" level=info msg="starting signal loop" namespace=ns pid=31671';
const WARN =
  'time="2026-11-25T01:37:33Z" level=warning msg="failed to read init pid file" error="open init.pid"';

describe("splitShimOutput()", () => {
  it("splitShimOutput() finds the error whether the log line comes before it or is glued after it", () => {
    // What CI saw: the shim's goroutine logged after the error, which has no trailing newline.
    assert.deepEqual(splitShimOutput(ERR + INFO), { error: ERR, logs: [] });
    assert.deepEqual(splitShimOutput(`${INFO}\n${ERR}`), { error: ERR, logs: [] });
    // Our own logfmt writes the time unquoted.
    assert.deepEqual(splitShimOutput(`time=2026-11-25T01:37:33.100Z level=info msg=up\n${ERR}`), {
      error: ERR,
      logs: [],
    });
  });
  it("splitShimOutput() keeps warning-or-worse records in order and drops trace/debug/info", () => {
    const debug = 'time="t" level=debug msg=x';
    const fatal = 'time="t" level=fatal msg="boom"';
    assert.deepEqual(splitShimOutput(`${debug}\n${WARN}\n${INFO}\n${ERR}${fatal}\n`), {
      error: ERR,
      logs: [WARN, fatal],
    });
  });
  it("splitShimOutput() leaves text that is not a logrus record alone, across lines", () => {
    assert.deepEqual(splitShimOutput("  first line\n\n second line level=info  \n"), {
      error: "first line\nsecond line level=info",
      logs: [],
    });
    assert.deepEqual(splitShimOutput(""), { error: "", logs: [] });
  });
});

describe("describeShimOutput()", () => {
  it("describeShimOutput() puts the error first and kept records in brackets", () => {
    assert.equal(describeShimOutput(ERR + INFO), ERR);
    assert.equal(describeShimOutput(`${WARN}\n${ERR}`), `${ERR} [shim log: ${WARN}]`);
  });
  it("describeShimOutput() falls back to the records when the shim only logged (logrus.Fatal)", () => {
    const fatal = 'time="t" level=fatal msg="no such runtime"';
    assert.equal(describeShimOutput(`${INFO}\n${fatal}\n`), fatal);
    assert.equal(describeShimOutput(INFO), "");
  });
});
