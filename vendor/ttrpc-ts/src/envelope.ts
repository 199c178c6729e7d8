/**
 * A small hand-written codec for the TTRPC envelopes (Request, Response,
 * KeyValue, Status). They are tiny and on every call, so they are encoded
 * straight into the outgoing frame buffer instead of going through protobuf
 * reflection. `proto/ttrpc.proto` is the schema; the tests cross-check this
 * codec against protobuf-es.
 *
 * @module
 */

import type { Any } from "@bufbuild/protobuf/wkt";
import { allocFrame, MESSAGE_HEADER_LENGTH, MessageType, writeHeader } from "./frame.ts";
import { varintSize, writeVarint } from "./wire.ts";

/** Metadata to send: keys are lowercased on the wire; an array value sends the key once per value. */
export type MetadataInit = Readonly<Record<string, string | readonly string[]>>;

/** Received metadata: lowercased key → values in arrival order. */
export type Metadata = Record<string, string[]>;

/** A decoded Request envelope. */
export interface RequestEnvelope {
  /** Fully qualified service name. */
  service: string;
  /** Method name. */
  method: string;
  /** Serialized request message (a subarray of the frame, not a copy). */
  payload: Uint8Array;
  /** Whether the payload field was present on the wire. */
  hasPayload: boolean;
  /** Relative deadline in nanoseconds; 0 = none. */
  timeoutNano: number;
  /** Metadata, keys lowercased. */
  metadata: Metadata;
}

/** A status as carried in a Response envelope. */
export interface StatusEnvelope {
  /** Status code (0 = OK). */
  code: number;
  /** Status message. */
  message: string;
  /** Status details. */
  details: Any[];
}

/** A decoded Response envelope. */
export interface ResponseEnvelope {
  /** The status, absent when the server left it out (success). */
  status: StatusEnvelope | undefined;
  /** Serialized response message (a subarray of the frame, not a copy). */
  payload: Uint8Array;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

// Field tags: (field << 3) | wire type.
const TAG_SERVICE = 0x0a;
const TAG_METHOD = 0x12;
const TAG_REQ_PAYLOAD = 0x1a;
const TAG_TIMEOUT = 0x20;
const TAG_METADATA = 0x2a;
const TAG_KEY = 0x0a;
const TAG_VALUE = 0x12;
const TAG_STATUS = 0x0a;
const TAG_RESP_PAYLOAD = 0x12;
const TAG_CODE = 0x08;
const TAG_MESSAGE = 0x12;
const TAG_DETAILS = 0x1a;
const TAG_TYPE_URL = 0x0a;
const TAG_ANY_VALUE = 0x12;

// ---- size and write helpers ----

function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) return encoder.encode(s).length;
  }
  return n;
}

function writeUtf8(
  buf: Uint8Array,
  pos: number,
  s: string,
  len: number,
): number {
  if (len === s.length) {
    for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
  } else {
    encoder.encodeInto(s, buf.subarray(pos, pos + len));
  }
  return pos + len;
}

/** Size of a signed int32/int64 as protobuf encodes it (negative → 10 bytes). */
function signedSize(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

function writeSigned(buf: Uint8Array, pos: number, v: number): number {
  if (v >= 0) return writeVarint(buf, pos, v);
  // Two's complement over 64 bits.
  let lo = Number(BigInt.asUintN(32, BigInt(v)));
  let hi = Number(BigInt.asUintN(32, BigInt(v) >> 32n));
  for (let i = 0; i < 9; i++) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi = hi >>> 7;
  }
  buf[pos++] = lo & 0x01;
  return pos;
}

function fieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

// ---- request ----

/**
 * Encodes the constant head of every request for one method (fields 1 and 2),
 * so the hot path copies it instead of re-encoding strings.
 *
 * @param service fully qualified service name
 * @param method method name
 * @returns encoded fields 1 and 2
 */
export function encodeRequestPrefix(
  service: string,
  method: string,
): Uint8Array {
  const sl = utf8Length(service);
  const ml = utf8Length(method);
  const size = (sl > 0 ? fieldSize(sl) : 0) + (ml > 0 ? fieldSize(ml) : 0);
  const out = new Uint8Array(size);
  let p = 0;
  if (sl > 0) {
    out[p++] = TAG_SERVICE;
    p = writeVarint(out, p, sl);
    p = writeUtf8(out, p, service, sl);
  }
  if (ml > 0) {
    out[p++] = TAG_METHOD;
    p = writeVarint(out, p, ml);
    writeUtf8(out, p, method, ml);
  }
  return out;
}

