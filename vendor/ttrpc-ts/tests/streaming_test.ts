import { fromBinary, toBinary } from "@bufbuild/protobuf";
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { encodeRequest } from "../src/envelope.ts";
import { encodeFrame, Flags, MessageType } from "../src/frame.ts";
import { createClient } from "../src/service_client.ts";
import { TtrpcError } from "../src/status.ts";
import { Echo, EchoRequestSchema, EchoResponseSchema } from "./gen/echo_pb.ts";
import { type EchoFixture, rawPeer, sleep, startEcho, waitFor } from "./helpers.ts";

const SERVICE = "ttrpctest.v1.Echo";

function req(
  init: { text?: string; n?: number; delayMs?: number },
): Uint8Array {
  return toBinary(EchoRequestSchema, {
    $typeName: "ttrpctest.v1.EchoRequest",
    text: init.text ?? "",
    n: init.n ?? 0,
    blob: new Uint8Array(),
    delayMs: init.delayMs ?? 0,
  });
}

async function* gen<T>(items: T[], delayMs = 0): AsyncGenerator<T> {
  for (const item of items) {
    if (delayMs) await sleep(delayMs);
    yield item;
  }
}

describe("streaming", () => {
  let fx: EchoFixture;
  before(async () => {
    fx = await startEcho();
  });
  after(() => fx.cleanup());

  it("client streaming: sum() sends every request and resolves to the single response", async () => {
    const echo = createClient(Echo, await fx.dial());
    const r = await echo.sum(
      gen([{ n: 1, text: "a" }, { n: 2, text: "b" }, { n: 39, text: "c" }], 2),
    );
    assert.deepEqual([r.n, r.text], [42, "abc"]);
    assert.equal((await echo.sum([])).n, 0);
    assert.equal((await echo.sum([{ n: 5 }])).n, 5);
  });

  it("client streaming: a handler error rejects with its status", async () => {
    const echo = createClient(Echo, await fx.dial());
    await assert.rejects(echo.sum([{ n: 1 }, { text: "fail" }, { n: 2 }]), {
      name: "TtrpcError",
      code: 9,
    });
  });

  it("client streaming: a failing request iterable rejects with its own error", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    async function* broken() {
      yield { n: 1 };
      throw new Error("source broke");
    }
    await assert.rejects(echo.sum(broken()), /source broke/);
    assert.equal((await echo.ping({})).$typeName, "ttrpctest.v1.Empty");
    assert.ok(await waitFor(() => client.pending === 0));
  });

  it("server streaming: count() yields every message, then ends", async () => {
    const echo = createClient(Echo, await fx.dial());
    const got: number[] = [];
    for await (const r of echo.count({ n: 5, text: "x" })) got.push(r.n);
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    const none: number[] = [];
    for await (const r of echo.count({ n: 0 })) none.push(r.n);
    assert.deepEqual(none, []);
  });

  it("server streaming: an error after some messages arrives after them", async () => {
    const echo = createClient(Echo, await fx.dial());
    const got: number[] = [];
    await assert.rejects(
      async () => {
        for await (const r of echo.count({ n: 5, text: "fail-mid" })) {
          got.push(
            r.n,
          );
        }
      },
      (err: unknown) =>
        err instanceof TtrpcError && err.code === 10 &&
        err.message === "count aborted",
    );
    assert.deepEqual(got, [0, 1]);
  });

  it("server streaming: breaking out of the loop leaves the connection usable", async () => {
    const client = await fx.dial();
    const echo = createClient(Echo, client);
    for await (const r of echo.count({ n: 1000, delayMs: 1 })) {
      if (r.n === 2) break;
    }
    assert.equal(client.pending, 0);
    assert.equal((await echo.echo({ text: "still" })).text, "still");
  });

  it("server streaming: the timeout fails the stream with DeadlineExceeded (4)", async () => {
    const echo = createClient(Echo, await fx.dial());
    const got: number[] = [];
    await assert.rejects(async () => {
      for await (
        const r of echo.count({ n: 100, delayMs: 20 }, { timeoutMs: 70 })
      ) got.push(r.n);
    }, { name: "TtrpcError", code: 4 });
    assert.ok(got.length < 10, `got ${got.length}`);
  });

  it("bidi streaming: chat() answers each request while requests are still being sent", async () => {
    const echo = createClient(Echo, await fx.dial());
    const out: string[] = [];
    for await (
      const r of echo.chat(
        gen([{ text: "a" }, { text: "b" }, { text: "c" }], 5),
      )
    ) out.push(r.text);
    assert.deepEqual(out, ["A", "B", "C"]);
  });

  it("bidi streaming: an empty request stream ends cleanly", async () => {
    const echo = createClient(Echo, await fx.dial());
    const out: string[] = [];
    for await (const r of echo.chat([])) out.push(r.text);
    assert.deepEqual(out, []);
  });

  it("low-level stream(): bidi send/recv interleave, closeSend ends the server side", async () => {
    const client = await fx.dial();
    const s = client.stream(SERVICE, "Chat", "bidi_streaming");
    s.send(req({ text: "one", n: 1 }));
    const first = await s.recv();
    assert.equal(fromBinary(EchoResponseSchema, first!).text, "ONE");
    s.send(req({ text: "two" }));
    assert.equal(fromBinary(EchoResponseSchema, (await s.recv())!).text, "TWO");
    s.closeSend();
    assert.equal(await s.recv(), undefined);
    assert.equal(s.finished, true);
    assert.equal(s.streamId % 2, 1);
    assert.throws(() => s.send(req({})), /after closeSend/);
  });

  it("low-level stream(): client streaming with the first message in the Request frame", async () => {
    const client = await fx.dial();
    const s = client.stream(SERVICE, "Sum", "client_streaming", {
      payload: req({ n: 10 }),
    });
    s.send(req({ n: 5 }));
    s.closeSend();
    const out = await s.recv();
    assert.equal(fromBinary(EchoResponseSchema, out!).n, 15);
    assert.equal(await s.recv(), undefined);
  });

  it("low-level stream(): server streaming is iterable and refuses send()", async () => {
    const client = await fx.dial();
    const s = client.stream(SERVICE, "Count", "server_streaming", {
      payload: req({ n: 3 }),
    });
    assert.throws(() => s.send(new Uint8Array()), /server-streaming/);
    const ns: number[] = [];
    for await (const b of s) ns.push(fromBinary(EchoResponseSchema, b).n);
    assert.deepEqual(ns, [0, 1, 2]);
  });

  it("a stream on a closed client fails with Unavailable (14)", async () => {
    const client = await fx.dial();
    client.close();
    const s = client.stream(SERVICE, "Chat", "bidi_streaming");
    await assert.rejects(s.recv(), { name: "TtrpcError", code: 14 });
  });

  it("connection loss fails open streams with Unavailable (14)", async () => {
    const client = await fx.dial();
    const s = client.stream(SERVICE, "Chat", "bidi_streaming");
    s.send(req({ text: "x" }));
    await s.recv();
    const echo = createClient(Echo, client);
    await assert.rejects(echo.fail({ text: "abort" }), { code: 14 });
    await assert.rejects(s.recv(), { name: "TtrpcError", code: 14 });
  });
});

