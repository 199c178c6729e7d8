import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatState } from "./state.ts";

describe("formatState()", () => {
  it("formatState() shows the exit only once stopped", () => {
    const base = {
      id: "c1",
      execId: "",
      pid: 42,
      status: "running" as const,
      exitStatus: 0,
      stdin: "",
      stdout: "/f/stdout",
      stderr: "/f/stderr",
      terminal: false,
      bundle: "/s/default/c1",
    };
    const running = formatState(base);
    assert.match(running, /^status\s+running$/m);
    assert.match(running, /^exit status\s+-$/m);
    assert.match(running, /^exec\s+-$/m);
    const stopped = formatState({
      ...base,
      status: "stopped",
      exitStatus: 3,
      exitedAt: new Date("2026-01-01T00:00:00Z"),
    });
    assert.match(stopped, /^exit status\s+3$/m);
    assert.match(stopped, /^exited at\s+2026-01-01T00:00:00\.000Z$/m);
  });
});
