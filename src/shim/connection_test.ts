import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { isNotFound, isUnavailable } from "../errors.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { NAMESPACE_HEADER, ShimConnection } from "./connection.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
});

/** A fake shim serving only the given task API versions; Connect echoes the namespace header in `version`. */
async function fakeShim(versions: (2 | 3)[]): Promise<{ path: string; server: Server }> {
  const dir = await fsp.mkdtemp(join(tmpdir(), "sk-conn-"));
  dirs.push(dir);
  const path = join(dir, "shim.sock");
  const server = new Server();
  const connect = (_req: unknown, ctx: { metadata: Record<string, string[]> }) => ({
    shimPid: 4242,
    taskPid: 7,
    version: ctx.metadata[NAMESPACE_HEADER]?.join(",") ?? "",
  });
  if (versions.includes(2)) server.register(TaskV2, { connect });
  if (versions.includes(3)) server.register(TaskV3, { connect });
  await server.listen(path);
  return { path, server };
}

describe("ShimConnection.open()", () => {
  it("sends the namespace header and keeps v3 when the shim serves it", async () => {
    const { path, server } = await fakeShim([3]);
    const c = await ShimConnection.open({
      address: `unix://${path}`,
      namespace: "ns1",
      id: "c1",
      version: 3,
    });
    try {
      assert.equal(c.version, 3);
      assert.deepEqual(c.info, { shimPid: 4242, taskPid: 7, version: "ns1" });
    } finally {
      c.close();
      await server.close();
    }
  });

  it("lowers v3 to v2 when the shim answers NotImplemented", async () => {
    const { path, server } = await fakeShim([2]);
    const c = await ShimConnection.open({ address: path, namespace: "ns1", id: "c1", version: 3 });
    try {
      assert.equal(c.version, 2);
      assert.equal(c.task.version, 2);
      assert.equal(c.info.shimPid, 4242);
    } finally {
      c.close();
      await server.close();
    }
  });

  it("fails fast with NotFound for a missing socket, naming the address", async () => {
    const t0 = Date.now();
    await assert.rejects(
      ShimConnection.open({ address: "/nonexistent/shim.sock", namespace: "n", id: "c", timeoutMs: 5000 }),
      (e: Error) => isNotFound(e) && e.message.startsWith('connect to shim "/nonexistent/shim.sock": '),
    );
    assert.ok(Date.now() - t0 < 1000);
  });

  it("onLost() fires when the shim goes away, never after close()", async () => {
    const a = await fakeShim([2]);
    const lost = await ShimConnection.open({ address: a.path, namespace: "n", id: "c" });
    const closed = await ShimConnection.open({ address: a.path, namespace: "n", id: "c" });
    let lostCalls = 0;
    let closedCalls = 0;
    lost.onLost(() => lostCalls++);
    closed.onLost(() => closedCalls++);
    closed.close();
    await a.server.close();
    const deadline = Date.now() + 2000;
    while (lostCalls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(lostCalls, 1);
    assert.equal(closedCalls, 0);
    assert.equal(lost.closed, true);
    await assert.rejects(lost.task.connect("c"), isUnavailable);
  });
});
