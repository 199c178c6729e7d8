/**
 * Protobuf binary decoding for the call path: the message protobuf-es's
 * `fromBinary` returns, read by field readers compiled once per schema.
 *
 * Why. In a sequential TTRPC round trip against a runc shim, decoding the
 * three-field `ConnectResponse` with `fromBinary` added 7–12 µs to the
 * median under Deno 2.9 and about 5 µs under Bun 1.4 (12 alternating runs of
 * 8 000 calls, `fromBinary` against reading the same fields by hand), though a
 * warm loop of `fromBinary` alone takes 0.5 µs: per field it allocates a
 * `[fieldNo, wireType]` array and a read context, looks the field up in a
 * `Map` and goes through several layers of closures, and after every wait for
 * the socket that code runs with cold caches. The readers here keep the
 * position in two variables, switch on the tag and read straight from the
 * bytes (BENCHMARKS.md item 17).
 *
 * What it covers. Messages start as `create(schema)` and are filled as
 * protobuf-es fills them: the last value of a scalar wins, repeated fields
 * append (packed or not), a message field seen twice is merged, map entries
 * overwrite, `bytes` are views into the input, 64-bit integers are `bigint`
 * (strings with `jstype = JS_STRING`), strings are checked as UTF-8 where the
 * field asks for it, and unknown fields are kept in `$unknown`. Schemas with a
 * field protobuf-es gives a special local form (wrapper types,
 * `google.protobuf.Struct`), a group or a closed enum go to `fromBinary`, and
 * so does any input the readers do not expect (a wire type that does not match
 * the field, a truncated value, a group among unknown fields, invalid UTF-8,
 * nesting deeper than protobuf-es allows): `fromBinary` then reads it, or
 * throws its own error, so both accept and refuse exactly the same bytes.
 *
 * @module
 */

import type { DescField, DescMessage, MessageShape } from "@bufbuild/protobuf";
import { isPlainSchema, wireTypeOf } from "./codec_schema.ts";
import { create, fromBinary, protoInt64, ScalarType } from "./protobuf.ts";
import { BIT32, BIT64, LEN, VARINT } from "./wire.ts";

/** protobuf-es's default nesting limit (`recursionLimit`). */
const DEPTH_MAX = 100;

/** Thrown inside the fast path when the input needs `fromBinary`'s reading or error. */
const BAIL: unique symbol = Symbol("ttrpc-ts.decoder.bail");

/** Reads one message's fields, from the current position up to `end`, into `message`. */
type MessageReader = (message: Record<string, unknown>, end: number, depth: number) => void;
/** Reads one field's value (its tag already read) into `message`. */
type FieldReader = (message: Record<string, unknown>, wireType: number, depth: number) => void;
/** Reads one scalar value. */
type ScalarReader = () => unknown;

const EMPTY = new Uint8Array(0);
/** The input being read (none between calls, so no input stays referenced), and the position in it. */
let buf: Uint8Array = EMPTY;
let pos = 0;
/** True while a message is being read: a nested call takes `fromBinary`. */
let busy = false;

/** Scratch for floats and doubles. */
const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Compiled readers by schema; `null` marks a schema that always goes to `fromBinary`. */
const readers = new WeakMap<DescMessage, MessageReader | null>();

/**
 * Decodes a message from the protobuf binary format: the same message as
 * protobuf-es's `fromBinary(schema, bytes)` (the same fields, `$unknown` and
 * errors).
 *
 * @param schema the message's schema
 * @param bytes the encoded message; `bytes` fields of the result are views into it
 * @returns the decoded message
 * @throws {Error} what `fromBinary` throws for the bytes (premature EOF, invalid UTF-8, …)
 */
export function decodeMessage<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  return decodeFast(schema, bytes) ?? fromBinary(schema, bytes);
}

/**
 * The fast path alone: the decoded message, or undefined when the schema or
 * the bytes need `fromBinary` (which {@link decodeMessage} then calls). For
 * tests and benchmarks.
 *
 * @param schema the message's schema
 * @param bytes the encoded message
 * @returns the message as `fromBinary` returns it, or undefined
 */
export function decodeFast<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
): MessageShape<Desc> | undefined {
  const read = readerOf(schema);
  if (read === null || busy) return undefined;
  busy = true;
  buf = bytes;
  pos = 0;
  const message = create(schema) as unknown as Record<string, unknown>;
  try {
    read(message, bytes.length, 1);
  } catch (err) {
    if (err !== BAIL) throw err;
    return undefined;
  } finally {
    busy = false;
    buf = EMPTY;
  }
  return message as unknown as MessageShape<Desc>;
}