describe("streaming wire format (raw frames)", () => {
  let fx: EchoFixture;
  before(async () => {
    fx = await startEcho();
  });
  after(() => fx.cleanup());

  it("server streaming ends with a Data frame flagged RemoteClosed|NoData", async () => {
    const peer = await rawPeer(fx.path);
    const env = encodeRequest({
      service: SERVICE,
      method: "Count",
      payload: req({ n: 2 }),
    });
    peer.send(encodeFrame(1, MessageType.Request, Flags.RemoteClosed, env));
    const frames = [await peer.next(), await peer.next(), await peer.next()];
    assert.deepEqual(frames.map((f) => [f.streamId, f.type, f.flags]), [
      [1, 3, 0],
      [1, 3, 0],
      [1, 3, 5],
    ]);
    assert.equal(frames[2].length, 0);
    peer.close();
  });

  it("client streaming: RemoteOpen request, Data frames, close; the reply is one Response", async () => {
    const peer = await rawPeer(fx.path);
    peer.send(
      encodeFrame(
        1,
        MessageType.Request,
        Flags.RemoteOpen,
        encodeRequest({ service: SERVICE, method: "Sum" }),
      ),
    );
    peer.send(encodeFrame(1, MessageType.Data, 0, req({ n: 4 })));
    peer.send(encodeFrame(1, MessageType.Data, 0, req({ n: 6 })));
    peer.send(
      encodeFrame(1, MessageType.Data, Flags.RemoteClosed | Flags.NoData),
    );
    const { frame, response } = await peer.nextResponse();
    assert.deepEqual([frame.type, frame.flags, response.status], [
      MessageType.Response,
      0,
      undefined,
    ]);
    assert.equal(fromBinary(EchoResponseSchema, response.payload).n, 10);
    peer.close();
  });

  it("a close Data frame that carries data answers InvalidArgument (3)", async () => {
    const peer = await rawPeer(fx.path);
    peer.send(
      encodeFrame(
        1,
        MessageType.Request,
        Flags.RemoteOpen,
        encodeRequest({ service: SERVICE, method: "Sum" }),
      ),
    );
    peer.send(
      encodeFrame(1, MessageType.Data, Flags.RemoteClosed, req({ n: 1 })),
    );
    const { response } = await peer.nextResponse();
    assert.deepEqual([response.status?.code, response.status?.message], [
      3,
      "data close message cannot include data",
    ]);
    peer.close();
  });
});
