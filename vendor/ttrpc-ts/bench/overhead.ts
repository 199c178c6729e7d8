/**
 * The client's own cost per call, without any I/O: a loopback {@link Conn}
 * answers every request frame with a canned Connect response in a microtask.
 * Measures the typed path (protobuf-es encode/decode included) and the raw
 * `client.call()` path, with 1 and 8 callers.
 *
 * Usage: `overhead.ts`
 *
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { Client, type Conn, type ConnHandler, createClient, encodeResponse, writeHeader } from "../mod.ts";
import { ConnectRequestSchema, ConnectResponseSchema, Task } from "./gen/task_min_pb.ts";

const response = encodeResponse(
  undefined,
  toBinary(
    ConnectResponseSchema,
    create(ConnectResponseSchema, { shimPid: 1234, taskPid: 4242 }),
  ),
);

/** Answers each written request frame with `response` on the same stream id. */
class Loopback implements Conn {
  #handler: ConnHandler | undefined;
  start(handler: ConnHandler): void {
    this.#handler = handler;
  }
  write(frame: Uint8Array): void {
    const id = ((frame[4] << 24) | (frame[5] << 16) | (frame[6] << 8) | frame[7]) >>> 0;
    const out = new Uint8Array(10 + response.length);
    writeHeader(out, 0, response.length, id, 2, 0);
    out.set(response, 10);
    queueMicrotask(() => this.#handler?.data(out));
  }
  close(): void {}
  destroy(): void {}
}

const client = new Client(new Loopback(), {
  metadata: { "containerd-namespace-ttrpc": "bench" },
});
const task = createClient(Task, client);
const raw = toBinary(
  ConnectRequestSchema,
  create(ConnectRequestSchema, { id: "rtt-1234" }),
);
const paths: Record<string, () => Promise<unknown>> = {
  typed: () => task.connect({ id: "rtt-1234" }),
  raw: () => client.call("containerd.task.v2.Task", "Connect", raw),
};
const N = 200_000;
for (const [name, call] of Object.entries(paths)) {
  for (const c of [1, 8]) {
    for (let i = 0; i < 20_000; i++) await call();
    const t = performance.now();
    await Promise.all(Array.from({ length: c }, async () => {
      for (let i = 0; i < N / c; i++) await call();
    }));
    console.log(
      JSON.stringify({
        mode: "overhead",
        api: name,
        c,
        us_per_call: +((performance.now() - t) * 1000 / N).toFixed(2),
      }),
    );
  }
}
client.close();
