import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { TaskCreateSchema, TaskExitSchema } from "../gen/containerd/events/task_pb.ts";
import { EnvelopeSchema } from "../gen/containerd/types/event_pb.ts";
import { isInvalidArgument } from "../errors.ts";
import {
  decodeEnvelope,
  decodeEventValue,
  encodeTaskEvent,
  matchesEventFilter,
  TOPIC_SCHEMAS,
  topicOfTypeUrl,
} from "./topics.ts";

const goZero = create(TimestampSchema, { seconds: -62135596800n, nanos: 0 });
const t1 = create(TimestampSchema, { seconds: 1_700_000_000n, nanos: 5_000_000 });

describe("decodeEventValue()", () => {
  const cases: { name: string; typeUrl: string; value: Uint8Array; want: Record<string, unknown> }[] = [
    {
      name: "decodes TaskExit with a real exit time",
      typeUrl: "containerd.events.TaskExit",
      value: toBinary(
        TaskExitSchema,
        create(TaskExitSchema, { containerId: "c1", id: "c1", pid: 42, exitStatus: 3, exitedAt: t1 }),
      ),
      want: { containerId: "c1", id: "c1", pid: 42, exitStatus: 3, exitedAt: new Date(1_700_000_000_005) },
    },
    {
      name: "maps Go zero time to undefined",
      typeUrl: "containerd.events.TaskExit",
      value: toBinary(
        TaskExitSchema,
        create(TaskExitSchema, { containerId: "c1", id: "e1", pid: 7, exitedAt: goZero }),
      ),
      want: { containerId: "c1", id: "e1", pid: 7, exitStatus: 0, exitedAt: undefined },
    },
    {
      name: "accepts type.googleapis.com/ prefixed URLs",
      typeUrl: "type.googleapis.com/containerd.events.TaskCreate",
      value: toBinary(
        TaskCreateSchema,
        create(TaskCreateSchema, {
          containerId: "c2",
          bundle: "/b",
          rootfs: [{ type: "bind", source: "/r", options: ["rbind"] }],
          io: { stdout: "/o" },
          pid: 9,
        }),
      ),
      want: {
        containerId: "c2",
        bundle: "/b",
        rootfs: [{ type: "bind", source: "/r", target: "", options: ["rbind"] }],
        io: { stdin: "", stdout: "/o", stderr: "", terminal: false },
        checkpoint: "",
        pid: 9,
      },
    },
    {
      name: "gives {} for unknown types",
      typeUrl: "example.Unknown",
      value: new Uint8Array([1, 2]),
      want: {},
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.deepEqual(decodeEventValue(tc.typeUrl, tc.value), tc.want));
  }

  it("rejects bytes that do not parse with InvalidArgument", () => {
    assert.throws(
      () => decodeEventValue("containerd.events.TaskExit", new Uint8Array([0xff, 0xff])),
      isInvalidArgument,
    );
  });
});

describe("decodeEnvelope()", () => {
  it("fills topic, namespace, timestamp and containerId", () => {
    const env = create(EnvelopeSchema, {
      timestamp: t1,
      namespace: "ns1",
      topic: "/tasks/exit",
      event: encodeTaskEvent("/tasks/exit", { containerId: "c9", id: "c9", pid: 1, exitStatus: 137 }),
    });
    const ev = decodeEnvelope(env, true);
    assert.equal(ev.topic, "/tasks/exit");
    assert.equal(ev.namespace, "ns1");
    assert.equal(ev.containerId, "c9");
    assert.equal(ev.typeUrl, "containerd.events.TaskExit");
    assert.equal(ev.event.exitStatus, 137);
    assert.equal(ev.synthesized, true);
    assert.equal(ev.timestamp.getTime(), 1_700_000_000_005);
  });
});

describe("topicOfTypeUrl()", () => {
  it("inverts TOPIC_SCHEMAS for every topic", () => {
    for (const [topic, schema] of TOPIC_SCHEMAS) assert.equal(topicOfTypeUrl(schema.typeName), topic);
  });
  it("returns undefined for other types", () =>
    assert.equal(topicOfTypeUrl("containerd.runc.v1.Options"), undefined));
});

describe("encodeTaskEvent()", () => {
  it("rejects an unknown topic", () => assert.throws(() => encodeTaskEvent("/nope", {}), isInvalidArgument));
});

describe("matchesEventFilter()", () => {
  const ev = { namespace: "a", topic: "/tasks/exit" };
  const cases: [string, Parameters<typeof matchesEventFilter>[1], boolean][] = [
    ["empty filter", {}, true],
    ["same namespace", { namespace: "a" }, true],
    ["other namespace", { namespace: "b" }, false],
    ["exact topic", { topics: ["/tasks/exit"] }, true],
    ["other topic", { topics: ["/tasks/start"] }, false],
    ["prefix pattern", { topics: ["/tasks/*"] }, true],
    ["empty topic list", { topics: [] }, true],
  ];
  for (const [name, filter, want] of cases) {
    it(`matchesEventFilter() ${name}`, () => assert.equal(matchesEventFilter(ev, filter), want));
  }
});
