/**
 * The shim `delete` subcommand's stdout: a protobuf `DeleteResponse`
 * (protocol-facts §2.6; the same wire in task v2 and v3). Pure.
 *
 * @module
 */

import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { InternalError } from "../errors.ts";

/** What `delete` reports about the shim's init process. */
export interface ShimDeleteResult {
  /** Pid of the container's init process (0 when unknown). */
  pid: number;
  /** Its exit status; the runc shim reports 137 (SIGKILL). */
  exitStatus: number;
  /** When it exited; undefined when absent or Go's zero time. */
  exitedAt?: Date;
}

/** Decodes `google.protobuf.Timestamp` {1 seconds int64, 2 nanos int32}. */
function decodeTimestamp(bytes: Uint8Array): Date | undefined {
  const r = new BinaryReader(bytes);
  let seconds = 0;
  let nanos = 0;
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.Varint) seconds = Number(r.int64());
    else if (field === 2 && wire === WireType.Varint) nanos = r.int32();
    else r.skip(wire, field);
  }
  // Go's zero time (0001-01-01) is what 1.6 sends for "never"; protocol-facts §4.
  if (seconds <= -62135596800 || (seconds === 0 && nanos === 0)) return undefined;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}

/**
 * Decodes a `DeleteResponse` {1 pid uint32, 2 exit_status uint32, 3 exited_at Timestamp}.
 *
 * @param bytes the shim's stdout
 * @returns pid, exit status, exit time
 * @throws InternalError when the bytes are not a valid message
 */
export function decodeDeleteResponse(bytes: Uint8Array): ShimDeleteResult {
  const out: ShimDeleteResult = { pid: 0, exitStatus: 0 };
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.Varint) out.pid = r.uint32();
      else if (field === 2 && wire === WireType.Varint) out.exitStatus = r.uint32();
      else if (field === 3 && wire === WireType.LengthDelimited) out.exitedAt = decodeTimestamp(r.bytes());
      else r.skip(wire, field);
    }
  } catch (err) {
    throw new InternalError(`decode delete response: ${(err as Error).message}`, { cause: err });
  }
  return out;
}
