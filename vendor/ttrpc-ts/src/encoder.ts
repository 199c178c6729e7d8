/**
 * Protobuf binary encoding for the call path: the bytes protobuf-es's
 * `toBinary` produces, written into one reused scratch buffer.
 *
 * Why. Every `toBinary` call allocates a fresh 128-byte buffer for its writer
 * and a second one for `finish()`'s copy. Under Deno 2.9 a fresh
 * `ArrayBuffer` costs 0.5–3 µs (a view into an existing one costs 0.05 µs),
 * so encoding a one-field `ConnectRequest` took 4.6 µs there against 0.23 µs
 * under Bun, and a sequential TTRPC call spent more time encoding its request
 * than in ttrpc-ts itself (`scripts/bench/ttrpc.ts`, BENCHMARKS.md item 15).
 * Here the message is written into a module-level buffer kept between calls and
 * copied out into the next free part of an output slab.
 *
 * What it covers. Each message schema is compiled once into field writers
 * that follow protobuf-es's own (`to-binary.js`): fields in field-number
 * order, the same presence rules (implicit zero values skipped, explicit
 * presence by own property, oneofs by `case`), packed and unpacked lists,
 * maps (keys converted as protobuf-es converts them), unknown fields last.
 * Schemas that reach a field protobuf-es gives a special local form
 * (`google.protobuf.Struct` as JSON, unwrapped wrapper types) or a group
 * (delimited encoding) are not compiled: they go to `toBinary`. So does any
 * value the fast path would have to coerce or reject (a 32-bit integer given
 * as a string, a value out of range, a message of another type, a missing
 * required field): `toBinary` then writes it, or throws its own error, so
 * both paths accept and refuse exactly the same messages.
 *
 * @module
 */

import type { DescField, DescMessage, MessageShape } from "@bufbuild/protobuf";
import { isPlainSchema, wireTypeOf } from "./codec_schema.ts";
import { create, protoInt64, ScalarType, toBinary } from "./protobuf.ts";
import { LEN, varintSize, writeVarint } from "./wire.ts";

// FeatureSet.FieldPresence values protobuf-es reports in `DescField.presence`.
const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;
const FLOAT32_MAX = 3.4028234663852886e38;

/** The scratch buffer's size at start, and the size it is cut back to after a larger message. */
const SCRATCH_SIZE = 1024;
/** Scratch larger than this is dropped after use, so one big message does not stay allocated. */
const SCRATCH_KEEP = 64 * 1024;

/** Thrown inside the fast path when a value needs `toBinary`'s coercion or error. */
const BAIL: unique symbol = Symbol("ttrpc-ts.encoder.bail");

/** Writes one message's fields (not its tag or length) at the current position. */
type MessageWriter = (message: Record<string, unknown>) => void;
/** Writes one field of a message, when it is set. */
type FieldWriter = (message: Record<string, unknown>) => void;
/** Writes one scalar value, without its tag. */
type ScalarWriter = (value: unknown) => void;

let buf: Uint8Array = new Uint8Array(SCRATCH_SIZE);
let view = new DataView(buf.buffer);
let pos = 0;
/** Start positions of the length-delimited values being written (see {@link fork}). */
const forks: number[] = [];
/** True while a message is being written: a nested call (from a getter) takes `toBinary`. */
let busy = false;

/** Compiled writers by schema; `null` marks a schema that always goes to `toBinary`. */
const writers = new WeakMap<DescMessage, MessageWriter | null>();

/**
 * Encodes a message in the protobuf binary format: the same bytes as
 * protobuf-es's `toBinary(schema, message)`, and the same errors, with no
 * fresh `ArrayBuffer` for small messages.
 *
 * @param schema the message's schema
 * @param message a message of that schema (from `create`)
 * @returns the encoded bytes; for small messages a view into a slab shared with other
 *   encoded messages (never reused, but copy it before touching its `.buffer`)
 * @throws {Error} what `toBinary` throws for the message (a foreign message, a value out of range, …)
 */
