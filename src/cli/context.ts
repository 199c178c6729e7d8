/**
 * What every CLI command receives: its I/O sinks, environment, logger and the
 * parsed global flags. Commands never touch `process.stdout`/`process.env`
 * directly, so tests can run them in-process with captured output.
 *
 * @module
 */

import type { Config } from "../config/config.ts";
import type { LogFormat, Logger, LogLevel } from "../log/logger.ts";

/** Global flags, resolved from defaults, the config file, the environment and the command line (in that order). */
export interface GlobalOptions {
  /** State directory holding bundles and sockets (`--state`, `SHIMKIT_STATE`; default `/run/shimkit`). */
  state: string;
  /** Root directory holding persistent data and records (`--root`, `SHIMKIT_ROOT`; default `/var/lib/shimkit`). */
  root: string;
  /** Namespace commands act in (`--namespace`/`-n`, `SHIMKIT_NAMESPACE`; default `default`). */
  namespace: string;
  /** Path of the config file in use (`--config`, `SHIMKIT_CONFIG`), when one was given or found. */
  config?: string;
  /** Minimum log level written to stderr (`--log-level`; default `info`). */
  logLevel: LogLevel;
  /** Log line encoding on stderr (`--log-format logfmt|json`; default `logfmt`). */
  logFormat: LogFormat;
  /** Print machine-readable JSON instead of tables (`--json`). */
  json: boolean;
  /**
   * Event socket address given with `--address` (shims that publish through
   * `-publish-binary` call `shimkit --address <addr> publish ...`).
   */
  address?: string;
}

/** Everything a command needs from its environment; `main(args, ctx)` gets one. */
export interface CommandContext {
  /** Writes command output (tables, JSON, ids) to standard output; callers add newlines. */
  stdout: (s: string) => void;
  /** Writes human-facing diagnostics to standard error; callers add newlines. */
  stderr: (s: string) => void;
  /** Reads all of standard input (resolves when it closes). */
  stdin: () => Promise<Uint8Array>;
  /** The environment variables the command sees. */
  env: Record<string, string | undefined>;
  /** Structured logger writing to stderr at the configured level and format. */
  logger: Logger;
  /** The resolved global flags. */
  global: GlobalOptions;
  /**
   * The effective config: the config file (or the defaults) with `state`, `root` and `namespace` replaced by
   * the values in {@link GlobalOptions}. The CLI always sets it; contexts built by tests may leave it out,
   * in which case commands use `defaultConfig()` from `src/config/config.ts`.
   */
  config?: Config;
}
