import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack, AnySchema } from "@bufbuild/protobuf/wkt";
import { NotFoundError } from "../errors.ts";
import { OptionsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import { TaskExitSchema } from "../gen/containerd/events/task_pb.ts";
import { BootstrapParamsSchema, LogLevel } from "../gen/containerd/runtime/bootstrap/v1/bootstrap_pb.ts";
import {
  ConnectResponseSchema,
  DeleteResponseSchema,
  StateResponseSchema,
} from "../gen/containerd/task/v2/task_pb.ts";
import { Status } from "../gen/containerd/v1/types/task_pb.ts";
import {
  bareTypeUrl,
  isKnownTypeUrl,
  KNOWN_SERVICES,
  packAny,
  resolveMethod,
  typeNameOfUrl,
  typeRegistry,
  unpackAny,
} from "./registry.ts";

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((h) => parseInt(h, 16)));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** Go's time.Time{} as a protobuf Timestamp (protocol-facts.md §4). */
const GO_ZERO_SECONDS = -62135596800n;

describe("KNOWN_SERVICES", () => {
  const cases: Array<[string, number, string[]]> = [
    ["containerd.task.v2.Task", 17, ["Connect", "Shutdown", "State", "Create", "Wait"]],
    ["containerd.task.v3.Task", 17, ["Connect", "Shutdown", "Stats"]],
    ["containerd.services.events.ttrpc.v1.Events", 1, ["Forward"]],
    ["containerd.runtime.linux.shim.v1.Shim", 16, ["ShimInfo", "DeleteProcess", "ListPids"]],
  ];
  for (const [name, count, some] of cases) {
    it(`KNOWN_SERVICES resolves "${name}" with its ${count} methods`, () => {
      const svc = KNOWN_SERVICES.get(name);
      assert.ok(svc, name);
      assert.equal(svc.typeName, name);
      assert.equal(svc.methods.length, count);
      for (const m of some) assert.ok(svc.methods.some((x) => x.name === m), `${name}/${m}`);
    });
  }

  it("KNOWN_SERVICES holds exactly the four TTRPC services", () => {
    assert.deepEqual([...KNOWN_SERVICES.keys()].sort(), cases.map((c) => c[0]).sort());
  });

  it("KNOWN_SERVICES task v3 has the same wire as v2 (same fields per message)", () => {
    const v2 = KNOWN_SERVICES.get("containerd.task.v2.Task")!;
    const v3 = KNOWN_SERVICES.get("containerd.task.v3.Task")!;
    for (const m2 of v2.methods) {
      const m3 = v3.methods.find((m) => m.name === m2.name)!;
      const shape = (d: typeof m2.input) =>
        d.fields.map((f) => `${f.number}:${f.name}:${f.fieldKind}`).join(",");
      assert.equal(shape(m3.input), shape(m2.input), m2.name);
      assert.equal(shape(m3.output), shape(m2.output), m2.name);
    }
  });
});

describe("resolveMethod()", () => {
  it("resolveMethod() accepts SERVICE/METHOD and SERVICE.METHOD", () => {
    for (const spec of ["containerd.task.v2.Task/Connect", "containerd.task.v2.Task.Connect"]) {
      const r = resolveMethod(spec);
      assert.equal(r.service.typeName, "containerd.task.v2.Task");
      assert.equal(r.method.name, "Connect");
      assert.equal(r.method.input.typeName, "containerd.task.v2.ConnectRequest");
    }
  });

  it("resolveMethod() matches a method name case-insensitively", () => {
    assert.equal(resolveMethod("containerd.runtime.linux.shim.v1.Shim/shiminfo").method.name, "ShimInfo");
  });

  it("resolveMethod() rejects an unknown service, listing the known ones", () => {
    assert.throws(() => resolveMethod("no.such.Service/Do"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.match(e.message, /unknown service "no\.such\.Service"/);
      assert.match(e.message, /containerd\.task\.v2\.Task/);
      return true;
    });
  });

  it("resolveMethod() rejects an unknown method, listing the service's methods", () => {
    assert.throws(() => resolveMethod("containerd.task.v2.Task/Nope"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError);
      assert.match(e.message, /unknown method "Nope" of service "containerd\.task\.v2\.Task"/);
      assert.match(e.message, /Connect, Shutdown|Shutdown/);
      return true;
    });
  });

  it("resolveMethod() rejects text without a method part", () => {
    for (const spec of ["Task", "containerd.task.v2.Task/", "/Connect"]) {
      assert.throws(() => resolveMethod(spec), /want SERVICE\/METHOD/, spec);
    }
  });
});

describe("packAny() / unpackAny()", () => {
  it("packAny() uses the bare type URL and unpackAny() round-trips it", () => {
    const opts = create(OptionsSchema, { root: "/run/runc", binaryName: "runc", systemdCgroup: true });
    const any = packAny(OptionsSchema, opts);
    assert.equal(any.typeUrl, "containerd.runc.v1.Options");
    const back = unpackAny(fromBinary(AnySchema, toBinary(AnySchema, any)));
    assert.ok(back);
    assert.equal(back.$typeName, "containerd.runc.v1.Options");
    assert.deepEqual(back, opts);
  });

  it("unpackAny() accepts a type.googleapis.com/ URL too", () => {
    const any = anyPack(TaskExitSchema, create(TaskExitSchema, { containerId: "c1", exitStatus: 137 }));
    assert.equal(any.typeUrl, "type.googleapis.com/containerd.events.TaskExit");
    const back = unpackAny(any);
    assert.equal(back?.$typeName, "containerd.events.TaskExit");
  });

  it("unpackAny() returns undefined for empty and non-protobuf types", () => {
    assert.equal(unpackAny(create(AnySchema)), undefined);
    const spec = create(AnySchema, {
      typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
      value: new TextEncoder().encode("{}"),
    });
    assert.equal(unpackAny(spec), undefined);
  });

  it("packAny() of containerd.runc.v1.Options matches the legacy start stdin bytes", () => {
    // Any{type_url, value} where value is Options{root}: 0a 1a "containerd.runc.v1.Options" 12 len (3a len root)
    const any = packAny(OptionsSchema, create(OptionsSchema, { root: "/r" }));
    const expected = "0a1a" + toHex(new TextEncoder().encode("containerd.runc.v1.Options")) + "1204" +
      "3a022f72";
    assert.equal(toHex(toBinary(AnySchema, any)), expected);
  });
});

