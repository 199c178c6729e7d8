/**
 * Global flag parsing and precedence for the CLI, pure: argv in, a plan out.
 * Global flags come before the command (`shimkit --state /x ps`), as in ctr.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { withContext } from "../errors.ts";
import { validateNamespace } from "../ids.ts";
import { type LogFormat, type LogLevel, parseLogLevel } from "../log/logger.ts";
import type { GlobalOptions } from "./context.ts";
import { UsageError } from "./exit_codes.ts";

/** Global flags as given on the command line; absent ones are undefined. */
export interface GlobalFlags {
  /** `--state DIR` */
  state?: string;
  /** `--root DIR` */
  root?: string;
  /** `--namespace NS`, `-n NS` */
  namespace?: string;
  /** `--config FILE` */
  config?: string;
  /** `--log-level LEVEL` */
  logLevel?: LogLevel;
  /** `--log-format logfmt|json` */
  logFormat?: LogFormat;
  /** `--address ADDR` (the publish callback of shims) */
  address?: string;
  /** `--json` */
  json?: boolean;
  /** `--help`, `-h` */
  help?: boolean;
  /** `--version`, `-v` */
  version?: boolean;
}

/** The parsed command line: global flags, then the command and its own arguments. */
export interface ParsedArgs {
  /** Global flags given before the command. */
  flags: GlobalFlags;
  /** The command name, if any. */
  command?: string;
  /** Arguments after the command name, untouched. */
  args: string[];
}

const VALUE_FLAGS: Record<string, keyof GlobalFlags> = {
  "--state": "state",
  "--root": "root",
  "--namespace": "namespace",
  "-n": "namespace",
  "--config": "config",
  "--log-level": "logLevel",
  "--log-format": "logFormat",
  "--address": "address",
  "-a": "address",
};

/** The global flags that take a value (`--state`, `-n`, ...), for hints when one is given after the command. */
export const GLOBAL_VALUE_FLAGS: readonly string[] = Object.freeze(Object.keys(VALUE_FLAGS));

const BOOL_FLAGS: Record<string, keyof GlobalFlags> = {
  "--json": "json",
  "--help": "help",
  "-h": "help",
  "--version": "version",
  "-v": "version",
};

/**
 * Parses global flags up to the first non-flag argument, which is the command.
 * Accepts `--flag value` and `--flag=value`; `--` ends the global flags.
 *
 * @param argv the arguments after the program name
 * @returns flags, command and the command's arguments
 * @throws UsageError for an unknown flag, a missing value or a bad `--log-level`/`--log-format`
 */
export function parseGlobalArgs(argv: readonly string[]): ParsedArgs {
  const flags: GlobalFlags = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const bool = BOOL_FLAGS[name];
    if (bool) {
      if (eq > 0) throw new UsageError(`flag "${name}" takes no value`);
      (flags as Record<string, unknown>)[bool] = true;
      continue;
    }
    const key = VALUE_FLAGS[name];
    if (!key) throw new UsageError(`unknown global flag "${name}"`);
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag "${name}" needs a value`);
      value = argv[++i];
    }
    setValue(flags, key, name, value);
  }
  return { flags, command: argv[i], args: argv.slice(i + 1) };
}

function setValue(flags: GlobalFlags, key: keyof GlobalFlags, name: string, value: string): void {
  if (key === "logLevel") {
    try {
      flags.logLevel = parseLogLevel(value);
    } catch (e) {
      throw new UsageError(`flag "${name}": ${(e as Error).message}`);
    }
  } else if (key === "logFormat") {
    if (value !== "logfmt" && value !== "json") {
      throw new UsageError(`flag "${name}": invalid log format "${value}": want logfmt or json`);
    }
    flags.logFormat = value;
  } else {
    if (value === "") throw new UsageError(`flag "${name}" needs a non-empty value`);
    (flags as Record<string, unknown>)[key] = value;
  }
}

/**
 * Removes every `--json` before a `--` from a command's arguments, for
 * listing commands that accept it after the command name (`shimkit ps --json`).
 *
 * @param args the command's arguments
 * @returns the remaining arguments and whether `--json` was present
 */
export function liftJsonFlag(args: readonly string[]): { args: string[]; json: boolean } {
  const end = args.indexOf("--");
  const head = end < 0 ? args : args.slice(0, end);
  const kept = head.filter((a) => a !== "--json");
  return {
    args: end < 0 ? kept : [...kept, ...args.slice(end)],
    json: kept.length !== head.length,
  };
}

/**
 * The config file the CLI should read: `--config`, else `SHIMKIT_CONFIG`.
 *
 * @param flags parsed global flags
 * @param env the environment
 * @returns a path, or undefined to use the default location if it exists
 */
export function configPathOf(
  flags: GlobalFlags,
  env: Record<string, string | undefined>,
): string | undefined {
  return flags.config ?? (env.SHIMKIT_CONFIG || undefined);
}

/**
 * Resolves the global options: the config file's values (which carry the
 * defaults), overridden by `SHIMKIT_STATE`/`SHIMKIT_ROOT`/`SHIMKIT_NAMESPACE`,
 * overridden by flags. A relative state or root dir is made absolute against
 * `cwd`: shims are given these paths and run elsewhere.
 *
 * @param flags parsed global flags
 * @param env the environment
 * @param config the loaded config (or the defaults)
 * @param configPath the config file in use, if any
 * @param cwd the directory relative `--state`/`--root` values are resolved against (default `/`)
 * @returns the options every command sees
 * @throws InvalidArgumentError for an invalid namespace, naming where it came from
 *   (`--namespace: invalid namespace "a/b": …`)
 */
export function resolveGlobalOptions(
  flags: GlobalFlags,
  env: Record<string, string | undefined>,
  config: Pick<Config, "state" | "root" | "namespace">,
  configPath?: string,
  cwd = "/",
): GlobalOptions {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const opts: GlobalOptions = {
    state: abs(flags.state ?? (env.SHIMKIT_STATE || config.state)),
    root: abs(flags.root ?? (env.SHIMKIT_ROOT || config.root)),
    namespace: flags.namespace ?? (env.SHIMKIT_NAMESPACE || config.namespace),
    logLevel: flags.logLevel ?? "info",
    logFormat: flags.logFormat ?? "logfmt",
    json: flags.json ?? false,
  };
  if (configPath !== undefined) opts.config = configPath;
  if (flags.address !== undefined) opts.address = flags.address;
  // Checked here, before any command does work (picks a runtime, unpacks a rootfs, watches events).
  try {
    validateNamespace(opts.namespace);
  } catch (err) {
    const from = flags.namespace !== undefined
      ? "--namespace"
      : env.SHIMKIT_NAMESPACE
      ? "SHIMKIT_NAMESPACE"
      : "the config's namespace";
    throw withContext(err, from);
  }
  return opts;
}