/**
 * Encodes metadata as repeated Request field 5 entries. Keys are lowercased;
 * an array value repeats the key.
 *
 * @param md metadata, or undefined for none
 * @returns the encoded entries (empty when there are none)
 */
export function encodeMetadata(md: MetadataInit | undefined): Uint8Array {
  if (md === undefined) return EMPTY;
  const pairs: string[] = [];
  for (const key of Object.keys(md)) {
    const v = md[key];
    const k = key.toLowerCase();
    if (typeof v === "string") pairs.push(k, v);
    else for (const item of v) pairs.push(k, item);
  }
  if (pairs.length === 0) return EMPTY;
  const lens: number[] = new Array(pairs.length);
  let size = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const kl = (lens[i] = utf8Length(pairs[i]));
    const vl = (lens[i + 1] = utf8Length(pairs[i + 1]));
    const inner = (kl > 0 ? fieldSize(kl) : 0) + (vl > 0 ? fieldSize(vl) : 0);
    size += fieldSize(inner);
  }
  const out = new Uint8Array(size);
  let p = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const kl = lens[i];
    const vl = lens[i + 1];
    out[p++] = TAG_METADATA;
    p = writeVarint(
      out,
      p,
      (kl > 0 ? fieldSize(kl) : 0) + (vl > 0 ? fieldSize(vl) : 0),
    );
    if (kl > 0) {
      out[p++] = TAG_KEY;
      p = writeVarint(out, p, kl);
      p = writeUtf8(out, p, pairs[i], kl);
    }
    if (vl > 0) {
      out[p++] = TAG_VALUE;
      p = writeVarint(out, p, vl);
      p = writeUtf8(out, p, pairs[i + 1], vl);
    }
  }
  return out;
}

/**
 * Returns the data length of a request built by {@link writeRequestFrame}.
 *
 * @param prefix output of {@link encodeRequestPrefix}
 * @param payload serialized request message
 * @param timeoutNano relative deadline in ns (0 = none)
 * @param metadata output of {@link encodeMetadata}
 * @returns the envelope size in bytes, without the frame header
 */
export function requestSize(
  prefix: Uint8Array,
  payload: Uint8Array,
  timeoutNano: number,
  metadata: Uint8Array,
): number {
  return prefix.length + (payload.length > 0 ? fieldSize(payload.length) : 0) +
    (timeoutNano !== 0 ? 1 + signedSize(timeoutNano) : 0) + metadata.length;
}

/**
 * Builds a complete Request frame (header and envelope) in one buffer.
 *
 * @param streamId stream id
 * @param flags request flags (0 unary, RemoteClosed, RemoteOpen)
 * @param size the value of {@link requestSize} for the same arguments
 * @param prefix output of {@link encodeRequestPrefix}
 * @param payload serialized request message
 * @param timeoutNano relative deadline in ns (0 = none)
 * @param metadata output of {@link encodeMetadata}
 * @returns the frame bytes
 */
export function writeRequestFrame(
  streamId: number,
  flags: number,
  size: number,
  prefix: Uint8Array,
  payload: Uint8Array,
  timeoutNano: number,
  metadata: Uint8Array,
): Uint8Array {
  const buf = allocFrame(MESSAGE_HEADER_LENGTH + size);
  writeHeader(buf, 0, size, streamId, MessageType.Request, flags);
  let p = MESSAGE_HEADER_LENGTH;
  buf.set(prefix, p);
  p += prefix.length;
  if (payload.length > 0) {
    buf[p++] = TAG_REQ_PAYLOAD;
    p = writeVarint(buf, p, payload.length);
    buf.set(payload, p);
    p += payload.length;
  }
  if (timeoutNano !== 0) {
    buf[p++] = TAG_TIMEOUT;
    p = writeSigned(buf, p, timeoutNano);
  }
  if (metadata.length > 0) buf.set(metadata, p);
  return buf;
}

/**
 * Encodes a Request envelope (without a frame header).
 *
 * @param req the envelope fields; `metadata` is an init record
 * @returns the serialized envelope
 */
export function encodeRequest(req: {
  service: string;
  method: string;
  payload?: Uint8Array;
  timeoutNano?: number;
  metadata?: MetadataInit;
}): Uint8Array {
  const prefix = encodeRequestPrefix(req.service, req.method);
  const payload = req.payload ?? EMPTY;
  const timeout = req.timeoutNano ?? 0;
  const md = encodeMetadata(req.metadata);
  const size = requestSize(prefix, payload, timeout, md);
  return writeRequestFrame(0, 0, size, prefix, payload, timeout, md).subarray(
    MESSAGE_HEADER_LENGTH,
  );
}

