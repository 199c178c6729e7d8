import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import { EnvelopeSchema } from "../gen/containerd/types/event_pb.ts";
import { TaskExitSchema } from "../gen/containerd/events/task_pb.ts";
import { OptionsSchema, ProcessDetailsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import { ForwardRequestSchema } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import {
  CreateTaskRequestSchema,
  ExecProcessRequestSchema,
  PidsResponseSchema,
  StateResponseSchema,
  StatsResponseSchema,
  UpdateTaskRequestSchema,
} from "../gen/containerd/task/v2/task_pb.ts";
import { Status } from "../gen/containerd/v1/types/task_pb.ts";
import { messageFromJson, messageToJson } from "./json.ts";
import { packAny } from "./registry.ts";

const SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
const utf8 = (s: string) => new TextEncoder().encode(s);

describe("messageFromJson()", () => {
  it("messageFromJson() keeps a bare @type bare on the wire", () => {
    const req = messageFromJson(CreateTaskRequestSchema, {
      id: "c1",
      bundle: "/b",
      options: { "@type": "containerd.runc.v1.Options", root: "/run/runc", systemdCgroup: true },
    });
    assert.equal(req.options?.typeUrl, "containerd.runc.v1.Options");
    const expected = packAny(
      OptionsSchema,
      create(OptionsSchema, { root: "/run/runc", systemdCgroup: true }),
    );
    assert.deepEqual(req.options?.value, expected.value);
  });

  it("messageFromJson() keeps a type.googleapis.com/ @type exactly as written", () => {
    const req = messageFromJson(CreateTaskRequestSchema, {
      options: { "@type": "type.googleapis.com/containerd.runc.v1.Options", root: "/r" },
    });
    assert.equal(req.options?.typeUrl, "type.googleapis.com/containerd.runc.v1.Options");
  });

  it("messageFromJson() sends a JSON-valued Any of a non-protobuf type as UTF-8 JSON", () => {
    const req = messageFromJson(ExecProcessRequestSchema, {
      id: "c1",
      exec_id: "e1",
      spec: { "@type": SPEC_URL, value: { args: ["true"], cwd: "/" } },
    });
    assert.equal(req.execId, "e1");
    assert.equal(req.spec?.typeUrl, SPEC_URL);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(req.spec?.value)), { args: ["true"], cwd: "/" });
  });

  it("messageFromJson() decodes a base64 string value of a non-protobuf Any to bytes", () => {
    const res = messageFromJson(StatsResponseSchema, {
      stats: { "@type": "io.containerd.cgroups.v1.Metrics", value: "AQID" },
    });
    assert.deepEqual(res.stats?.value, new Uint8Array([1, 2, 3]));
  });

  it("messageFromJson() fixes Anys inside repeated fields and inside known Anys", () => {
    const pids = messageFromJson(PidsResponseSchema, {
      processes: [
        { pid: 1 },
        { pid: 2, info: { "@type": "containerd.runc.v1.ProcessDetails", execId: "e1" } },
        { pid: 3, info: { "@type": "x.y/Opaque", value: { a: 1 } } },
      ],
    });
    assert.equal(pids.processes[1].info?.typeUrl, "containerd.runc.v1.ProcessDetails");
    assert.equal(fromBinary(ProcessDetailsSchema, pids.processes[1].info!.value).execId, "e1");
    assert.equal(pids.processes[2].info?.typeUrl, "x.y/Opaque");

    const any = messageFromJson(AnySchema, {
      "@type": "containerd.types.Envelope",
      topic: "/tasks/exit",
      event: { "@type": "containerd.events.TaskExit", containerId: "c1" },
    }) as Any;
    assert.equal(any.typeUrl, "containerd.types.Envelope");
    const env = fromBinary(EnvelopeSchema, any.value);
    assert.equal(env.event?.typeUrl, "containerd.events.TaskExit");
  });

  it("messageFromJson() of undefined or null is the empty message", () => {
    for (const json of [undefined, null]) {
      assert.equal(
        toBinary(CreateTaskRequestSchema, messageFromJson(CreateTaskRequestSchema, json)).length,
        0,
      );
    }
  });

  const bad: Array<[string, JsonValue]> = [
    ["an unknown field", { nope: 1 }],
    ["a wrongly typed field", { id: 5 }],
    ["an Any without @type", { options: { root: "/r" } }],
  ];
  for (const [name, json] of bad) {
    it(`messageFromJson() rejects ${name}`, () => {
      assert.throws(() => messageFromJson(CreateTaskRequestSchema, json));
    });
  }
});