export function encodeMessage<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): Uint8Array {
  const write = writerOf(schema);
  if (write === null || busy) return toBinary(schema, message);
  busy = true;
  pos = 0;
  forks.length = 0;
  try {
    write(message as unknown as Record<string, unknown>);
  } catch (err) {
    if (err !== BAIL) throw err;
    return toBinary(schema, message);
  } finally {
    busy = false;
  }
  const out = takeOutput(pos);
  if (buf.length > SCRATCH_KEEP) setScratch(new Uint8Array(SCRATCH_SIZE));
  return out;
}

/**
 * Encodes a message of `schema` from an init object: `create` then
 * {@link encodeMessage}.
 *
 * @param schema the message's schema
 * @param init a message or a partial init object, as `create` takes
 * @returns the encoded bytes
 * @throws {Error} what `create` or `toBinary` throws for it
 */
export function encodeInit<Desc extends DescMessage>(schema: Desc, init: unknown): Uint8Array {
  return encodeMessage(schema, create(schema, init as Parameters<typeof create<Desc>>[1]));
}

/**
 * Whether messages of `schema` are written by the compiled fast path (false:
 * every one goes to `toBinary`). For tests and benchmarks.
 *
 * @param schema a message schema
 * @returns true when the schema compiles
 */
export function usesFastPath(schema: DescMessage): boolean {
  return writerOf(schema) !== null;
}

// ---------------------------------------------------------------- the writer

/**
 * Encoded messages are copied out of the scratch into consecutive views of an
 * output slab, never reused, so a small message costs no allocation of its own
 * (the same scheme as the Deno connection's read slab). Larger ones get their own buffer.
 */
const OUTPUT_SLAB_SIZE = 16 * 1024;
const OUTPUT_OWN_MIN = 2 * 1024;
let outSlab: Uint8Array = new Uint8Array(0);
let outOff = 0;

function takeOutput(len: number): Uint8Array {
  if (len >= OUTPUT_OWN_MIN) return buf.slice(0, len);
  if (outOff + len > outSlab.length) {
    outSlab = new Uint8Array(OUTPUT_SLAB_SIZE);
    outOff = 0;
  }
  const out = outSlab.subarray(outOff, outOff + len);
  outOff += len;
  out.set(buf.subarray(0, len));
  return out;
}

function setScratch(next: Uint8Array): void {
  buf = next;
  view = new DataView(buf.buffer);
}

/** Makes room for `n` more bytes at `pos`. Growing keeps every byte (some sit past `pos` in `join`). */
function ensure(n: number): void {
  const need = pos + n;
  if (need <= buf.length) return;
  let size = buf.length * 2;
  while (size < need) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf);
  setScratch(next);
}

function writeVarint32(v: number): void {
  ensure(5);
  pos = writeVarint(buf, pos, v);
}

function writeTag(fieldNo: number, wireType: number): void {
  writeVarint32(((fieldNo << 3) | wireType) >>> 0);
}

/** A negative int32 is written as its 64-bit two's complement: 10 bytes. */
function writeInt32(v: number): void {
  if (v >= 0) {
    writeVarint32(v);
    return;
  }
  ensure(10);
  for (let i = 0; i < 9; i++) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>= 7;
  }
  buf[pos++] = 1;
}

function writeVarint64(lo: number, hi: number): void {
  ensure(10);
  for (let i = 0; i < 28; i += 7) {
    const shift = lo >>> i;
    const more = !(shift >>> 7 === 0 && hi === 0);
    buf[pos++] = (more ? shift | 0x80 : shift) & 0xff;
    if (!more) return;
  }
  const split = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
  const moreHi = !(hi >> 3 === 0);
  buf[pos++] = (moreHi ? split | 0x80 : split) & 0xff;
  if (!moreHi) return;
  for (let i = 3; i < 31; i += 7) {
    const shift = hi >>> i;
    const more = !(shift >>> 7 === 0);
    buf[pos++] = (more ? shift | 0x80 : shift) & 0xff;
    if (!more) return;
  }
  buf[pos++] = (hi >>> 31) & 0x01;
}

