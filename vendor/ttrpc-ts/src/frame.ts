/**
 * TTRPC framing: the 10-byte frame header, its constants, a header writer and
 * a push decoder that turns arbitrary byte chunks into frames. Nothing here
 * touches a socket.
 *
 * @module
 */

import { Buffer } from "node:buffer";

/** Length in bytes of every frame header. */
export const MESSAGE_HEADER_LENGTH = 10;

/** Largest data length a frame may declare by default (4 MiB). */
export const MESSAGE_LENGTH_MAX = 4 << 20;

/** Frame types (header byte 8). */
export const MessageType = {
  /** Opens a stream: carries the request envelope. */
  Request: 1,
  /** Ends a stream: carries the response envelope (status and/or payload). */
  Response: 2,
  /** A stream message after the request (ttrpc ≥ 1.2). */
  Data: 3,
} as const;

/** A frame type value. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Frame flags (header byte 9); their meaning depends on the frame type. */
export const Flags = {
  /** The sender will send nothing more on this stream. */
  RemoteClosed: 1,
  /** On a request: the client will stream Data frames. */
  RemoteOpen: 2,
  /** The frame carries no message. */
  NoData: 4,
} as const;

/** One decoded frame. */
export interface Frame {
  /** Stream id (odd for client-initiated streams). */
  streamId: number;
  /** Frame type, see {@link MessageType}. */
  type: number;
  /** Flag bits, see {@link Flags}. */
  flags: number;
  /** Data length as declared in the header. */
  length: number;
  /** The frame data; empty when `oversized` is true. */
  data: Uint8Array;
  /**
   * True when `length` exceeded the decoder's limit: the data is discarded as it
   * arrives (never buffered) and the receiver should answer ResourceExhausted.
   */
  oversized: boolean;
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted data length; larger frames are reported and discarded. Default 4 MiB. */
  maxMessageLength?: number;
  /**
   * Copy frame data out of the pushed chunk. Needed only when the caller reuses
   * chunk buffers after `push` returns; by default frames are zero-copy subarrays.
   */
  copy?: boolean;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Allocates an uninitialised byte buffer for a frame the caller fills
 * completely. `Buffer.allocUnsafe` slices small buffers from a shared pool,
 * which is several times cheaper than `new Uint8Array(n)` on V8.
 *
 * @param size number of bytes
 * @returns a buffer whose every byte the caller must write
 */
export function allocFrame(size: number): Uint8Array {
  return Buffer.allocUnsafe(size);
}

/**
 * The status message for a frame whose declared length exceeds the limit, worded as ttrpc does.
 *
 * @param length the declared data length
 * @param max the limit
 * @returns `message length <length> exceed maximum message size of <max>`
 */
export function oversizedMessage(length: number, max: number): string {
  return `message length ${length} exceed maximum message size of ${max}`;
}

/**
 * Writes a frame header into `buf` at `offset`.
 *
 * @param buf destination, at least `offset + 10` bytes long
 * @param offset where the header starts
 * @param length data length that follows the header
 * @param streamId stream id
 * @param type frame type
 * @param flags flag bits
 */
export function writeHeader(
  buf: Uint8Array,
  offset: number,
  length: number,
  streamId: number,
  type: number,
  flags: number,
): void {
  buf[offset] = length >>> 24;
  buf[offset + 1] = length >>> 16;
  buf[offset + 2] = length >>> 8;
  buf[offset + 3] = length;
  buf[offset + 4] = streamId >>> 24;
  buf[offset + 5] = streamId >>> 16;
  buf[offset + 6] = streamId >>> 8;
  buf[offset + 7] = streamId;
  buf[offset + 8] = type;
  buf[offset + 9] = flags;
}

/**
 * Builds one complete frame (header and data in a single buffer).
 *
 * @param streamId stream id
 * @param type frame type
 * @param flags flag bits
 * @param data frame data (may be empty)
 * @returns the encoded frame
 */
export function encodeFrame(
  streamId: number,
  type: number,
  flags: number,
  data: Uint8Array = EMPTY,
): Uint8Array {
  const out = allocFrame(MESSAGE_HEADER_LENGTH + data.length);
  writeHeader(out, 0, data.length, streamId, type, flags);
  out.set(data, MESSAGE_HEADER_LENGTH);
  return out;
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/**
 * A push decoder for TTRPC frames. Feed it chunks in any split; it returns the
 * frames completed by each chunk. The length limit is enforced when the header
 * is read: an oversized frame is returned at once with `oversized: true` and
 * its data is skipped as it arrives, so nothing of it is ever buffered.
 */
export class FrameDecoder {
  readonly #max: number;
  readonly #copy: boolean;
  readonly #header = new Uint8Array(MESSAGE_HEADER_LENGTH);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #streamId = 0;
  #type = 0;
  #flags = 0;
  #skip = 0;

  /** @param options limit and copy behaviour, see {@link FrameDecoderOptions} */
  constructor(options: FrameDecoderOptions = {}) {
    this.#max = options.maxMessageLength ?? MESSAGE_LENGTH_MAX;
    this.#copy = options.copy ?? false;
  }

  /**
   * Bytes received so far of the incomplete frame (header included); 0 between
   * frames and while skipping an oversized frame, whose bytes are never kept.
   */
  get buffered(): number {
    return this.#body !== null ? MESSAGE_HEADER_LENGTH + this.#bodyFill : this.#headerFill;
  }

  /** True when the decoder is in the middle of a frame (or skipping an oversized one). */
  get partial(): boolean {
    return this.#headerFill > 0 || this.#body !== null || this.#skip > 0;
  }

  /**
   * Consumes a chunk of bytes.
   *
   * @param chunk the next bytes from the peer
   * @returns the frames completed by this chunk, in order (often empty or one)
   */
  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    const end = chunk.length;
    let pos = 0;
    while (pos < end) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - pos);
        this.#skip -= n;
        pos += n;
        continue;
      }
      const body = this.#body;
      if (body !== null) {
        const n = Math.min(body.length - this.#bodyFill, end - pos);
        body.set(chunk.subarray(pos, pos + n), this.#bodyFill);
        this.#bodyFill += n;
        pos += n;
        if (this.#bodyFill === body.length) {
          out.push(this.#frame(body.length, body, false));
          this.#body = null;
          this.#bodyFill = 0;
        }
        continue;
      }
      let length: number;
      if (this.#headerFill === 0 && end - pos >= MESSAGE_HEADER_LENGTH) {
        length = readU32(chunk, pos);
        this.#streamId = readU32(chunk, pos + 4);
        this.#type = chunk[pos + 8];
        this.#flags = chunk[pos + 9];
        pos += MESSAGE_HEADER_LENGTH;
      } else {
        const n = Math.min(MESSAGE_HEADER_LENGTH - this.#headerFill, end - pos);
        this.#header.set(chunk.subarray(pos, pos + n), this.#headerFill);
        this.#headerFill += n;
        pos += n;
        if (this.#headerFill < MESSAGE_HEADER_LENGTH) break;
        const h = this.#header;
        length = readU32(h, 0);
        this.#streamId = readU32(h, 4);
        this.#type = h[8];
        this.#flags = h[9];
        this.#headerFill = 0;
      }
      if (length > this.#max) {
        out.push(this.#frame(length, EMPTY, true));
        this.#skip = length;
      } else if (end - pos >= length) {
        let data = EMPTY;
        if (length > 0) {
          data = chunk.subarray(pos, pos + length);
          if (this.#copy) {
            // Not chunk.slice(): on a node Buffer that is a view, not a copy.
            const copy = allocFrame(length);
            copy.set(data);
            data = copy;
          }
        }
        pos += length;
        out.push(this.#frame(length, data, false));
      } else {
        const b = allocFrame(length);
        const n = end - pos;
        b.set(chunk.subarray(pos, end), 0);
        this.#body = b;
        this.#bodyFill = n;
        pos = end;
      }
    }
    return out;
  }

  #frame(length: number, data: Uint8Array, oversized: boolean): Frame {
    return {
      streamId: this.#streamId,
      type: this.#type,
      flags: this.#flags,
      length,
      data,
      oversized,
    };
  }
}
