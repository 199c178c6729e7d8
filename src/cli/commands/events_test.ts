import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { TaskEvent } from "../../events/topics.ts";
import { formatEventJson, formatEventLine } from "./events.ts";

const exitEvent: TaskEvent = {
  topic: "/tasks/exit",
  namespace: "default",
  timestamp: new Date("2026-01-02T03:04:05.000Z"),
  containerId: "c1",
  event: {
    containerId: "c1",
    id: "c1",
    pid: 42,
    exitStatus: 143,
    exitedAt: new Date("2026-01-02T03:04:05.500Z"),
  },
  typeUrl: "containerd.events.TaskExit",
};

describe("formatEventLine()", () => {
  it("formatEventLine() prints time, topic, namespace, container and the other fields", () => {
    assert.equal(
      formatEventLine(exitEvent),
      '2026-01-02T03:04:05.000Z /tasks/exit default c1 {"id":"c1","pid":42,"exitStatus":143,"exitedAt":"2026-01-02T03:04:05.500Z"}\n',
    );
  });
  it("formatEventLine() marks synthesized events and shows a missing container as -", () => {
    const line = formatEventLine({ ...exitEvent, containerId: "", event: {}, synthesized: true });
    assert.equal(line, "2026-01-02T03:04:05.000Z /tasks/exit default - (synthesized)\n");
  });
});

describe("formatEventJson()", () => {
  it("formatEventJson() prints one parseable line", () => {
    const line = formatEventJson(exitEvent);
    assert.ok(line.endsWith("\n"));
    assert.equal(line.indexOf("\n"), line.length - 1);
    const obj = JSON.parse(line);
    assert.equal(obj.topic, "/tasks/exit");
    assert.equal(obj.containerId, "c1");
    assert.equal(obj.event.exitStatus, 143);
    assert.equal(obj.timestamp, "2026-01-02T03:04:05.000Z");
    assert.equal(obj.synthesized, undefined);
  });
});
