/**
 * The floor for `scripts/bench/ttrpc.ts`: the least a JavaScript client on
 * this runtime can do per TTRPC call, to tell ttrpc-ts's own cost from the
 * runtime's and the shim's.
 *
 * It sends one request envelope encoded once (only the stream id changes),
 * batches the requests of one tick into one write as ttrpc-ts does, and on
 * each reply only reads the frame header and wakes the caller waiting on its
 * stream id: no protobuf, no status, no timeouts, no error handling beyond
 * failing every waiter when the socket goes. It uses the runtime's own socket
 * (`Deno.connect`, `Bun.connect`), as ttrpc-ts's native connection does,
 * and `node:net` elsewhere.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { connect as netConnect } from "node:net";
import {
  encodeRequest,
  MESSAGE_HEADER_LENGTH as HEADER,
  MessageType,
  type MetadataInit,
  writeHeader,
} from "../../vendor/ttrpc-ts/mod.ts";
import { READ_DEFER_HOPS } from "../../src/platform/ttrpc_conn.ts";

/** A minimal pipelined caller: `call()` resolves when the reply to its request arrives. */
export interface FloorClient {
  /** Sends the prepared request; resolves on its reply. */
  call(): Promise<void>;
  /** Closes the socket. */
  close(): void;
}

/**
 * Connects a floor client for one fixed request.
 *
 * @param path the server's socket path
 * @param request service, method, serialized payload and metadata of the request every call sends
 * @returns the connected client
 */
export async function connectFloor(
  path: string,
  request: { service: string; method: string; payload: Uint8Array; metadata: MetadataInit },
): Promise<FloorClient> {
  const envelope = encodeRequest(request);
  const waiters = new Map<number, () => void>();
  let failed: Error | undefined;
  let carry: Uint8Array | undefined;
  /** Parses whole frames out of the bytes received; keeps a partial one for the next chunk. */
  const receive = (chunk: Uint8Array) => {
    let data = chunk;
    if (carry !== undefined) {
      data = new Uint8Array(carry.length + chunk.length);
      data.set(carry);
      data.set(chunk, carry.length);
      carry = undefined;
    }
    let p = 0;
    while (data.length - p >= HEADER) {
      const len = ((data[p] << 24) | (data[p + 1] << 16) | (data[p + 2] << 8) | data[p + 3]) >>> 0;
      if (data.length - p < HEADER + len) break;
      const id = ((data[p + 4] << 24) | (data[p + 5] << 16) | (data[p + 6] << 8) | data[p + 7]) >>> 0;
      const type = data[p + 8];
      p += HEADER + len;
      const wake = waiters.get(id);
      if (wake !== undefined && type === MessageType.Response) {
        waiters.delete(id);
        wake();
      }
    }
    if (p < data.length) carry = data.slice(p);
  };
  const fail = (err: Error) => {
    failed ??= err;
    for (const wake of waiters.values()) wake();
    waiters.clear();
  };
  const socket = await open(path, receive, fail);

  let queue: Uint8Array[] = [];
  let queued = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const frames = queue;
    const out = frames.length === 1 ? frames[0] : Buffer.allocUnsafe(queued);
    if (frames.length > 1) {
      let off = 0;
      for (const f of frames) {
        out.set(f, off);
        off += f.length;
      }
    }
    queue = [];
    queued = 0;
    socket.write(out);
  };
  let nextId = 1;
  return {
    call() {
      if (failed) return Promise.reject(failed);
      const id = nextId;
      nextId += 2;
      const frame = Buffer.allocUnsafe(HEADER + envelope.length);
      writeHeader(frame, 0, envelope.length, id, MessageType.Request, 0);
      frame.set(envelope, HEADER);
      queue.push(frame);
      queued += frame.length;
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
      return new Promise<void>((resolve, reject) =>
        waiters.set(id, () => (failed ? reject(failed) : resolve()))
      );
    },
    close: () => socket.close(),
  };
}

/** The two things the floor needs from a socket. */
interface FloorSocket {
  write(bytes: Uint8Array): void;
  close(): void;
}

async function open(
  path: string,
  receive: (chunk: Uint8Array) => void,
  fail: (err: Error) => void,
): Promise<FloorSocket> {
  const g = globalThis as unknown as { Deno?: DenoLike; Bun?: BunLike };
  if (g.Deno !== undefined) {
    const conn = await g.Deno.connect({ transport: "unix", path });
    // As ttrpc-ts's Deno connection does: after a reply, the next read waits (a few microtasks at most)
    // for the request the reply triggers, so dispatching the read is off the round trip.
    let wrote = false;
    void (async () => {
      let buf = new Uint8Array(64 * 1024);
      let off = 0;
      try {
        for (;;) {
          if (buf.length - off < 4096) {
            buf = new Uint8Array(buf.length);
            off = 0;
          }
          const n = await conn.read(buf.subarray(off));
          if (n === null) throw new Error("floor: connection closed");
          wrote = false;
          receive(buf.subarray(off, off + n));
          off += n;
          for (let hops = 0; hops < READ_DEFER_HOPS && !wrote; hops++) await null;
        }
      } catch (err) {
        fail(err as Error);
      }
    })();
    // Writes are not awaited (Deno queues them in order); a short one fails the client.
    const written = (want: number) => (n: number) => {
      if (n !== want) fail(new Error("floor: short write"));
    };
    return {
      write: (b) => {
        wrote = true;
        void conn.write(b).then(written(b.length), fail);
      },
      close: () => conn.close(),
    };
  }
  if (g.Bun !== undefined) {
    const socket = await g.Bun.connect({
      unix: path,
      socket: {
        data: (_s, chunk) => receive(chunk),
        close: () => fail(new Error("floor: connection closed")),
        error: (_s, err) => fail(err),
        drain: () => {},
      },
    });
    return {
      write: (b) => {
        if (socket.write(b) !== b.length) fail(new Error("floor: short write"));
      },
      close: () => socket.terminate(),
    };
  }
  const s = netConnect(path);
  await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
  s.on("data", receive).on("close", () => fail(new Error("floor: connection closed"))).on("error", fail);
  return { write: (b) => void s.write(b), close: () => s.destroy() };
}

interface DenoLike {
  connect(o: { transport: "unix"; path: string }): Promise<{
    read(p: Uint8Array): Promise<number | null>;
    write(p: Uint8Array): Promise<number>;
    close(): void;
  }>;
}

interface BunLike {
  connect(o: {
    unix: string;
    socket: {
      data(s: unknown, chunk: Uint8Array): void;
      close(): void;
      error(s: unknown, err: Error): void;
      drain(): void;
    };
  }): Promise<{ write(b: Uint8Array): number; terminate(): void }>;
}
