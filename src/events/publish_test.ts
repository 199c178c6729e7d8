import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { isInvalidArgument } from "../errors.ts";
import { nullLogger } from "../log/logger.ts";
import { main } from "../cli/commands/publish.ts";
import type { CommandContext } from "../cli/context.ts";
import { isUsageError } from "../cli/exit_codes.ts";
import { decodePublishInput, journalEventPublisher, journalPathForAddress, publishEvent } from "./publish.ts";
import { journalRecordToEvent, parseJournalLine } from "./journal.ts";
import { encodeTaskEvent } from "./topics.ts";

const exitAny = encodeTaskEvent("/tasks/exit", { containerId: "c1", id: "c1", pid: 7, exitStatus: 1 });
const anyBytes = toBinary(AnySchema, create(AnySchema, exitAny));

describe("decodePublishInput()", () => {
  it("decodes the Any a shim writes on stdin", () =>
    assert.deepEqual(decodePublishInput(anyBytes), { typeUrl: exitAny.typeUrl, value: exitAny.value }));
  const bad: [string, Uint8Array][] = [
    ["empty stdin", new Uint8Array()],
    ["bytes that are no protobuf", new Uint8Array([0xff, 0xff, 0xff])],
    ["an Any without a type url", toBinary(AnySchema, create(AnySchema, { value: new Uint8Array([1]) }))],
  ];
  for (const [name, b] of bad) {
    it(`decodePublishInput() rejects ${name}`, () =>
      assert.throws(() => decodePublishInput(b), isInvalidArgument));
  }
});

describe("journalPathForAddress()", () => {
  const cases: [string, string][] = [
    ["/run/shimkit/events.sock", "/run/shimkit/events.jsonl"],
    ["unix:///s/events.sock", "/s/events.jsonl"],
  ];
  for (const [addr, want] of cases) {
    it(`journalPathForAddress(${addr})`, () => assert.equal(journalPathForAddress(addr), want));
  }
  it("journalPathForAddress() rejects a relative address", () =>
    assert.throws(() => journalPathForAddress("x.sock"), isInvalidArgument));
});

describe("publish", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });
  const ctxFor = (address: string | undefined, state: string, stdin: Uint8Array): CommandContext => ({
    stdout: () => {},
    stderr: () => {},
    stdin: () => Promise.resolve(stdin),
    env: {},
    logger: nullLogger,
    global: {
      state,
      root: "",
      namespace: "default",
      logLevel: "info",
      logFormat: "logfmt",
      json: false,
      address,
    },
  });

  it("publishEvent() appends a synthesized event to the journal", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-publish-"));
    dirs.push(dir);
    const path = join(dir, "events.jsonl");
    await publishEvent(path, { topic: "/tasks/exit", namespace: "ns", event: exitAny, synthesized: true });
    const rec = parseJournalLine((await fsp.readFile(path, "utf8")).trim())!;
    const ev = journalRecordToEvent(rec);
    assert.equal(ev.synthesized, true);
    assert.equal(ev.namespace, "ns");
    assert.equal(ev.event.pid, 7);
    await assert.rejects(
      publishEvent(path, { topic: "tasks/exit", namespace: "ns", event: exitAny }),
      isInvalidArgument,
    );
    await assert.rejects(
      publishEvent(path, { topic: "/tasks/exit", namespace: "../x", event: exitAny }),
      (e: unknown) =>
        isInvalidArgument(e) && /^publish: invalid namespace "\.\.\/x"/.test((e as Error).message),
    );
  });

  it("journalEventPublisher() journals synthesized /tasks/exit and /tasks/delete as a shim encodes them", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-publish-"));
    dirs.push(dir);
    const path = join(dir, "events.jsonl");
    const publisher = journalEventPublisher(path);
    const exitedAt = new Date("2026-01-02T03:04:05.678Z");
    const fields = { containerId: "c1", id: "c1", pid: 42, exitStatus: 137, exitedAt };
    await publisher.publish("ns", "/tasks/exit", fields);
    await publisher.publish("ns", "/tasks/delete", fields);
    const events = (await fsp.readFile(path, "utf8")).trim().split("\n").map((l) =>
      journalRecordToEvent(parseJournalLine(l)!)
    );
    assert.deepEqual(events.map((e) => [e.topic, e.typeUrl, e.synthesized]), [
      ["/tasks/exit", "containerd.events.TaskExit", true],
      ["/tasks/delete", "containerd.events.TaskDelete", true],
    ]);
    for (const e of events) {
      assert.equal(e.containerId, "c1");
      assert.equal(e.event.pid, 42);
      assert.equal(e.event.exitStatus, 137);
      assert.deepEqual(e.event.exitedAt, exitedAt);
    }
  });

  it("`shimkit --address A publish` journals stdin beside the address", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-publish-"));
    dirs.push(dir);
    const code = await main(
      ["--topic", "/tasks/exit", "--namespace", "n1"],
      ctxFor(join(dir, "events.sock"), "/nonexistent", anyBytes),
    );
    assert.equal(code, 0);
    const ev = journalRecordToEvent(
      parseJournalLine((await fsp.readFile(join(dir, "events.jsonl"), "utf8")).trim())!,
    );
    assert.equal(ev.topic, "/tasks/exit");
    assert.equal(ev.namespace, "n1");
    assert.equal(ev.containerId, "c1");
  });

  it("`shimkit publish` without --address uses the state dir; without --topic it is a usage error", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-publish-"));
    dirs.push(dir);
    assert.equal(await main(["--topic", "/tasks/oom"], ctxFor(undefined, dir, anyBytes)), 0);
    assert.ok((await fsp.readFile(join(dir, "events.jsonl"), "utf8")).includes('"/tasks/oom"'));
    await assert.rejects(main([], ctxFor(undefined, dir, anyBytes)), isUsageError);
    await assert.rejects(main(["--bogus"], ctxFor(undefined, dir, anyBytes)), isUsageError);
  });
});