/**
 * Whether messages of `schema` are read by the compiled fast path (false:
 * every one goes to `fromBinary`). For tests and benchmarks.
 *
 * @param schema a message schema
 * @returns true when the schema compiles
 */
export function decodesFast(schema: DescMessage): boolean {
  return readerOf(schema) !== null;
}

// ---------------------------------------------------------------- the reader

/** A varint of up to 10 bytes, as protobuf-es reads a uint32 (the low 32 bits, unsigned). */
function readVarint32(): number {
  let b = buf[pos++];
  if (b < 0x80) return b;
  let v = b & 0x7f;
  b = buf[pos++];
  v |= (b & 0x7f) << 7;
  if (b < 0x80) return v;
  b = buf[pos++];
  v |= (b & 0x7f) << 14;
  if (b < 0x80) return v;
  b = buf[pos++];
  v |= (b & 0x7f) << 21;
  if (b < 0x80) return v;
  b = buf[pos++];
  v |= (b & 0x0f) << 28;
  for (let n = 5; b >= 0x80; n++) {
    if (n === 10) throw BAIL;
    b = buf[pos++];
  }
  // Past the end, `b` was undefined: the comparisons above were false and the caller's bound check bails.
  return v >>> 0;
}

let lo = 0;
let hi = 0;

/** A varint of up to 10 bytes into `lo` and `hi`. */
function readVarint64(): void {
  let l = 0;
  let h = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    b = buf[pos++];
    l |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = l;
      hi = 0;
      return;
    }
  }
  b = buf[pos++];
  l |= (b & 0x0f) << 28;
  h = (b & 0x7f) >> 4;
  if (b < 0x80) {
    lo = l;
    hi = h;
    return;
  }
  for (let shift = 3; shift <= 31; shift += 7) {
    b = buf[pos++];
    h |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = l;
      hi = h;
      return;
    }
  }
  throw BAIL;
}

/** A tag: a varint of at most 5 bytes that fits 32 bits, a field number above 0 and a known wire type. */
function readTag(): number {
  const start = pos;
  const tag = readVarint32();
  const size = pos - start;
  if (size > 5 || (size === 5 && buf[pos - 1] > 0x0f) || tag >>> 3 === 0 || (tag & 7) > 5) throw BAIL;
  return tag;
}

function readFixed32(): number {
  const p = pos;
  pos += 4;
  return (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
}

function readFloat(size: 4 | 8): number {
  floatBytes.set(buf.subarray(pos, pos + size));
  pos += size;
  if (pos > buf.length) throw BAIL;
  return size === 4 ? floatView.getFloat32(0, true) : floatView.getFloat64(0, true);
}

/** A length-delimited value's bounds; bails when it runs past the input. */
function readLength(): number {
  const len = readVarint32();
  const end = pos + len;
  if (end > buf.length) throw BAIL;
  return end;
}

function readString(strict: boolean): string {
  const end = readLength();
  const start = pos;
  pos = end;
  if (end - start < 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return end === start ? "" : String.fromCharCode.apply(null, buf.subarray(start, end) as never);
  }
  const bytes = buf.subarray(start, end);
  if (!strict) return utf8.decode(bytes);
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw BAIL;
  }
}

/** Skips an unknown field's value and returns its bytes (as protobuf-es keeps them); groups bail. */
function skip(wireType: number): Uint8Array {
  const start = pos;
  switch (wireType) {
    case VARINT:
      for (let n = 0;; n++) {
        if (n === 10) throw BAIL;
        if (buf[pos++] < 0x80) break;
      }
      break;
    case BIT64:
      pos += 8;
      break;
    case BIT32:
      pos += 4;
      break;
    case LEN:
      pos = readLength();
      break;
    default:
      throw BAIL;
  }
  if (pos > buf.length) throw BAIL;
  return buf.subarray(start, pos);
}

// ---------------------------------------------------------------- compiling

function readerOf(schema: DescMessage): MessageReader | null {
  const known = readers.get(schema);
  if (known !== undefined) return known;
  if (!isPlainSchema(schema, (f) => closedEnum(f))) {
    readers.set(schema, null);
    return null;
  }
  return compileMessage(schema);
}

function closedEnum(field: DescField): boolean {
  return field.enum !== undefined && !field.enum.open;
}

