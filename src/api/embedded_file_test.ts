import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  file_google_protobuf_any as wktAnyFile,
  file_google_protobuf_empty as wktEmptyFile,
  file_google_protobuf_timestamp as wktTimestampFile,
  FileDescriptorProtoSchema,
  TimestampSchema as WktTimestampSchema,
} from "@bufbuild/protobuf/wkt";
import { file_google_protobuf_any } from "../gen/google/protobuf/any_pb.ts";
import { file_google_protobuf_empty } from "../gen/google/protobuf/empty_pb.ts";
import { file_google_protobuf_timestamp, TimestampSchema } from "../gen/google/protobuf/timestamp_pb.ts";
import {
  CreateTaskRequestSchema,
  file_containerd_task_v2_task,
  Task,
} from "../gen/containerd/task/v2/task_pb.ts";
import { enumDesc, m } from "./embedded_file.ts";
import { file_containerd_v1_types_task } from "../gen/containerd/v1/types/task_pb.ts";

describe("embedded descriptors (src/gen, written by scripts/gen_embed.ts)", () => {
  // protobuf-es decodes its own copies of these files from base64 with fileDesc(); ours are literals.
  const pairs = [
    ["any", file_google_protobuf_any, wktAnyFile],
    ["empty", file_google_protobuf_empty, wktEmptyFile],
    ["timestamp", file_google_protobuf_timestamp, wktTimestampFile],
  ] as const;
  for (const [name, ours, theirs] of pairs) {
    it(`hydrate google/protobuf/${name}.proto to the descriptor protobuf-es decodes from base64`, () => {
      assert.ok(equals(FileDescriptorProtoSchema, ours.proto, theirs.proto));
      assert.deepEqual(ours.messages.map((d) => d.typeName), theirs.messages.map((d) => d.typeName));
      assert.deepEqual(
        ours.messages.flatMap((d) => d.fields.map((f) => [f.number, f.name, f.jsonName, f.fieldKind])),
        theirs.messages.flatMap((d) => d.fields.map((f) => [f.number, f.name, f.jsonName, f.fieldKind])),
      );
    });
  }

  it("encode exactly as protobuf-es's own well-known types do", () => {
    const ts = { seconds: 1_700_000_000n, nanos: 5 };
    const ours = toBinary(TimestampSchema, create(TimestampSchema, ts));
    assert.deepEqual(ours, toBinary(WktTimestampSchema, create(WktTimestampSchema, ts)));
    assert.equal(fromBinary(WktTimestampSchema, ours).nanos, 5);
  });

  it("resolve imports: a task v2 message refers to the Timestamp, Any and Mount files it imports", () => {
    assert.deepEqual(file_containerd_task_v2_task.dependencies.map((f) => f.name).sort(), [
      "containerd/types/mount",
      "containerd/v1/types/task",
      "google/protobuf/any",
      "google/protobuf/empty",
      "google/protobuf/timestamp",
    ]);
    const rootfs = CreateTaskRequestSchema.fields.find((f) => f.name === "rootfs")!;
    assert.equal(
      rootfs.fieldKind === "list" && rootfs.listKind === "message" && rootfs.message.typeName,
      "containerd.types.Mount",
    );
    assert.equal(Task.methods.find((x) => x.name === "Create")?.input, CreateTaskRequestSchema);
    const req = create(CreateTaskRequestSchema, { id: "c1", rootfs: [{ type: "bind", source: "/s" }] });
    assert.equal(
      fromBinary(CreateTaskRequestSchema, toBinary(CreateTaskRequestSchema, req)).rootfs[0].source,
      "/s",
    );
  });

  it("look enums up by path as protobuf-es does", () => {
    assert.equal(enumDesc(file_containerd_v1_types_task, 0).typeName, "containerd.v1.types.Status");
  });

  it("m() builds a message with proto2 defaults on its prototype and own empty lists", () => {
    const f = m("google.protobuf.FieldDescriptorProto", { name: "x", number: 1 });
    assert.equal(f.label, 1);
    assert.equal(Object.hasOwn(f, "label"), false);
    assert.equal(Object.hasOwn(f, "oneofIndex"), false);
    const d = m("google.protobuf.DescriptorProto", { name: "M" });
    assert.deepEqual(d.field, []);
    assert.throws(() => m("google.protobuf.Nope", {}), /unknown type google\.protobuf\.Nope/);
  });
});
