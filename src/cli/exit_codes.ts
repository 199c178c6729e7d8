/**
 * The one map from error kinds to process exit codes, documented in
 * `docs/exit-codes.md`. Codes are stable: scripts may branch on them.
 *
 * Codes 3–14 avoid the shell's reserved 126 (not executable), 127 (not found)
 * and 128+N (killed by signal N). `run` and `wait` pass the container's own
 * exit status through instead, which can be any value 0–255.
 *
 * @module
 */

import { type ErrorKind, InvalidArgumentError, kindFromStatusCode, kindOf } from "../errors.ts";

/** Success. */
export const EXIT_OK = 0;
/** A failure of no more specific kind. */
export const EXIT_GENERIC = 1;
/** Bad command line: unknown command or flag, missing or extra arguments. */
export const EXIT_USAGE = 2;

/** Kind → exit code; `unknown` is the generic failure. */
const EXIT_CODES: Record<ErrorKind, number> = {
  unknown: EXIT_GENERIC,
  not_found: 3,
  already_exists: 4,
  invalid_argument: 5,
  failed_precondition: 6,
  unavailable: 7,
  deadline_exceeded: 8,
  canceled: 9,
  not_implemented: 10,
  resource_exhausted: 11,
  permission_denied: 12,
  internal: 13,
  aborted: 14,
};

/** A command-line mistake (exit code 2); its kind is `invalid_argument`. */
export class UsageError extends InvalidArgumentError {
  /** @param message what is wrong with the command line @param options `{ cause }` */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * Returns the exit code for an error kind.
 *
 * @param kind the error kind
 * @returns a stable exit code (1 for `unknown`, 3–14 otherwise)
 */
export function exitCodeForKind(kind: ErrorKind): number {
  return EXIT_CODES[kind] ?? EXIT_GENERIC;
}

/**
 * Returns the exit code for a TTRPC (gRPC) status code, through the one
 * status → kind table in `src/errors.ts`.
 *
 * @param code numeric status code (0–16)
 * @returns 0 for OK (0), else the kind's exit code
 */
export function exitCodeForStatusCode(code: number): number {
  return code === 0 ? EXIT_OK : exitCodeForKind(kindFromStatusCode(code));
}

/**
 * Returns the exit code for any thrown value: 2 for usage errors (ours and
 * `node:util` `parseArgs` errors), else the exit code of its kind.
 *
 * @param err any thrown value
 * @returns the exit code
 */
export function exitCodeForError(err: unknown): number {
  if (isUsageError(err)) return EXIT_USAGE;
  return exitCodeForKind(kindOf(err));
}

/**
 * True for command-line mistakes: a {@link UsageError} or an error thrown by
 * `node:util` `parseArgs` (codes `ERR_PARSE_ARGS_*`).
 *
 * @param err any thrown value
 * @returns boolean
 */
export function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/**
 * Every documented exit code with its meaning, for `--help` and the docs test.
 *
 * @returns rows of `[code, meaning]`, ascending
 */
export function exitCodeTable(): Array<[number, string]> {
  const rows: Array<[number, string]> = [[EXIT_OK, "ok"], [EXIT_GENERIC, "generic failure"], [
    EXIT_USAGE,
    "usage",
  ]];
  for (const [kind, code] of Object.entries(EXIT_CODES)) {
    if (kind !== "unknown") rows.push([code, kind.replaceAll("_", " ")]);
  }
  return rows.sort((a, b) => a[0] - b[0]);
}
