import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  encodeFrame,
  Flags,
  type Frame,
  FrameDecoder,
  MESSAGE_HEADER_LENGTH,
  MESSAGE_LENGTH_MAX,
  MessageType,
  oversizedMessage,
  writeHeader,
} from "./frame.ts";

/** A deterministic PRNG (mulberry32) so random chunkings are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function sample(): {
  frames: Array<[number, number, number, Uint8Array]>;
  bytes: Uint8Array;
} {
  const frames: Array<[number, number, number, Uint8Array]> = [
    [1, MessageType.Request, 0, new Uint8Array([1, 2, 3])],
    [1, MessageType.Response, 0, new Uint8Array(0)],
    [3, MessageType.Data, Flags.RemoteClosed | Flags.NoData, new Uint8Array(0)],
    [
      0xfffffffd,
      MessageType.Request,
      Flags.RemoteOpen,
      new Uint8Array(300).map((_, i) => i),
    ],
    [5, MessageType.Data, 0, new Uint8Array(70_000).fill(7)],
  ];
  return {
    frames,
    bytes: concat(frames.map(([id, t, f, d]) => encodeFrame(id, t, f, d))),
  };
}

function simplify(fs: Frame[]): Array<[number, number, number, number[]]> {
  return fs.map((f) => [f.streamId, f.type, f.flags, [...f.data]]);
}

describe("frame constants", () => {
  it("match the protocol", () => {
    assert.equal(MESSAGE_HEADER_LENGTH, 10);
    assert.equal(MESSAGE_LENGTH_MAX, 4194304);
    assert.deepEqual(MessageType, { Request: 1, Response: 2, Data: 3 });
    assert.deepEqual(Flags, { RemoteClosed: 1, RemoteOpen: 2, NoData: 4 });
  });
});

describe("writeHeader()", () => {
  const cases: Array<[string, [number, number, number, number], number[]]> = [
    ["unary request", [5, 1, 1, 0], [0, 0, 0, 5, 0, 0, 0, 1, 1, 0]],
    ["empty response", [0, 0x1b, 2, 0], [0, 0, 0, 0, 0, 0, 0, 0x1b, 2, 0]],
    ["close data", [0, 3, 3, 5], [0, 0, 0, 0, 0, 0, 0, 3, 3, 5]],
    ["big-endian u32s", [0x00400000, 0xfffffffd, 2, 2], [
      0,
      0x40,
      0,
      0,
      0xff,
      0xff,
      0xff,
      0xfd,
      2,
      2,
    ]],
  ];
  for (const [name, [len, id, type, flags], want] of cases) {
    it(`writeHeader() encodes ${name}`, () => {
      const b = new Uint8Array(12);
      writeHeader(b, 1, len, id, type, flags);
      assert.deepEqual([...b.subarray(1, 11)], want);
    });
  }
});

describe("encodeFrame()", () => {
  it("encodeFrame() puts header and data in one buffer", () => {
    const f = encodeFrame(7, MessageType.Data, 0, new Uint8Array([9, 8]));
    assert.deepEqual([...f], [0, 0, 0, 2, 0, 0, 0, 7, 3, 0, 9, 8]);
  });
});

describe("FrameDecoder", () => {
  it("push() decodes a stream fed one byte at a time", () => {
    const { frames, bytes } = sample();
    const d = new FrameDecoder();
    const got: Frame[] = [];
    for (let i = 0; i < bytes.length; i++) {
      got.push(...d.push(bytes.subarray(i, i + 1)));
    }
    assert.deepEqual(
      simplify(got),
      frames.map(([id, t, f, data]) => [id, t, f, [...data]]),
    );
    assert.equal(d.buffered, 0);
    assert.equal(d.partial, false);
  });

  it("push() decodes a stream in random chunk sizes", () => {
    const { frames, bytes } = sample();
    const want = frames.map(([id, t, f, data]) => [id, t, f, [...data]]);
    for (let seed = 1; seed <= 25; seed++) {
      const rand = rng(seed);
      const d = new FrameDecoder();
      const got: Frame[] = [];
      for (let i = 0; i < bytes.length;) {
        const n = 1 + Math.floor(rand() * (seed % 2 ? 40 : 20_000));
        got.push(...d.push(bytes.slice(i, i + n)));
        i += n;
      }
      assert.deepEqual(simplify(got), want, `seed ${seed}`);
    }
  });

  it("push() returns zero-copy subarrays of a chunk holding whole frames", () => {
    const bytes = concat([
      encodeFrame(1, 2, 0, new Uint8Array([1, 2])),
      encodeFrame(3, 2, 0, new Uint8Array([3])),
    ]);
    const [a, b] = new FrameDecoder().push(bytes);
    assert.equal(a.data.buffer, bytes.buffer);
    assert.equal(b.data.byteOffset, bytes.byteOffset + 22);
  });

  it("push() copies frame data when the caller reuses chunks", () => {
    const bytes = encodeFrame(1, 2, 0, new Uint8Array([1, 2]));
    const [a] = new FrameDecoder({ copy: true }).push(bytes);
    bytes.fill(0);
    assert.deepEqual([...a.data], [1, 2]);
  });

  it("push() emits nothing for truncated frames", () => {
    const full = encodeFrame(
      9,
      MessageType.Response,
      0,
      new Uint8Array(100).fill(1),
    );
    const cases: Array<[string, number]> = [["partial header", 6], [
      "header only",
      10,
    ], ["partial data", 60]];
    for (const [name, n] of cases) {
      const d = new FrameDecoder();
      assert.deepEqual(d.push(full.subarray(0, n)), [], name);
      assert.equal(d.buffered, n, name);
      assert.equal(d.partial, true, name);
      assert.equal(d.push(full.subarray(n)).length, 1, `${name} completed`);
      assert.equal(d.buffered, 0, name);
    }
  });

  it("push() reports an oversized frame at header time and buffers none of it", () => {
    const d = new FrameDecoder();
    const length = MESSAGE_LENGTH_MAX + 1;
    const header = new Uint8Array(MESSAGE_HEADER_LENGTH);
    writeHeader(header, 0, length, 11, MessageType.Request, 0);
    const first = d.push(header);
    assert.equal(first.length, 1);
    assert.equal(first[0].oversized, true);
    assert.equal(first[0].length, length);
    assert.equal(first[0].streamId, 11);
    assert.equal(first[0].data.length, 0);
    const chunk = new Uint8Array(64 * 1024).fill(0xaa);
    let left = length;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      assert.deepEqual(d.push(chunk.subarray(0, n)), []);
      assert.ok(d.buffered < MESSAGE_HEADER_LENGTH, `buffered ${d.buffered}`);
      left -= n;
    }
    const next = d.push(
      encodeFrame(13, MessageType.Request, 0, new Uint8Array([42])),
    );
    assert.deepEqual(simplify(next), [[13, 1, 0, [42]]]);
    assert.equal(next[0].oversized, false);
  });

  it("push() skips an oversized frame arriving in the same chunk as the next one", () => {
    const d = new FrameDecoder({ maxMessageLength: 4 });
    const bytes = concat([
      encodeFrame(1, 1, 0, new Uint8Array(5)),
      encodeFrame(3, 1, 0, new Uint8Array([1, 2, 3, 4])),
    ]);
    const got = d.push(bytes);
    assert.deepEqual(got.map((f) => [f.streamId, f.oversized, f.length]), [[
      1,
      true,
      5,
    ], [3, false, 4]]);
  });
});

describe("oversizedMessage()", () => {
  it("oversizedMessage() words the status as ttrpc does", () => {
    assert.equal(
      oversizedMessage(4194305, MESSAGE_LENGTH_MAX),
      "message length 4194305 exceed maximum message size of 4194304",
    );
  });
});
