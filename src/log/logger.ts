/**
 * Structured logging to stderr: logfmt by default, JSON lines on request.
 * Command output never goes through the logger; it goes to stdout.
 *
 * @module
 */

/** Log severities, lowest first. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";
/** Output encodings. */
export type LogFormat = "logfmt" | "json";
/** Extra key/value context attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A structured logger; `child` returns a logger that adds fields to every line. */
export interface Logger {
  /** Logs at trace level. @param msg message @param fields context */
  trace(msg: string, fields?: LogFields): void;
  /** Logs at debug level. @param msg message @param fields context */
  debug(msg: string, fields?: LogFields): void;
  /** Logs at info level. @param msg message @param fields context */
  info(msg: string, fields?: LogFields): void;
  /** Logs at warn level. @param msg message @param fields context */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at error level. @param msg message @param fields context */
  error(msg: string, fields?: LogFields): void;
  /** Returns a logger that adds `fields` to every line. @param fields context @returns Logger */
  child(fields: LogFields): Logger;
  /** True when `level` would be written. @param level level @returns boolean */
  enabled(level: LogLevel): boolean;
}

const LEVEL_RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Minimum level written (default `info`). */
  level?: LogLevel;
  /** Encoding (default `logfmt`). */
  format?: LogFormat;
  /** Where lines go (default: process.stderr). */
  write?: (line: string) => void;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Fields added to every line. */
  fields?: LogFields;
}

/**
 * Validates a log level name.
 *
 * @param value user input
 * @returns the level
 * @throws TypeError naming the accepted values
 */
export function parseLogLevel(value: string): LogLevel {
  const v = value.toLowerCase();
  if (v in LEVEL_RANK) return v as LogLevel;
  throw new TypeError(`invalid log level "${value}": want trace, debug, info, warn or error`);
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

function formatValue(v: unknown): string {
  let s: string;
  if (v instanceof Error) s = v.message;
  else if (typeof v === "string") s = v;
  else if (v === undefined) s = "";
  else if (typeof v === "object" && v !== null) s = JSON.stringify(v);
  else s = String(v);
  return s === "" || /[\s"=\\]/.test(s) || hasControlChar(s) ? JSON.stringify(s) : s;
}

/**
 * Formats one logfmt line (no newline).
 *
 * @param time timestamp
 * @param level level
 * @param msg message
 * @param fields context fields
 * @returns the line
 */
export function formatLogfmt(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `time=${time.toISOString()} level=${level} msg=${formatValue(msg)}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    line += ` ${k}=${formatValue(v)}`;
  }
  return line;
}

/**
 * Formats one JSON log line (no newline).
 *
 * @param time timestamp
 * @param level level
 * @param msg message
 * @param fields context fields
 * @returns the line
 */
export function formatJsonLine(time: Date, level: LogLevel, msg: string, fields: LogFields): string {
  const obj: Record<string, unknown> = { time: time.toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    obj[k] = v instanceof Error ? v.message : v;
  }
  return JSON.stringify(obj);
}

/**
 * Creates a logger.
 *
 * @param options level, format, sink
 * @returns a Logger
 * @example
 * ```ts
 * const log = createLogger({ level: "debug", format: "json" });
 * log.child({ id: "c1" }).info("shim started", { pid: 42 });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LEVEL_RANK[options.level ?? "info"];
  const format = options.format === "json" ? formatJsonLine : formatLogfmt;
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const now = options.now ?? (() => new Date());
  const base = options.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVEL_RANK[level] < min) return;
    write(format(now(), level, msg, fields ? { ...base, ...fields } : base));
  };
  return {
    trace: (m, f) => emit("trace", m, f),
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
    enabled: (level) => LEVEL_RANK[level] >= min,
  };
}

/** A logger that drops everything; the default for library users who pass none. */
export const nullLogger: Logger = createLogger({ level: "error", write: () => {} });
