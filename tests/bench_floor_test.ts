import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Server } from "../vendor/ttrpc-ts/mod.ts";
import { Echo, EchoRequestSchema } from "../vendor/ttrpc-ts/tests/gen/echo_pb.ts";
import { connectFloor, type FloorClient } from "../scripts/bench/ttrpc_floor.ts";

// The benchmark's floor client is only a yardstick if each call really waits for its own reply.
describe("scripts/bench/ttrpc_floor.ts (the TTRPC benchmark's hand-rolled floor)", () => {
  const dir = mkdtempSync(join(tmpdir(), "shimkit-bench-floor-"));
  const path = join(dir, "echo.sock");
  let answered = 0;
  const server = new Server().register(Echo, {
    echo: async (req, ctx) => {
      if (ctx.metadata["k"]?.[0] !== "v") throw new Error("metadata lost");
      if (req.delayMs > 0) await new Promise((r) => setTimeout(r, req.delayMs));
      answered++;
      return { text: req.text };
    },
  });
  const request = (delayMs = 0) => ({
    service: Echo.typeName,
    method: "Echo",
    payload: toBinary(EchoRequestSchema, create(EchoRequestSchema, { text: "x", delayMs })),
    metadata: { k: "v" },
  });
  const clients: FloorClient[] = [];

  before(() => server.listen(path));
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("resolves each call only once the server answered it, one caller and eight", async () => {
    const floor = await connectFloor(path, request());
    clients.push(floor);
    answered = 0;
    for (let i = 1; i <= 500; i++) {
      await floor.call();
      assert.equal(answered, i);
    }
    answered = 0;
    let done = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 100; i++) {
        await floor.call();
        done++;
        assert.ok(done <= answered, `${done} calls resolved, ${answered} answered`);
      }
    }));
    assert.equal(answered, 800);
  });

  it("keeps a call pending while its reply is delayed, and matches replies by stream id", async () => {
    const slow = await connectFloor(path, request(200));
    const fast = await connectFloor(path, request());
    clients.push(slow, fast);
    let slowDone = false;
    const pending = slow.call().then(() => (slowDone = true));
    for (let i = 0; i < 20; i++) await fast.call();
    assert.equal(slowDone, false);
    await pending;
  });

  it("fails pending calls when the connection goes", async () => {
    const floor = await connectFloor(path, request(300));
    const pending = floor.call();
    floor.close();
    await assert.rejects(pending);
  });
});