describe("messageToJson()", () => {
  it("messageToJson() leaves out implicit defaults and prints the Go zero time", () => {
    const json = messageToJson(
      StateResponseSchema,
      create(StateResponseSchema, {
        id: "c1",
        pid: 42,
        status: Status.RUNNING,
        exitedAt: { seconds: -62135596800n },
      }),
    );
    assert.deepEqual(json, { id: "c1", pid: 42, status: "RUNNING", exitedAt: "0001-01-01T00:00:00Z" });
  });

  it("messageToJson() prints a JSON-valued non-protobuf Any as its document", () => {
    const req = create(ExecProcessRequestSchema, {
      id: "c1",
      spec: { typeUrl: SPEC_URL, value: utf8('{"args":["sh"]}') },
    });
    assert.deepEqual(messageToJson(ExecProcessRequestSchema, req), {
      id: "c1",
      spec: { "@type": SPEC_URL, value: { args: ["sh"] } },
    });
  });

  it("messageToJson() prints a binary non-protobuf Any as base64 and does not touch the input", () => {
    const res = create(StatsResponseSchema, {
      stats: { typeUrl: "io.containerd.cgroups.v1.Metrics", value: new Uint8Array([0x0a, 0x00, 0xff]) },
    });
    assert.deepEqual(messageToJson(StatsResponseSchema, res), {
      stats: { "@type": "io.containerd.cgroups.v1.Metrics", value: "CgD/" },
    });
    assert.equal(res.stats?.typeUrl, "io.containerd.cgroups.v1.Metrics");
  });

  it("messageToJson() prints known Anys in lists, maps and nested Anys", () => {
    const inner = packAny(TaskExitSchema, create(TaskExitSchema, { containerId: "c1", exitStatus: 137 }));
    const opaque = { typeUrl: "x.y/Opaque", value: utf8("[1]") };
    const env = create(EnvelopeSchema, { topic: "/tasks/exit", event: opaque });
    const fwd = create(ForwardRequestSchema, { envelope: { topic: "/tasks/exit", event: inner } });
    assert.deepEqual(messageToJson(ForwardRequestSchema, fwd), {
      envelope: {
        topic: "/tasks/exit",
        event: { "@type": "containerd.events.TaskExit", containerId: "c1", exitStatus: 137 },
      },
    });
    const pids = create(PidsResponseSchema, {
      processes: [{ pid: 1 }, {
        pid: 2,
        info: packAny(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId: "e1" })),
      }],
    });
    assert.deepEqual(messageToJson(PidsResponseSchema, pids), {
      processes: [{ pid: 1 }, {
        pid: 2,
        info: { "@type": "containerd.runc.v1.ProcessDetails", execId: "e1" },
      }],
    });
    const nested = packAny(EnvelopeSchema, env);
    assert.deepEqual(messageToJson(AnySchema, nested), {
      "@type": "containerd.types.Envelope",
      topic: "/tasks/exit",
      event: { "@type": "x.y/Opaque", value: [1] },
    });
    assert.deepEqual(messageToJson(AnySchema, create(AnySchema, opaque)), {
      "@type": "x.y/Opaque",
      value: [1],
    });
  });

  it("messageToJson() and messageFromJson() round-trip requests with maps and opaque Anys", () => {
    const json = {
      id: "c1",
      resources: {
        "@type": "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        value: { cpu: { shares: 2 } },
      },
      annotations: { a: "1", b: "2" },
    };
    const msg = messageFromJson(UpdateTaskRequestSchema, json);
    assert.deepEqual(messageToJson(UpdateTaskRequestSchema, msg), json);
  });
});
