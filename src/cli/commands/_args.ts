/**
 * Pure argument helpers shared by the lifecycle commands: repeated `k=v`
 * flags, runtime options, `--signal`, shell quoting.
 *
 * @module
 */

import { UsageError } from "../exit_codes.ts";
import { parseSignal } from "../signals.ts";

/**
 * Quotes a word for `sh` (single quotes, embedded quotes escaped).
 *
 * @param word any text
 * @returns the quoted word
 */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Parses repeated `KEY=VALUE` flags into an object (pure).
 *
 * @param flag the flag name, for messages (`--label`)
 * @param entries the values given
 * @returns key → value; a repeated key keeps the last value
 * @throws UsageError for an entry without `=` or with an empty key
 */
export function parseKeyValues(flag: string, entries: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) {
    const eq = e.indexOf("=");
    if (eq <= 0) throw new UsageError(`invalid ${flag} "${e}": want KEY=VALUE`);
    out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/**
 * Parses `--runtime-option k=v` values into runtime options (pure): `true` and
 * `false` become booleans, decimal integers numbers, everything else strings.
 *
 * @param entries the values given
 * @returns the options object, or undefined when none were given
 * @throws UsageError for a malformed entry
 */
export function parseRuntimeOptions(
  entries: readonly string[] | undefined,
): Record<string, unknown> | undefined {
  if (!entries || entries.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parseKeyValues("--runtime-option", entries))) {
    out[k] = v === "true" ? true : v === "false" ? false : /^-?[0-9]+$/.test(v) ? Number(v) : v;
  }
  return out;
}

/**
 * Parses `--signal` for `kill` (pure).
 *
 * @param value the flag value, or undefined for the default SIGTERM
 * @returns the signal number
 * @throws InvalidArgumentError for an unknown signal
 */
export function parseSignalFlag(value: string | undefined): number {
  return value === undefined ? 15 : parseSignal(value);
}
