import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { encodeTaskEvent } from "../events/topics.ts";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { createLogger } from "../log/logger.ts";
import { EventPublisher } from "./publisher.ts";

/** An Events listener on `path` that records the topics it receives. */
async function listener(path: string, got: string[]): Promise<Server> {
  const server = new Server();
  server.register(Events, {
    forward: (req) => {
      got.push(req.envelope?.topic ?? "");
      return Promise.resolve();
    },
  });
  await server.listen(path);
  return server;
}

describe("EventPublisher", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });
  /** A socket path in a fresh temp dir (removed after the suite), and log lines captured at `level`. */
  const setup = async (level: "debug" | "info") => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-publisher-"));
    dirs.push(dir);
    const lines: string[] = [];
    return {
      path: join(dir, "events.sock"),
      lines,
      log: createLogger({ level, write: (l) => lines.push(l) }),
    };
  };

  it("EventPublisher resends to a new listener after the old one exited, without a warning", async () => {
    const { path, lines, log } = await setup("debug");
    const publisher = new EventPublisher({
      address: `unix://${path}`,
      namespace: "ns",
      log,
      retryDelayMs: 10,
    });
    const exit = encodeTaskEvent("/tasks/exit", { containerId: "c1", id: "c1", pid: 7, exitStatus: 1 });
    try {
      const first: string[] = [];
      const a = await listener(path, first);
      publisher.publish("/tasks/start", exit);
      assert.equal(await publisher.drain(5000), true);
      assert.deepEqual(first, ["/tasks/start"]);
      // The process that listened exits (as a CLI process does); the next one listens on the same path.
      await a.shutdown({ timeoutMs: 1000 });
      const second: string[] = [];
      const b = await listener(path, second);
      try {
        publisher.publish("/tasks/exit", exit);
        publisher.publish("/tasks/delete", exit);
        assert.equal(await publisher.drain(5000), true);
        assert.deepEqual(second, ["/tasks/exit", "/tasks/delete"]);
      } finally {
        await b.shutdown({ timeoutMs: 1000 });
      }
      assert.deepEqual(
        lines.filter((l) => !/level=(debug|trace) /.test(l)),
        [],
        "nothing above debug logged",
      );
    } finally {
      publisher.close();
    }
  });

  it("EventPublisher logs nothing for the event it drops when closed mid-send", async () => {
    const { path, lines, log } = await setup("info");
    const server = new Server();
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    server.register(Events, {
      forward: () => {
        arrived();
        return new Promise<void>(() => {}); // never answers
      },
    });
    await server.listen(path);
    const publisher = new EventPublisher({ address: path, namespace: "ns", log });
    try {
      publisher.publish("/tasks/exit", encodeTaskEvent("/tasks/exit", { containerId: "c1", id: "c1" }));
      await inFlight;
      publisher.close();
      assert.equal(await publisher.drain(1000), true);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(lines, []);
    } finally {
      await server.shutdown({ timeoutMs: 100 }).catch(() => {});
    }
  });
});
