/**
 * `google.protobuf.Timestamp` ↔ `Date`, with the shim convention that a
 * process that has not exited carries Go's zero time (protocol-facts.md §4).
 *
 * @module
 */

import { create } from "../api/protobuf.ts";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { TimestampSchema } from "../gen/google/protobuf/timestamp_pb.ts";

/** Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) since the Unix epoch: "not set" on the wire. */
export const GO_ZERO_TIME_SECONDS = -62135596800n;

/**
 * Converts a wire timestamp to a Date; absent, Go zero time and the all-zero
 * timestamp mean "not set" and give `undefined`.
 *
 * @param ts the timestamp, possibly absent
 * @returns the instant, or undefined when it is not set
 * @example
 * ```ts
 * timestampToDate({ seconds: -62135596800n, nanos: 0 }); // undefined
 * ```
 */
export function timestampToDate(ts: { seconds: bigint; nanos: number } | undefined): Date | undefined {
  if (!ts) return undefined;
  if (ts.seconds <= GO_ZERO_TIME_SECONDS) return undefined;
  if (ts.seconds === 0n && ts.nanos === 0) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
}

/**
 * Converts a Date to a wire timestamp.
 *
 * @param date the instant
 * @returns a `google.protobuf.Timestamp` message
 */
export function dateToTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1e6 });
}