function compileMessage(schema: DescMessage): MessageReader {
  const byNumber: (FieldReader | undefined)[] = [];
  const sparse = new Map<number, FieldReader>();
  const read: MessageReader = (message, end, depth) => {
    if (depth > DEPTH_MAX) throw BAIL;
    let unknown: { no: number; wireType: number; data: Uint8Array }[] | undefined;
    while (pos < end) {
      const tag = readTag();
      const no = tag >>> 3;
      const wireType = tag & 7;
      if (pos > end) throw BAIL;
      const fieldReader = no < byNumber.length ? byNumber[no] : sparse.get(no);
      if (fieldReader !== undefined) {
        fieldReader(message, wireType, depth);
      } else {
        const data = skip(wireType);
        unknown ??= (message.$unknown as typeof unknown) ?? [];
        unknown.push({ no, wireType, data });
      }
    }
    if (pos !== end) throw BAIL;
    if (unknown !== undefined && unknown.length > 0) message.$unknown = unknown;
  };
  // Registered before the fields compile, so a recursive schema finds itself.
  readers.set(schema, read);
  for (const field of schema.fields) {
    const fieldReader = compileField(field);
    if (field.number < 1024) byNumber[field.number] = fieldReader;
    else sparse.set(field.number, fieldReader);
  }
  return read;
}

function compileField(field: DescField): FieldReader {
  const name = field.localName;
  switch (field.fieldKind) {
    case "scalar":
    case "enum": {
      const type = field.fieldKind === "enum" ? ScalarType.INT32 : field.scalar;
      const wire = wireTypeOf(type);
      const readValue = scalarReader(
        type,
        field.fieldKind === "scalar" && field.longAsString,
        field.utf8Validation,
      );
      if (field.oneof !== undefined) {
        const oneofName = field.oneof.localName;
        return (message, wireType) => {
          if (wireType !== wire) throw BAIL;
          message[oneofName] = { case: name, value: readValue() };
        };
      }
      return (message, wireType) => {
        if (wireType !== wire) throw BAIL;
        message[name] = readValue();
      };
    }
    case "message": {
      const schema = field.message;
      if (field.oneof !== undefined) {
        const oneofName = field.oneof.localName;
        return (message, wireType, depth) => {
          if (wireType !== LEN) throw BAIL;
          const oneof = message[oneofName] as { case?: string; value?: unknown };
          const child = oneof.case === name ? oneof.value as Record<string, unknown> : newMessage(schema);
          readChild(schema, child, depth);
          message[oneofName] = { case: name, value: child };
        };
      }
      return (message, wireType, depth) => {
        if (wireType !== LEN) throw BAIL;
        const child = (message[name] as Record<string, unknown> | undefined) ?? newMessage(schema);
        readChild(schema, child, depth);
        message[name] = child;
      };
    }
    case "list": {
      if (field.listKind === "message") {
        const schema = field.message;
        return (message, wireType, depth) => {
          if (wireType !== LEN) throw BAIL;
          const child = newMessage(schema);
          readChild(schema, child, depth);
          (message[name] as unknown[]).push(child);
        };
      }
      const type = field.listKind === "enum" ? ScalarType.INT32 : field.scalar;
      const wire = wireTypeOf(type);
      const readValue = scalarReader(
        type,
        field.listKind === "scalar" && field.longAsString,
        field.utf8Validation,
      );
      const packable = wire !== LEN;
      return (message, wireType) => {
        const items = message[name] as unknown[];
        if (wireType === LEN && packable) {
          const end = readLength();
          while (pos < end) items.push(readValue());
          if (pos !== end) throw BAIL;
        } else {
          if (wireType !== wire) throw BAIL;
          items.push(readValue());
        }
      };
    }
    case "map": {
      const keyType = field.mapKey;
      const keyWire = wireTypeOf(keyType);
      const readKey = scalarReader(keyType, false, field.utf8Validation);
      const keyZero = zeroOf(keyType);
      let valueWire: number;
      let readValue: (existing: unknown, depth: number) => unknown;
      let valueDefault: () => unknown;
      if (field.mapKind === "message") {
        const schema = field.message;
        valueWire = LEN;
        readValue = (existing, depth) => {
          const child = (existing as Record<string, unknown> | undefined) ?? newMessage(schema);
          readChild(schema, child, depth);
          return child;
        };
        valueDefault = () => newMessage(schema);
      } else {
        const type = field.mapKind === "enum" ? ScalarType.INT32 : field.scalar;
        valueWire = wireTypeOf(type);
        const readScalar = scalarReader(type, false, field.utf8Validation);
        readValue = () => readScalar();
        const zero = field.mapKind === "enum" ? field.enum.values[0].number : zeroOf(type);
        // A bytes zero value is created per entry, so entries never share one.
        valueDefault = type === ScalarType.BYTES ? () => new Uint8Array(0) : () => zero;
      }
      return (message, wireType, depth) => {
        if (wireType !== LEN) throw BAIL;
        const end = readLength();
        let key: unknown;
        let value: unknown;
        while (pos < end) {
          const tag = readTag();
          const no = tag >>> 3;
          const wt = tag & 7;
          if (pos > end) throw BAIL;
          if (no === 1) {
            if (wt !== keyWire) throw BAIL;
            key = readKey();
          } else if (no === 2) {
            if (wt !== valueWire) throw BAIL;
            value = readValue(value, depth);
          } else {
            skip(wt);
          }
        }
        if (pos !== end) throw BAIL;
        setOwn(message[name] as Record<string, unknown>, String(key ?? keyZero), value ?? valueDefault());
      };
    }
  }
}