function writeBytes(b: Uint8Array): void {
  writeVarint32(b.length);
  ensure(b.length);
  buf.set(b, pos);
  pos += b.length;
}

/** Strings: ASCII written byte by byte; anything else through `TextEncoder.encodeInto`. */
const utf8 = new TextEncoder();

function writeString(s: string): void {
  const len = s.length;
  if (len < 0x80) {
    ensure(len + 1);
    let p = pos + 1;
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[p++] = c;
    }
    if (i === len) {
      buf[pos] = len;
      pos = p;
      return;
    }
  }
  // At most 3 bytes per UTF-16 unit; the length prefix is moved if its guess was short.
  const guess = varintSize(len * 3);
  ensure(guess + len * 3);
  const { written } = utf8.encodeInto(s, buf.subarray(pos + guess));
  const size = varintSize(written);
  if (size !== guess) buf.copyWithin(pos + size, pos + guess, pos + guess + written);
  writeVarint32(written);
  pos += written;
}

/** Starts a length-delimited value: one byte is kept for its length, moved in {@link join} if it needs more. */
function fork(): void {
  ensure(1);
  forks.push(pos);
  pos++;
}

function join(): void {
  const start = forks.pop()!;
  const len = pos - start - 1;
  const size = varintSize(len);
  if (size > 1) {
    ensure(size - 1);
    buf.copyWithin(start + size, start + 1, pos);
  }
  pos = start;
  writeVarint32(len);
  pos += len;
}

function isInt32(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v <= INT32_MAX && v >= INT32_MIN;
}

function isUint32(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v <= UINT32_MAX && v >= 0;
}

// ---------------------------------------------------------------- compiling

function writerOf(schema: DescMessage): MessageWriter | null {
  const known = writers.get(schema);
  if (known !== undefined) return known;
  if (!isPlainSchema(schema)) {
    writers.set(schema, null);
    return null;
  }
  return compileMessage(schema);
}

function compileMessage(schema: DescMessage): MessageWriter {
  const typeName = schema.typeName;
  const fields = schema.fields.concat().sort((a, b) => a.number - b.number);
  const fieldWriters: FieldWriter[] = [];
  const write: MessageWriter = (message) => {
    if (message.$typeName !== typeName && fields.length > 0) throw BAIL;
    for (let i = 0; i < fieldWriters.length; i++) fieldWriters[i](message);
    const unknown = message.$unknown as { no: number; wireType: number; data: Uint8Array }[] | undefined;
    if (unknown !== undefined) {
      for (let i = 0; i < unknown.length; i++) {
        const { no, wireType, data } = unknown[i];
        writeTag(no, wireType);
        ensure(data.length);
        buf.set(data, pos);
        pos += data.length;
      }
    }
  };
  // Registered before the fields compile, so a recursive schema finds itself.
  writers.set(schema, write);
  for (const field of fields) fieldWriters.push(compileField(field));
  return write;
}

