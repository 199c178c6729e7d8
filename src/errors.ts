/**
 * Error kinds for shimkit, modelled on containerd's errdefs: a small set of
 * kinds, subclasses callers can catch with `instanceof`, Go-style context
 * wrapping that keeps the kind, and one errno → kind table.
 *
 * Messages are lowercase, chained with `: `, values in double quotes, no
 * trailing period: `start shim "c1": resolve runtime "x": not found in PATH`.
 *
 * @module
 */

/** The kinds of failure a caller can tell apart. Mirrors containerd's errdefs classes. */
export type ErrorKind =
  | "unknown"
  | "not_found"
  | "already_exists"
  | "invalid_argument"
  | "failed_precondition"
  | "unavailable"
  | "deadline_exceeded"
  | "canceled"
  | "not_implemented"
  | "resource_exhausted"
  | "permission_denied"
  | "aborted"
  | "internal";

/** Base class of every shimkit error; `kind` says which class of failure it is. */
export class ShimkitError extends Error {
  /** The class of failure (see {@link ErrorKind}). */
  readonly kind: ErrorKind;
  /**
   * @param message lowercase description of what failed
   * @param kind the class of failure
   * @param options standard `ErrorOptions`; pass `{ cause }` when wrapping
   */
  constructor(message: string, kind: ErrorKind = "unknown", options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.name = "ShimkitError";
  }
}

