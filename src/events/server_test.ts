import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, createClient } from "../../vendor/ttrpc-ts/mod.ts";
import { isInvalidArgument } from "../errors.ts";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { dateToTimestamp } from "../taskapi/timestamp.ts";
import { journalRecordToEvent, parseJournalLine } from "./journal.ts";
import { eventsJournalPath, eventsSocketPath } from "../bundle/layout.ts";
import { checkSocketPath, EventsListener } from "./server.ts";
import { encodeTaskEvent } from "./topics.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});
async function stateDir(): Promise<string> {
  const d = await fsp.mkdtemp(join(tmpdir(), "sk-ev-"));
  dirs.push(d);
  return d;
}
async function forward(socket: string, topic: string, id: string): Promise<void> {
  const client = await Client.dial(socket, { metadata: { "containerd-namespace-ttrpc": "ns" } });
  try {
    await createClient(Events, client).forward({
      envelope: {
        timestamp: dateToTimestamp(new Date(1_700_000_000_000)),
        namespace: "ns",
        topic,
        event: encodeTaskEvent(topic, { containerId: id }),
      },
    }, { timeoutMs: 2000 });
  } finally {
    client.close();
  }
}
const journal = async (state: string) =>
  (await fsp.readFile(eventsJournalPath(state), "utf8")).trim().split("\n").map((l) =>
    journalRecordToEvent(parseJournalLine(l)!)
  );

describe("EventsListener", () => {
  it("journals every forwarded event", async () => {
    const state = await stateDir();
    const l = await EventsListener.start({
      socketPath: eventsSocketPath(state),
      journalPath: eventsJournalPath(state),
    });
    try {
      assert.equal(l.listening, true);
      await forward(eventsSocketPath(state), "/tasks/start", "c1");
      const evs = await journal(state);
      assert.equal(evs.length, 1);
      assert.equal(evs[0].topic, "/tasks/start");
      assert.equal(evs[0].containerId, "c1");
      assert.equal(evs[0].timestamp.getTime(), 1_700_000_000_000);
    } finally {
      await l.close();
    }
    await assert.rejects(fsp.stat(eventsSocketPath(state)));
  });

  it("a second process stays passive, then takes over when the first listener goes", async () => {
    const state = await stateDir();
    const opts = { socketPath: eventsSocketPath(state), journalPath: eventsJournalPath(state), retryMs: 20 };
    const first = await EventsListener.start(opts);
    const second = await EventsListener.start(opts);
    try {
      assert.equal(first.listening, true);
      assert.equal(second.listening, false);
      await first.close();
      const deadline = Date.now() + 3000;
      while (!second.listening && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(second.listening, true);
      await forward(opts.socketPath, "/tasks/exit", "c2");
      assert.deepEqual((await journal(state)).map((e) => e.containerId), ["c2"]);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it("a listener whose socket file another process replaced steps down; events reach the new one", async () => {
    const state = await stateDir();
    const opts = { socketPath: eventsSocketPath(state), journalPath: eventsJournalPath(state), retryMs: 20 };
    const first = await EventsListener.start(opts);
    // Another process judged the file stale at the same moment and put its own socket there.
    await fsp.rename(opts.socketPath, `${opts.socketPath}.old`);
    const second = await EventsListener.start(opts);
    try {
      assert.equal(second.listening, true);
      const deadline = Date.now() + 3000;
      while (first.listening && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(first.listening, false, "the shadowed listener stepped down");
      await forward(opts.socketPath, "/tasks/exit", "c3");
      assert.deepEqual((await journal(state)).map((e) => e.containerId), ["c3"]);
      // The one that stepped down takes over again once the other goes.
      await second.close();
      const again = Date.now() + 3000;
      while (!first.listening && Date.now() < again) await new Promise((r) => setTimeout(r, 10));
      assert.equal(first.listening, true);
      await forward(opts.socketPath, "/tasks/exit", "c4");
      assert.deepEqual((await journal(state)).map((e) => e.containerId), ["c3", "c4"]);
    } finally {
      await first.close();
      await second.close();
      await fsp.rm(`${opts.socketPath}.old`, { force: true });
    }
  });

  it("leaves a path that is not a socket alone and stays passive", async () => {
    const state = await stateDir();
    const path = eventsSocketPath(state);
    await fsp.writeFile(path, "not a socket");
    const l = await EventsListener.start({
      socketPath: path,
      journalPath: eventsJournalPath(state),
      retryMs: 0,
    });
    try {
      assert.equal(l.listening, false);
      assert.equal(await fsp.readFile(path, "utf8"), "not a socket");
    } finally {
      await l.close();
    }
  });
});

describe("checkSocketPath()", () => {
  it("accepts a short path", () => assert.equal(checkSocketPath("/run/s/events.sock"), "/run/s/events.sock"));
  it("rejects a path over 107 bytes", () =>
    assert.throws(() => checkSocketPath("/" + "x".repeat(107)), isInvalidArgument));
});