function newMessage(schema: DescMessage): Record<string, unknown> {
  return create(schema) as unknown as Record<string, unknown>;
}

/** Reads a length-delimited child message into `child`. */
function readChild(schema: DescMessage, child: Record<string, unknown>, depth: number): void {
  const end = readLength();
  // The parent compiled, so every schema it reaches is plain: the reader exists or compiles now.
  (readers.get(schema) ?? compileMessage(schema))(child, end, depth + 1);
}

/** Assigns an own property, `__proto__` included (as protobuf-es's `setOwn`). */
function setOwn(record: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(record, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    record[key] = value;
  }
}

function zeroOf(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return false;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return protoInt64.zero;
    case ScalarType.BYTES:
      return new Uint8Array(0);
    default:
      return 0;
  }
}

/** Checks the position after a fixed-size or varint value. */
function bounded<T>(value: T): T {
  if (pos > buf.length) throw BAIL;
  return value;
}

function scalarReader(type: ScalarType, longAsString: boolean, strictUtf8: boolean): ScalarReader {
  const long = (v: bigint | string): unknown => (longAsString ? String(v) : v);
  switch (type) {
    case ScalarType.STRING:
      return () => readString(strictUtf8);
    case ScalarType.BYTES:
      return () => {
        const end = readLength();
        const start = pos;
        pos = end;
        return buf.subarray(start, end);
      };
    case ScalarType.BOOL:
      return () => {
        readVarint64();
        return bounded(lo !== 0 || hi !== 0);
      };
    case ScalarType.INT32:
      return () => bounded(readVarint32() | 0);
    case ScalarType.UINT32:
      return () => bounded(readVarint32());
    case ScalarType.SINT32:
      return () => {
        const v = readVarint32();
        return bounded((v >>> 1) ^ -(v & 1));
      };
    case ScalarType.INT64:
      return () => {
        readVarint64();
        return bounded(long(protoInt64.dec(lo, hi)));
      };
    case ScalarType.UINT64:
      return () => {
        readVarint64();
        return bounded(long(protoInt64.uDec(lo, hi)));
      };
    case ScalarType.SINT64:
      return () => {
        readVarint64();
        const s = -(lo & 1);
        const l = ((lo >>> 1) | ((hi & 1) << 31)) ^ s;
        const h = (hi >>> 1) ^ s;
        return bounded(long(protoInt64.dec(l, h)));
      };
    case ScalarType.FIXED32:
      return () => bounded(readFixed32());
    case ScalarType.SFIXED32:
      return () => bounded(readFixed32() | 0);
    case ScalarType.FIXED64:
      return () => {
        const l = readFixed32() | 0;
        const h = readFixed32() | 0;
        return bounded(long(protoInt64.uDec(l, h)));
      };
    case ScalarType.SFIXED64:
      return () => {
        const l = readFixed32() | 0;
        const h = readFixed32() | 0;
        return bounded(long(protoInt64.dec(l, h)));
      };
    case ScalarType.FLOAT:
      return () => readFloat(4);
    case ScalarType.DOUBLE:
      return () => readFloat(8);
    default:
      throw new Error(`ttrpc-ts decoder: unknown scalar type ${type}`);
  }
}