describe("type URL helpers", () => {
  const cases: Array<[string, string, string, boolean]> = [
    ["containerd.runc.v1.Options", "containerd.runc.v1.Options", "containerd.runc.v1.Options", true],
    [
      "type.googleapis.com/containerd.events.TaskOOM",
      "containerd.events.TaskOOM",
      "containerd.events.TaskOOM",
      true,
    ],
    [
      "types.containerd.io/opencontainers/runtime-spec/1/Process",
      "Process",
      "types.containerd.io/opencontainers/runtime-spec/1/Process",
      false,
    ],
    ["google.protobuf.Empty", "google.protobuf.Empty", "google.protobuf.Empty", true],
    ["", "", "", false],
  ];
  for (const [url, name, bare, known] of cases) {
    it(`typeNameOfUrl()/bareTypeUrl()/isKnownTypeUrl() handle "${url}"`, () => {
      assert.equal(typeNameOfUrl(url), name);
      assert.equal(bareTypeUrl(url), bare);
      assert.equal(isKnownTypeUrl(url), known);
    });
  }
});

describe("typeRegistry", () => {
  it("typeRegistry holds every message shimkit defines and the well-known types", () => {
    for (
      const name of [
        "containerd.types.Mount",
        "containerd.types.Envelope",
        "containerd.types.RuntimeInfo",
        "containerd.v1.types.ProcessInfo",
        "containerd.v1.types.Process",
        "containerd.task.v2.CreateTaskRequest",
        "containerd.task.v3.ConnectResponse",
        "containerd.events.TaskCheckpointed",
        "containerd.services.events.ttrpc.v1.ForwardRequest",
        "containerd.services.events.v1.PublishRequest",
        "containerd.runc.v1.CheckpointOptions",
        "containerd.runc.v1.ProcessDetails",
        "containerd.runtime.bootstrap.v1.BootstrapResult",
        "containerd.runtime.linux.shim.v1.ShimInfoResponse",
        "google.protobuf.Any",
        "google.protobuf.Timestamp",
        "google.protobuf.Empty",
      ]
    ) {
      assert.ok(typeRegistry.getMessage(name), name);
    }
    assert.ok(typeRegistry.getEnum("containerd.v1.types.Status"));
    assert.ok(typeRegistry.getEnum("containerd.runtime.bootstrap.v1.LogLevel"));
  });
});

describe("wire bytes from protocol-facts.md", () => {
  it("DeleteResponse 08cc51 108901 1a0b… decodes to pid 10444, status 137", () => {
    const bytes = hex("08cc51 108901 1a0b08a8e096d80610a0e6943d");
    const r = fromBinary(DeleteResponseSchema, bytes);
    assert.equal(r.pid, 10444);
    assert.equal(r.exitStatus, 137);
    assert.equal(r.exitedAt?.seconds, 1795534888n);
    assert.equal(r.exitedAt?.nanos, 128267040);
    assert.equal(toHex(toBinary(DeleteResponseSchema, r)), toHex(bytes));
  });

  it("ConnectResponse payload 08b851 decodes to shim_pid 10424 and encodes back", () => {
    const r = fromBinary(ConnectResponseSchema, hex("08b851"));
    assert.equal(r.shimPid, 10424);
    assert.equal(r.taskPid, 0);
    assert.equal(r.version, "");
    assert.equal(
      toHex(toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { shimPid: 10424 }))),
      "08b851",
    );
  });

  it("StateResponse exited_at 520b0880 92b8c398 feffffff01 decodes to the Go zero time", () => {
    const bytes = hex("1802 2003 520b088092b8c398feffffff01");
    const r = fromBinary(StateResponseSchema, bytes);
    assert.equal(r.status, Status.STOPPED);
    assert.equal(r.pid, 2);
    assert.equal(r.exitedAt?.seconds, GO_ZERO_SECONDS);
    assert.equal(r.exitedAt?.nanos, 0);
    const again = create(StateResponseSchema, {
      status: Status.STOPPED,
      exitedAt: { seconds: GO_ZERO_SECONDS },
    });
    assert.ok(toHex(toBinary(StateResponseSchema, again)).endsWith("520b088092b8c398feffffff01"));
  });

  it("BootstrapParams log_level DEBUG (-4) encodes as a 10-byte varint", () => {
    const b = toBinary(BootstrapParamsSchema, create(BootstrapParamsSchema, { logLevel: LogLevel.DEBUG }));
    assert.equal(toHex(b), "18fcffffffffffffffff01");
    assert.equal(fromBinary(BootstrapParamsSchema, b).logLevel, LogLevel.DEBUG);
  });

  it("BootstrapParams socket_dir is optional: absent stays absent", () => {
    assert.equal(fromBinary(BootstrapParamsSchema, new Uint8Array(0)).socketDir, undefined);
    const b = toBinary(BootstrapParamsSchema, create(BootstrapParamsSchema, { socketDir: "" }));
    assert.equal(toHex(b), "4a00");
  });
});