// ---- reading ----

class Reader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;
  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reads a varint and returns its low 32 bits as an unsigned number. */
  uint32(): number {
    const b = this.buf;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const byte = b[this.pos++];
      if (shift < 32) result |= (byte & 0x7f) << shift;
      shift += 7;
      if (byte < 0x80) return result >>> 0;
    }
    throw new Error("varint too long");
  }

  /** Reads a varint as a signed 64-bit value, as a (possibly lossy) number. */
  int64(): number {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const byte = b[this.pos++];
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) {
        lo >>>= 0;
        return hi & 0x80000000 ? ((hi | 0) * 0x100000000 + lo) : (hi >>> 0) * 0x100000000 + lo;
      }
    }
    throw new Error("varint too long");
  }

  /** Reads a length prefix and returns the [start, end) of the delimited bytes. */
  delimited(): number {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) {
      throw new Error("truncated length-delimited field");
    }
    this.pos = start + len;
    return start;
  }

  string(): string {
    const start = this.delimited();
    return readUtf8(this.buf, start, this.pos);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.uint32();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.delimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error("truncated fixed-width field");
  }
}

/** Recently decoded short ASCII strings (service, method, metadata), by hash. */
const interned = new Map<number, string>();
const INTERN_MAX_LEN = 64;
const INTERN_MAX_ENTRIES = 512;

function readUtf8(buf: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return "";
  if (len > INTERN_MAX_LEN) return decoder.decode(buf.subarray(start, end));
  // FNV-1a over the bytes; the hit is verified byte by byte below.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c >= 0x80) return decoder.decode(buf.subarray(start, end));
    h = Math.imul(h ^ c, 0x01000193);
  }
  const hit = interned.get(h);
  if (hit !== undefined && hit.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (hit.charCodeAt(i) !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]);
  if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
  interned.set(h, s);
  return s;
}

/**
 * Decodes a Request envelope.
 *
 * @param buf the frame data
 * @returns the envelope; `payload` is a subarray of `buf`
 * @throws {Error} when the bytes are not a valid Request
 */
export function decodeRequest(buf: Uint8Array): RequestEnvelope {
  const r = new Reader(buf, 0, buf.length);
  const req: RequestEnvelope = {
    service: "",
    method: "",
    payload: EMPTY,
    hasPayload: false,
    timeoutNano: 0,
    metadata: Object.create(null) as Metadata,
  };
  while (r.pos < r.end) {
    const tag = r.uint32();
    switch (tag) {
      case TAG_SERVICE:
        req.service = r.string();
        break;
      case TAG_METHOD:
        req.method = r.string();
        break;
      case TAG_REQ_PAYLOAD: {
        const start = r.delimited();
        req.payload = buf.subarray(start, r.pos);
        req.hasPayload = true;
        break;
      }
      case TAG_TIMEOUT:
        req.timeoutNano = r.int64();
        break;
      case TAG_METADATA: {
        const start = r.delimited();
        const outerEnd = r.end;
        const next = r.pos;
        r.pos = start;
        r.end = next;
        readKeyValue(r, req.metadata);
        r.end = outerEnd;
        break;
      }
      default:
        skipField(r, tag);
    }
  }
  return req;
}

function skipField(r: Reader, tag: number): void {
  if (tag >>> 3 === 0) throw new Error("invalid field number 0");
  r.skip(tag & 7);
}

function readKeyValue(r: Reader, md: Metadata): void {
  let key = "";
  let value = "";
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === TAG_KEY) key = r.string().toLowerCase();
    else if (tag === TAG_VALUE) value = r.string();
    else skipField(r, tag);
  }
  const list = md[key];
  if (list === undefined) md[key] = [value];
  else list.push(value);
}

/**
 * Decodes a Response envelope.
 *
 * @param buf the frame data
 * @returns the envelope; `payload` is a subarray of `buf`
 * @throws {Error} when the bytes are not a valid Response
 */
export function decodeResponse(buf: Uint8Array): ResponseEnvelope {
  let status: StatusEnvelope | undefined;
  let payload = EMPTY;
  const r = new Reader(buf, 0, buf.length);
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === TAG_RESP_PAYLOAD) {
      const start = r.delimited();
      payload = buf.subarray(start, r.pos);
    } else if (tag === TAG_STATUS) {
      const start = r.delimited();
      status = readStatus(new Reader(buf, start, r.pos));
    } else {
      skipField(r, tag);
    }
  }
  return { status, payload };
}