function compileField(field: DescField): FieldWriter {
  const name = field.localName;
  const no = field.number;
  switch (field.fieldKind) {
    case "message": {
      const writeChild = childWriter(field.message, no);
      return presence(field, (value) => writeChild(value as Record<string, unknown> | undefined));
    }
    case "scalar":
    case "enum": {
      const type = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const wire = wireTypeOf(type);
      const writeValue = scalarWriter(type);
      return presence(field, (value) => {
        writeTag(no, wire);
        writeValue(value);
      });
    }
    case "list": {
      if (field.listKind === "message") {
        const writeChild = childWriter(field.message, no);
        return (message) => {
          const items = message[name] as Record<string, unknown>[];
          for (let i = 0; i < items.length; i++) writeChild(items[i]);
        };
      }
      const type = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const writeValue = scalarWriter(type);
      if (field.packed) {
        return (message) => {
          const items = message[name] as unknown[];
          if (items.length === 0) return;
          writeTag(no, LEN);
          fork();
          for (let i = 0; i < items.length; i++) writeValue(items[i]);
          join();
        };
      }
      const wire = wireTypeOf(type);
      return (message) => {
        const items = message[name] as unknown[];
        for (let i = 0; i < items.length; i++) {
          writeTag(no, wire);
          writeValue(items[i]);
        }
      };
    }
    case "map": {
      const keyType = field.mapKey;
      const keyWire = wireTypeOf(keyType);
      const writeKey = scalarWriter(keyType);
      const convert = mapKeyConverter(keyType);
      let writeEntryValue: (value: unknown) => void;
      if (field.mapKind === "message") {
        const writeChild = childWriter(field.message, 2);
        writeEntryValue = (value) => writeChild(value as Record<string, unknown> | undefined);
      } else {
        const type = field.mapKind === "enum" ? ScalarType.INT32 : field.scalar;
        const wire = wireTypeOf(type);
        const writeValue = scalarWriter(type);
        writeEntryValue = (value) => {
          writeTag(2, wire);
          writeValue(value);
        };
      }
      return (message) => {
        const record = message[name] as Record<string, unknown>;
        const keys = Object.keys(record);
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i];
          writeTag(no, LEN);
          fork();
          writeTag(1, keyWire);
          writeKey(convert(key));
          writeEntryValue(record[key]);
          join();
        }
      };
    }
  }
}

/** Wraps a value writer in the field's presence check (as protobuf-es decides "is set"). */
function presence(field: DescField, writeValue: (value: unknown) => void): FieldWriter {
  const name = field.localName;
  if (field.oneof !== undefined) {
    const oneofName = field.oneof.localName;
    return (message) => {
      const oneof = message[oneofName] as { case?: string; value?: unknown };
      if (oneof.case === name) writeValue(oneof.value);
    };
  }
  if (field.presence !== IMPLICIT) {
    const required = field.presence === LEGACY_REQUIRED;
    return (message) => {
      const value = message[name];
      if (value !== undefined && Object.prototype.hasOwnProperty.call(message, name)) writeValue(value);
      else if (required) throw BAIL;
    };
  }
  if (field.fieldKind === "enum") {
    const zero = field.enum.values[0].number;
    return (message) => {
      const value = message[name];
      if (value !== zero) writeValue(value);
    };
  }
  switch (field.fieldKind === "scalar" ? field.scalar : 0) {
    case ScalarType.BOOL:
      return (message) => {
        const value = message[name];
        if (value !== false) writeValue(value);
      };
    case ScalarType.STRING:
      return (message) => {
        const value = message[name];
        if (value !== "") writeValue(value);
      };
    case ScalarType.BYTES:
      return (message) => {
        const value = message[name];
        if (!(value instanceof Uint8Array) || value.byteLength > 0) writeValue(value);
      };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return (message) => {
        const value = message[name];
        if (!Object.is(value, 0)) writeValue(value);
      };
    default:
      return (message) => {
        const value = message[name];
        // Loose, as protobuf-es: 0, 0n and "0" are all zero.
        if (value != 0) writeValue(value);
      };
  }
}

/** Writes a child message with its tag and length; an absent child is an empty message. */
function childWriter(schema: DescMessage, no: number): (child: Record<string, unknown> | undefined) => void {
  let write: MessageWriter | undefined;
  return (child) => {
    write ??= writers.get(schema) ?? compileMessage(schema);
    writeTag(no, LEN);
    fork();
    write(child ?? (create(schema) as unknown as Record<string, unknown>));
    join();
  };
}

