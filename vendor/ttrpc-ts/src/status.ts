/**
 * Status codes (the gRPC code space TTRPC uses) and {@link TtrpcError}, the
 * error every failed call rejects with.
 *
 * @module
 */

import type { Any } from "@bufbuild/protobuf/wkt";

/** The gRPC status codes carried in a TTRPC response status. */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** A status code value (0–16). */
export type Code = (typeof Code)[keyof typeof Code];

const NAMES: readonly string[] = Object.keys(Code);

/**
 * Returns the name of a status code.
 *
 * @param code numeric status code
 * @returns the name, e.g. `"NotFound"` for 5, or `"Code(99)"` for codes outside 0–16
 */
export function codeName(code: number): string {
  return Number.isInteger(code) && code >= 0 && code < NAMES.length ? NAMES[code] : `Code(${code})`;
}

/**
 * A call that failed with a TTRPC status: either the status the server sent, or
 * one produced locally (timeout → DeadlineExceeded, lost connection →
 * Unavailable, abort → Canceled). `name` is always `"TtrpcError"`.
 */
export class TtrpcError extends Error {
  /** Always `"TtrpcError"`; other code recognises the class by it. */
  override name = "TtrpcError";
  /** The status code, see {@link Code}. */
  readonly code: number;
  /** The status details (google.protobuf.Any values) as sent by the server. */
  readonly details: Any[];

  /**
   * @param code status code
   * @param message the status message (kept exactly as received)
   * @param details status details
   * @param options standard `ErrorOptions`, e.g. `{ cause }`
   */
  constructor(
    code: number,
    message: string,
    details: Any[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /**
   * Normalises any thrown value into a TtrpcError, as a server does before
   * answering: a TtrpcError is returned as is; an object with a numeric
   * `grpcCode` keeps that code; anything else becomes Unknown (2).
   *
   * @param err any thrown value
   * @returns a TtrpcError carrying the code and message to send
   */
  static from(err: unknown): TtrpcError {
    if (err instanceof TtrpcError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const grpcCode = (err as { grpcCode?: unknown } | null)?.grpcCode;
    const code = typeof grpcCode === "number" && Number.isInteger(grpcCode) ? grpcCode : Code.Unknown;
    return new TtrpcError(code, message, [], { cause: err });
  }
}