function readStatus(r: Reader): StatusEnvelope {
  const st: StatusEnvelope = { code: 0, message: "", details: [] };
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === TAG_CODE) st.code = r.uint32() | 0;
    else if (tag === TAG_MESSAGE) st.message = r.string();
    else if (tag === TAG_DETAILS) {
      const start = r.delimited();
      st.details.push(readAny(new Reader(r.buf, start, r.pos)));
    } else skipField(r, tag);
  }
  return st;
}

function readAny(r: Reader): Any {
  let typeUrl = "";
  let value = EMPTY;
  while (r.pos < r.end) {
    const tag = r.uint32();
    if (tag === TAG_TYPE_URL) typeUrl = r.string();
    else if (tag === TAG_ANY_VALUE) {
      const start = r.delimited();
      value = new Uint8Array(r.pos - start);
      value.set(r.buf.subarray(start, r.pos));
    } else skipField(r, tag);
  }
  // The message protobuf-es's create(AnySchema, …) makes, without importing the well-known types: their
  // descriptors are decoded at import time, which costs every short-lived client milliseconds.
  return { $typeName: "google.protobuf.Any", typeUrl, value };
}

// ---- response ----

function statusSize(
  st: StatusEnvelope,
  msgLen: number,
  urlLens: number[],
): number {
  let size = (st.code !== 0 ? 1 + signedSize(st.code) : 0) +
    (msgLen > 0 ? fieldSize(msgLen) : 0);
  for (let i = 0; i < st.details.length; i++) {
    const d = st.details[i];
    const ul = (urlLens[i] = utf8Length(d.typeUrl));
    size += fieldSize(
      (ul > 0 ? fieldSize(ul) : 0) +
        (d.value.length > 0 ? fieldSize(d.value.length) : 0),
    );
  }
  return size;
}

/**
 * Builds a complete Response frame (header and envelope) in one buffer.
 *
 * @param streamId stream id being answered
 * @param status the status to send, or undefined for success (left out, as Go does)
 * @param payload serialized response message
 * @returns the frame bytes
 */
export function writeResponseFrame(
  streamId: number,
  status: StatusEnvelope | undefined,
  payload: Uint8Array,
): Uint8Array {
  let stSize = 0;
  let msgLen = 0;
  const urlLens: number[] = [];
  if (status !== undefined) {
    msgLen = utf8Length(status.message);
    stSize = statusSize(status, msgLen, urlLens);
  }
  const size = (status !== undefined ? fieldSize(stSize) : 0) +
    (payload.length > 0 ? fieldSize(payload.length) : 0);
  const buf = allocFrame(MESSAGE_HEADER_LENGTH + size);
  writeHeader(buf, 0, size, streamId, MessageType.Response, 0);
  let p = MESSAGE_HEADER_LENGTH;
  if (status !== undefined) {
    buf[p++] = TAG_STATUS;
    p = writeVarint(buf, p, stSize);
    if (status.code !== 0) {
      buf[p++] = TAG_CODE;
      p = writeSigned(buf, p, status.code);
    }
    if (msgLen > 0) {
      buf[p++] = TAG_MESSAGE;
      p = writeVarint(buf, p, msgLen);
      p = writeUtf8(buf, p, status.message, msgLen);
    }
    for (let i = 0; i < status.details.length; i++) {
      const d = status.details[i];
      const ul = urlLens[i];
      buf[p++] = TAG_DETAILS;
      p = writeVarint(
        buf,
        p,
        (ul > 0 ? fieldSize(ul) : 0) +
          (d.value.length > 0 ? fieldSize(d.value.length) : 0),
      );
      if (ul > 0) {
        buf[p++] = TAG_TYPE_URL;
        p = writeVarint(buf, p, ul);
        p = writeUtf8(buf, p, d.typeUrl, ul);
      }
      if (d.value.length > 0) {
        buf[p++] = TAG_ANY_VALUE;
        p = writeVarint(buf, p, d.value.length);
        buf.set(d.value, p);
        p += d.value.length;
      }
    }
  }
  if (payload.length > 0) {
    buf[p++] = TAG_RESP_PAYLOAD;
    p = writeVarint(buf, p, payload.length);
    buf.set(payload, p);
  }
  return buf;
}

/**
 * Encodes a Response envelope (without a frame header).
 *
 * @param status the status, or undefined for none
 * @param payload serialized response message
 * @returns the serialized envelope
 */
export function encodeResponse(
  status: StatusEnvelope | undefined,
  payload: Uint8Array = EMPTY,
): Uint8Array {
  return writeResponseFrame(0, status, payload).subarray(MESSAGE_HEADER_LENGTH);
}
