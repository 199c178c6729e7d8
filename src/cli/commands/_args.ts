/**
 * Pure argument helpers shared by the commands: flag parsing with messages
 * that name the flag, splitting a command line at its container id, repeated
 * `k=v` flags, runtime options, `--signal`, shell quoting.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../exit_codes.ts";
import { GLOBAL_VALUE_FLAGS } from "../global_args.ts";
import { parseSignal } from "../signals.ts";

/** The flag table of a command, as `node:util` parseArgs takes it. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

function quotedFlag(message: string): string | undefined {
  const long = /--[A-Za-z0-9][A-Za-z0-9-]*/.exec(message);
  if (long) return long[0];
  const quoted = /'-?([^'\s,<]+)/.exec(message);
  // Bun names an unknown short flag without its dash ('r'), Deno with it ('-r').
  return quoted ? (quoted[1].startsWith("-") ? quoted[1] : `-${quoted[1]}`) : undefined;
}

/**
 * Rewrites a `node:util` parseArgs error as a usage error that names the flag
 * the way our other messages do (`run: unknown flag "--bogus"`), with a hint
 * when a global flag was put after the command (pure).
 *
 * @param command the command name, prefixed to the message
 * @param err what parseArgs threw
 * @param hint end the message with a line pointing at `shimkit <command> --help` (default true)
 * @returns the usage error to throw
 */
export function flagError(command: string, err: unknown, hint = true): UsageError {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  const help = `run "shimkit ${command} --help" for usage`;
  const flag = quotedFlag(message);
  let what: string;
  if (e?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    what = `unknown flag "${flag}"`;
    const value = GLOBAL_VALUE_FLAGS.includes(flag);
    if (value || flag === "--json") {
      const example = value ? `${flag} VALUE` : flag;
      what += `: "${flag}" is a global flag; put it before the command (shimkit ${example} ${command} ...)`;
    }
  } else if (e?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag && /does not take/.test(message)) {
    what = `flag "${flag}" takes no value`;
  } else if (e?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag && /ambiguous/.test(message)) {
    what = `flag "${flag}" needs a value (write ${flag}=VALUE for a value that starts with "-")`;
  } else if (e?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    what = `flag "${flag}" needs a value`;
  } else if (e?.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /'([^']*)'/.exec(message);
    what = arg ? `unexpected argument "${arg[1]}"` : "unexpected argument";
  } else {
    what = message.charAt(0).toLowerCase() + message.slice(1);
  }
  return new UsageError(hint ? `${command}: ${what}\n${help}` : `${command}: ${what}`, { cause: err });
}

/**
 * Parses a command's arguments with `node:util` parseArgs (strict), turning
 * its errors into {@link flagError} usage errors.
 *
 * @param command the command name, for messages
 * @param args the arguments after the command name
 * @param options the command's flags
 * @param allowPositionals whether non-flag arguments are allowed (default true)
 * @returns what parseArgs returns
 * @throws UsageError for an unknown flag, a missing or unexpected value, an unexpected argument
 */
export function parseFlags<T extends FlagOptions>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = true,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw flagError(command, e);
  }
}

/**
 * Splits a command line at its `count`-th positional argument (pure): what
 * comes before and including it is for the command's own flags and ids;
 * everything after it is the container's command, passed through untouched,
 * so `run c1 sh -c "echo hi"` works without `--`. A `--` right after the
 * last id, or anywhere before it, is dropped.
 *
 * @param args the arguments after the command name
 * @param options the command's flags (to know which take a value)
 * @param count how many positional arguments (ids) the command takes before its command
 * @returns `head` for parseArgs and the untouched `rest`
 */
export function splitAtPositionals(
  args: readonly string[],
  options: FlagOptions,
  count: number,
): { head: string[]; rest: string[] } {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  const head: string[] = [];
  let seen = 0;
  let i = 0;
  let flagsDone = false;
  for (; i < args.length && seen < count; i++) {
    const arg = args[i];
    if (!flagsDone && arg === "--") {
      head.push(arg);
      flagsDone = true;
    } else if (!flagsDone && arg.startsWith("-") && arg !== "-") {
      head.push(arg);
      // A value flag alone (`-e X`) or last in a group of short flags (`-ie X`) takes the next argument.
      const last = /^-[A-Za-z0-9]{2,}$/.test(arg) ? `-${arg.at(-1)}` : arg;
      if ((takesValue.has(arg) || takesValue.has(last)) && i + 1 < args.length) head.push(args[++i]);
    } else {
      head.push(arg);
      seen++;
    }
  }
  if (seen === count && !flagsDone && args[i] === "--") i++;
  return { head, rest: args.slice(i) };
}

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

/**
 * Takes the single positional argument a command wants (pure).
 *
 * @param command the command name, for messages
 * @param positionals the positional arguments given
 * @param what what the argument is, for messages (default `container ID`)
 * @returns the argument
 * @throws UsageError when none or more than one was given
 */
export function onlyPositional(
  command: string,
  positionals: readonly string[],
  what = "container ID",
): string {
  if (positionals.length === 1) return positionals[0];
  const help = `run "shimkit ${command} --help" for usage`;
  if (positionals.length === 0) throw new UsageError(`${command}: missing ${what}\n${help}`);
  const got = positionals.map((p) => `"${p}"`).join(", ");
  throw new UsageError(`${command}: want one ${what}, got ${positionals.length} (${got})\n${help}`);
}
