import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventBus } from "./bus.ts";
import type { TaskEvent } from "./topics.ts";

const ev = (topic: string, namespace = "default"): TaskEvent => ({
  topic,
  namespace,
  timestamp: new Date(0),
  containerId: "c1",
  event: {},
  typeUrl: "",
});

describe("EventBus", () => {
  it("subscribe() delivers matching events in order, queued and awaited", async () => {
    const bus = new EventBus();
    const sub = bus.subscribe({ topics: ["/tasks/start", "/tasks/exit"] });
    bus.publish(ev("/tasks/create"));
    bus.publish(ev("/tasks/start"));
    const it = sub[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.topic, "/tasks/start");
    const pending = it.next();
    bus.publish(ev("/tasks/exit"));
    assert.equal((await pending).value?.topic, "/tasks/exit");
    sub.close();
    assert.equal((await it.next()).done, true);
    assert.equal(bus.size, 0);
  });

  it("close() ends a pending next() and runs onClose once", async () => {
    const bus = new EventBus();
    let closed = 0;
    const sub = bus.subscribe({}, { onClose: () => closed++ });
    const pending = sub[Symbol.asyncIterator]().next();
    sub.close();
    sub.close();
    assert.equal((await pending).done, true);
    assert.equal(closed, 1);
    assert.equal(sub.closed, true);
  });

  it("subscribe() drops the oldest events past maxQueued", async () => {
    const bus = new EventBus();
    const sub = bus.subscribe({}, { maxQueued: 2 });
    for (const t of ["/a", "/b", "/c"]) bus.publish(ev(t));
    const it = sub[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.topic, "/b");
    assert.equal((await it.next()).value?.topic, "/c");
    sub.close();
  });

  it("breaking out of for-await closes the subscription", async () => {
    const bus = new EventBus();
    const sub = bus.subscribe();
    bus.publish(ev("/x"));
    for await (const _ of sub) break;
    assert.equal(sub.closed, true);
    assert.equal(bus.size, 0);
  });

  it("concurrent next() calls each get their own event", async () => {
    const bus = new EventBus();
    const sub = bus.subscribe();
    const it = sub[Symbol.asyncIterator]();
    const a = it.next();
    const b = it.next();
    bus.publish(ev("/a"));
    bus.publish(ev("/b"));
    assert.deepEqual([(await a).value?.topic, (await b).value?.topic], ["/a", "/b"]);
    sub.close();
  });
});