/** Something named does not exist (errdefs NotFound, TTRPC code 5). */
export class NotFoundError extends ShimkitError {
  /** @param message what was not found @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "not_found", options);
    this.name = "NotFoundError";
  }
}
/** Something already exists (errdefs AlreadyExists, code 6). */
export class AlreadyExistsError extends ShimkitError {
  /** @param message what already exists @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "already_exists", options);
    this.name = "AlreadyExistsError";
  }
}
/** Bad input from the caller (errdefs InvalidArgument, code 3). */
export class InvalidArgumentError extends ShimkitError {
  /** @param message what was wrong with the input @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "invalid_argument", options);
    this.name = "InvalidArgumentError";
  }
}
/** The system is not in a state where the operation can run (code 9). */
export class FailedPreconditionError extends ShimkitError {
  /** @param message the unmet precondition @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "failed_precondition", options);
    this.name = "FailedPreconditionError";
  }
}
/** A peer (shim, socket) cannot be reached or went away (code 14). */
export class UnavailableError extends ShimkitError {
  /** @param message what could not be reached @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "unavailable", options);
    this.name = "UnavailableError";
  }
}
/** An operation ran out of time (code 4). */
export class DeadlineExceededError extends ShimkitError {
  /** @param message what timed out @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "deadline_exceeded", options);
    this.name = "DeadlineExceededError";
  }
}
/** The caller canceled the operation (code 1). */
export class CanceledError extends ShimkitError {
  /** @param message what was canceled @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "canceled", options);
    this.name = "CanceledError";
  }
}
/** The peer does not implement the operation or version (code 12). */
export class NotImplementedError extends ShimkitError {
  /** @param message what is not implemented @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "not_implemented", options);
    this.name = "NotImplementedError";
  }
}
/** A size or count limit was hit (code 8). */
export class ResourceExhaustedError extends ShimkitError {
  /** @param message which limit was hit @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "resource_exhausted", options);
    this.name = "ResourceExhaustedError";
  }
}
/** The operation is not permitted (code 7). */
export class PermissionDeniedError extends ShimkitError {
  /** @param message what was denied @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "permission_denied", options);
    this.name = "PermissionDeniedError";
  }
}
/** A broken invariant or a peer that violated the protocol (code 13). */
export class InternalError extends ShimkitError {
  /** @param message what went wrong @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "internal", options);
    this.name = "InternalError";
  }
}
/** The operation was aborted by a conflict (code 10). */
export class AbortedError extends ShimkitError {
  /** @param message what was aborted @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, "aborted", options);
    this.name = "AbortedError";
  }
}

const CLASS_BY_KIND: Partial<
  Record<ErrorKind, new (message: string, options?: ErrorOptions) => ShimkitError>
> = {
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  invalid_argument: InvalidArgumentError,
  failed_precondition: FailedPreconditionError,
  unavailable: UnavailableError,
  deadline_exceeded: DeadlineExceededError,
  canceled: CanceledError,
  not_implemented: NotImplementedError,
  resource_exhausted: ResourceExhaustedError,
  permission_denied: PermissionDeniedError,
  aborted: AbortedError,
  internal: InternalError,
};

/**
 * Creates an error of the given kind, using the kind's subclass.
 *
 * @param kind the class of failure
 * @param message lowercase message
 * @param options `{ cause }`
 * @returns a {@link ShimkitError} subclass instance
 */
export function newError(kind: ErrorKind, message: string, options?: ErrorOptions): ShimkitError {
  const Cls = CLASS_BY_KIND[kind];
  return Cls ? new Cls(message, options) : new ShimkitError(message, kind, options);
}

/**
 * Returns the kind of any thrown value: a ShimkitError's own kind, an errno
 * mapped through {@link fromErrno}, a cause chain walked to the first known
 * kind, else `"unknown"`.
 *
 * @param err any thrown value
 * @returns its kind
 */
export function kindOf(err: unknown): ErrorKind {
  let cur: unknown = err;
  for (let depth = 0; cur != null && depth < 16; depth++) {
    if (cur instanceof ShimkitError) return cur.kind;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") {
      const k = ERRNO_KINDS[code];
      if (k) return k;
    } else if (typeof code === "number" && (cur as { name?: unknown }).name === "TtrpcError") {
      return kindFromStatusCode(code);
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return "unknown";
}

/**
 * Wraps an error with context, Go `%w` style: the result has the same kind,
 * the message `<context>: <inner message>`, and `cause` set to the inner error.
 *
 * @param err the error being wrapped (any thrown value)
 * @param context what was being done, e.g. `start shim "c1"`
 * @returns a new error of the same kind
 * @example
 * ```ts
 * const e = withContext(new NotFoundError("no such file"), 'load bundle "c1"');
 * // e instanceof NotFoundError; e.message === 'load bundle "c1": no such file'
 * ```
 */
export function withContext(err: unknown, context: string): ShimkitError {
  const inner = err instanceof Error ? err.message : String(err);
  return newError(kindOf(err), `${context}: ${inner}`, { cause: err });
}

/** errno code → kind. The one table for OS errors (errgrpc's counterpart for the OS). */
const ERRNO_KINDS: Record<string, ErrorKind> = {
  ENOENT: "not_found",
  ENOTDIR: "not_found",
  EEXIST: "already_exists",
  ENOTEMPTY: "failed_precondition",
  EACCES: "permission_denied",
  EPERM: "permission_denied",
  ECONNREFUSED: "unavailable",
  ECONNRESET: "unavailable",
  EPIPE: "unavailable",
  ENOTCONN: "unavailable",
  ETIMEDOUT: "deadline_exceeded",
  EINVAL: "invalid_argument",
  ENAMETOOLONG: "invalid_argument",
  EMFILE: "resource_exhausted",
  ENFILE: "resource_exhausted",
  ENOSPC: "resource_exhausted",
};

/** TTRPC/gRPC status code → kind (containerd errgrpc). The one table for wire status codes. */
const STATUS_KINDS: Record<number, ErrorKind> = {
  1: "canceled",
  3: "invalid_argument",
  4: "deadline_exceeded",
  5: "not_found",
  6: "already_exists",
  7: "permission_denied",
  8: "resource_exhausted",
  9: "failed_precondition",
  10: "aborted",
  12: "not_implemented",
  13: "internal",
  14: "unavailable",
  16: "permission_denied",
};

/**
 * Maps a TTRPC (gRPC) status code to an error kind, as containerd's errgrpc does.
 *
 * @param code numeric status code (0–16)
 * @returns the kind; `"unknown"` for 2 and unmapped codes
 */
export function kindFromStatusCode(code: number): ErrorKind {
  return STATUS_KINDS[code] ?? "unknown";
}

/** Kind → TTRPC status code, the inverse of {@link kindFromStatusCode}. */
const KIND_CODES: Record<ErrorKind, number> = {
  unknown: 2,
  canceled: 1,
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  aborted: 10,
  not_implemented: 12,
  internal: 13,
  unavailable: 14,
};

/**
 * Maps an error kind to the TTRPC status code a server should answer with.
 *
 * @param kind the error kind
 * @returns numeric status code
 */
export function statusCodeOfKind(kind: ErrorKind): number {
  return KIND_CODES[kind] ?? 2;
}

/**
 * Converts an OS error (anything with an errno `code` such as `ENOENT`) into a
 * ShimkitError of the matching kind, keeping the original as `cause`.
 *
 * @param err the OS error
 * @param context optional context prefix for the message
 * @returns a ShimkitError
 */
export function fromErrno(err: unknown, context?: string): ShimkitError {
  if (err instanceof ShimkitError) return context ? withContext(err, context) : err;
  const code = (err as { code?: unknown })?.code;
  const kind = typeof code === "string" ? ERRNO_KINDS[code] ?? "unknown" : "unknown";
  const msg = err instanceof Error ? err.message : String(err);
  return newError(kind, context ? `${context}: ${msg}` : msg, { cause: err });
}

/** True when the error (or anything in its cause chain) is NotFound. @param err any value @returns boolean */
export const isNotFound = (err: unknown): boolean => kindOf(err) === "not_found";
/** True when the error is AlreadyExists. @param err any value @returns boolean */
export const isAlreadyExists = (err: unknown): boolean => kindOf(err) === "already_exists";
/** True when the error is InvalidArgument. @param err any value @returns boolean */
export const isInvalidArgument = (err: unknown): boolean => kindOf(err) === "invalid_argument";
/** True when the error is Unavailable. @param err any value @returns boolean */
export const isUnavailable = (err: unknown): boolean => kindOf(err) === "unavailable";
/** True when the error is DeadlineExceeded. @param err any value @returns boolean */
export const isDeadlineExceeded = (err: unknown): boolean => kindOf(err) === "deadline_exceeded";
/** True when the error is NotImplemented. @param err any value @returns boolean */
export const isNotImplemented = (err: unknown): boolean => kindOf(err) === "not_implemented";
/** True when the error is FailedPrecondition. @param err any value @returns boolean */
export const isFailedPrecondition = (err: unknown): boolean => kindOf(err) === "failed_precondition";

/** How much of an outside value an error message quotes. */
const QUOTE_MAX = 120;

/**
 * Quotes a value for an error message: JSON-escaped, so NUL and control
 * characters stay readable on one line, and cut after 120 characters with
 * the full length noted. An id, address or file content from outside can
 * then never make a message megabytes long.
 *
 * @param value the value
 * @param max the most characters quoted (default 120)
 * @returns the quoted value
 * @example
 * ```ts
 * quoteValue("a/b"); // "\"a/b\""
 * quoteValue("x".repeat(500)); // "\"xxx…x\"… (500 characters)"
 * ```
 */
export function quoteValue(value: string, max = QUOTE_MAX): string {
  if (value.length <= max) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, max))}… (${value.length} characters)`;
}
