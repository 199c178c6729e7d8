/**
 * Protobuf wire-format primitives shared by the envelope codec
 * (`envelope.ts`) and the compiled message codecs (`encoder.ts`,
 * `decoder.ts`): wire types, varint sizes and varint writes.
 *
 * @module
 */

/** Wire type 0: varint. */
export const VARINT = 0;
/** Wire type 1: 64-bit little-endian. */
export const BIT64 = 1;
/** Wire type 2: length-delimited. */
export const LEN = 2;
/** Wire type 5: 32-bit little-endian. */
export const BIT32 = 5;

/**
 * The size of a non-negative integer (up to 2^53) as a varint.
 *
 * @param v the value
 * @returns 1 to 8 bytes
 */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  for (v = Math.floor(v / 0x800000000); v > 0; v = Math.floor(v / 128)) n++;
  return n;
}

/**
 * Writes a non-negative integer (up to 2^53) as a varint.
 *
 * @param buf destination, with room for {@link varintSize} bytes at `pos`
 * @param pos where to write
 * @returns the position after the varint
 */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = v > 0xffffffff ? Math.floor(v / 128) : v >>> 7;
  }
  buf[pos++] = v;
  return pos;
}