function scalarWriter(type: ScalarType): ScalarWriter {
  switch (type) {
    case ScalarType.STRING:
      return (v) => writeString(typeof v === "string" ? v : String(v));
    case ScalarType.BOOL:
      return (v) => {
        ensure(1);
        buf[pos++] = v ? 1 : 0;
      };
    case ScalarType.DOUBLE:
      return (v) => {
        if (typeof v !== "number") throw BAIL;
        ensure(8);
        view.setFloat64(pos, v, true);
        pos += 8;
      };
    case ScalarType.FLOAT:
      return (v) => {
        if (typeof v !== "number" || (Number.isFinite(v) && (v > FLOAT32_MAX || v < -FLOAT32_MAX))) {
          throw BAIL;
        }
        ensure(4);
        view.setFloat32(pos, v, true);
        pos += 4;
      };
    case ScalarType.INT32:
      return (v) => {
        if (!isInt32(v)) throw BAIL;
        writeInt32(v);
      };
    case ScalarType.UINT32:
      return (v) => {
        if (!isUint32(v)) throw BAIL;
        writeVarint32(v);
      };
    case ScalarType.SINT32:
      return (v) => {
        if (!isInt32(v)) throw BAIL;
        writeVarint32(((v << 1) ^ (v >> 31)) >>> 0);
      };
    case ScalarType.FIXED32:
      return (v) => {
        if (!isUint32(v)) throw BAIL;
        ensure(4);
        view.setUint32(pos, v, true);
        pos += 4;
      };
    case ScalarType.SFIXED32:
      return (v) => {
        if (!isInt32(v)) throw BAIL;
        ensure(4);
        view.setInt32(pos, v, true);
        pos += 4;
      };
    case ScalarType.INT64:
      return (v) => {
        const t = int64(v, false);
        writeVarint64(t.lo, t.hi);
      };
    case ScalarType.UINT64:
      return (v) => {
        const t = int64(v, true);
        writeVarint64(t.lo, t.hi);
      };
    case ScalarType.SINT64:
      return (v) => {
        const t = int64(v, false);
        const sign = t.hi >> 31;
        writeVarint64((t.lo << 1) ^ sign, ((t.hi << 1) | (t.lo >>> 31)) ^ sign);
      };
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64: {
      const unsigned = type === ScalarType.FIXED64;
      return (v) => {
        const t = int64(v, unsigned);
        ensure(8);
        view.setInt32(pos, t.lo, true);
        view.setInt32(pos + 4, t.hi, true);
        pos += 8;
      };
    }
    case ScalarType.BYTES:
      return (v) => {
        if (!(v instanceof Uint8Array)) throw BAIL;
        writeBytes(v);
      };
    default:
      throw new Error(`ttrpc-ts encoder: unknown scalar type ${type}`);
  }
}

/** A 64-bit integer's two 32-bit halves, by protobuf-es's rules (its error becomes `toBinary`'s). */
function int64(v: unknown, unsigned: boolean): { lo: number; hi: number } {
  try {
    const value = v as string | number | bigint;
    return unsigned ? protoInt64.uEnc(value) : protoInt64.enc(value);
  } catch {
    throw BAIL;
  }
}

/** Map keys are object keys (strings); they are converted back to the key type as protobuf-es does. */
function mapKeyConverter(type: ScalarType): (key: string) => unknown {
  switch (type) {
    case ScalarType.STRING:
      return (key) => key;
    case ScalarType.BOOL:
      return (key) => (key === "true" ? true : key === "false" ? false : key);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return (key) => {
        try {
          return protoInt64.uParse(key);
        } catch {
          return key;
        }
      };
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return (key) => {
        try {
          return protoInt64.parse(key);
        } catch {
          return key;
        }
      };
    default:
      return (key) => {
        const n = Number.parseInt(key);
        return Number.isFinite(n) ? n : key;
      };
  }
}
