/**
 * The shimkit config file: TOML text → a validated {@link Config}. Pure: no
 * file I/O here (see `load.ts`). Defaults live in one object,
 * {@link DEFAULT_CONFIG}; every validation error names the key and the value:
 * `config "/x.toml": timeouts.start: invalid duration "5x"`.
 *
 * @module
 */

import { parse, stringify, TomlError } from "smol-toml";
import { InvalidArgumentError, NotImplementedError } from "../errors.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { containerdKeyOf } from "./containerd.ts";
import { migrateConfigTable } from "./migrate.ts";

/** The config format version this build writes and reads natively. */
export const CONFIG_VERSION = 3;

/** The runtime shimkit uses when none is named: containerd's runc shim. */
export const RUNC_RUNTIME = "io.containerd.runc.v2";
/** The embedded fault-injecting fake shim, the fallback when no runc shim resolves. */
export const FAKE_RUNTIME = "io.containerd.fake.v2";

/** Settings for one runtime, `[runtimes."<name>"]`. */
export interface RuntimeConfig {
  /** Explicit shim binary path; absent means resolve the name (`io.containerd.runc.v2` → `containerd-shim-runc-v2`). */
  path?: string;
  /** Runtime options sent to the shim at start (for runc: `containerd.runc.v1.Options` fields, e.g. `BinaryName`). */
  options: Record<string, unknown>;
}

/** Timeouts in milliseconds, `[timeouts]` (written as Go durations: `start = "5s"`). */
export interface TimeoutsConfig {
  /** Running `shim start` until it prints its address (default 5 s). */
  start: number;
  /** Connecting to an existing shim while restoring (default 5 s, containerd's shim load timeout). */
  load: number;
  /** The `Shutdown` call after a delete (default 3 s, as containerd). */
  shutdown: number;
  /** Running `shim delete` for cleanup (default 5 s). */
  cleanup: number;
}

/** A validated shimkit configuration. TOML keys are snake_case; fields here are camelCase. */
export interface Config {
  /** Format version of the file it came from after migration; always {@link CONFIG_VERSION}. */
  version: number;
  /** State directory: bundles, sockets, fifos (`state`, default `/run/shimkit`). */
  state: string;
  /** Root directory: persistent work dirs and container records (`root`, default `/var/lib/shimkit`). */
  root: string;
  /** Directory for sockets shimkit creates (`socket_dir`); absent means `<state>/s`, see {@link socketDirOf}. */
  socketDir?: string;
  /** Default namespace (`namespace`, default `default`). */
  namespace: string;
  /** Runtime used when a command names none (`default_runtime`, default {@link RUNC_RUNTIME}). */
  defaultRuntime: string;
  /** Start shims with `-debug` (`debug`, default false). */
  debug: boolean;
  /** Shim process settings, `[shim]`. */
  shim: {
    /** Extra `KEY=VALUE` environment entries for every shim, appended last (`[shim] env`). */
    env: string[];
  };
  /** Per-runtime settings keyed by runtime name, `[runtimes."<name>"]`. */
  runtimes: Record<string, RuntimeConfig>;
  /** Timeouts in milliseconds, `[timeouts]`. */
  timeouts: TimeoutsConfig;
  /** Restore (shim reload) settings, `[restore]`. */
  restore: {
    /** How many shims are reloaded at once (`concurrency`, default 8). */
    concurrency: number;
  };
}

/** Every default in one place. Treat as read-only; {@link defaultConfig} returns a fresh copy. */
export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  version: CONFIG_VERSION,
  state: "/run/shimkit",
  root: "/var/lib/shimkit",
  namespace: "default",
  defaultRuntime: RUNC_RUNTIME,
  debug: false,
  shim: { env: [] },
  runtimes: {},
  timeouts: { start: 5000, load: 5000, shutdown: 3000, cleanup: 5000 },
  restore: { concurrency: 8 },
});

/**
 * Returns a fresh, mutable copy of the defaults.
 *
 * @returns a Config equal to {@link DEFAULT_CONFIG}
 */
export function defaultConfig(): Config {
  return structuredClone(DEFAULT_CONFIG) as Config;
}

/**
 * The socket directory in effect: `socketDir` when set, else `<state>/s`.
 *
 * @param config a config
 * @returns an absolute directory path
 */
export function socketDirOf(config: Pick<Config, "socketDir" | "state">): string {
  return config.socketDir ?? `${config.state.replace(/\/+$/, "")}/s`;
}

/** Result of {@link parseConfig}: the config and any migration warnings for the caller to show. */
export interface ParsedConfig {
  /** The validated config. */
  config: Config;
  /** Non-fatal findings, e.g. a skipped migration of a non-boolean `sched_core`. */
  warnings: string[];
  /** The file's version before migration (1 when it had none, as containerd counts). */
  sourceVersion: number;
}

// Linux: socket_dir + "/" + a 64-hex-char socket name must fit sockaddr_un's 106 usable bytes
// (containerd 2.3 enforces ≤42 for socket_dir; protocol-facts §3).
const SOCKET_DIR_MAX = 42;
// containerd's namespace rule (namespaces.Validate): labels of [A-Za-z0-9] joined by . _ -, ≤76 chars.
const NAMESPACE_RE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const NAMESPACE_MAX = 76;

type Table = Record<string, unknown>;

/**
 * Parses and validates config text. Files older than {@link CONFIG_VERSION}
 * (or with no `version`, which containerd counts as 1) are migrated first.
 *
 * @param text TOML text
 * @param source where the text came from, used in messages (a path, or e.g. `"<stdin>"`)
 * @returns the config, migration warnings and the original version
 * @throws InvalidArgumentError for TOML syntax errors, unknown keys and bad values, naming key and value
 * @throws NotImplementedError for a version newer than this build understands
 * @example
 * ```ts
 * const { config } = parseConfig('[timeouts]\nstart = "10s"', "/etc/shimkit/config.toml");
 * config.timeouts.start; // 10000
 * ```
 */
export function parseConfig(text: string, source: string): ParsedConfig {
  const table = parseToml(text, source);
  const err = (key: string, problem: string) =>
    new InvalidArgumentError(`config "${source}": ${key}: ${problem}`);
  let migrated;
  try {
    migrated = migrateConfigTable(table);
  } catch (e) {
    throw new InvalidArgumentError(`config "${source}": ${(e as Error).message}`, { cause: e });
  }
  if (migrated.sourceVersion > CONFIG_VERSION) {
    throw new NotImplementedError(
      `config "${source}": version: unsupported version ${migrated.sourceVersion}: this build reads up to ${CONFIG_VERSION}`,
    );
  }
  const containerdKey = containerdKeyOf(migrated.table);
  if (containerdKey !== undefined) {
    throw new InvalidArgumentError(
      `config "${source}": ${containerdKey}: a containerd setting: this is a containerd config, and shimkit ` +
        `reads its own format; convert it with "shimkit config migrate FILE" and review what it drops`,
    );
  }
  return {
    config: validateTable(migrated.table, err),
    warnings: migrated.warnings,
    sourceVersion: migrated.sourceVersion,
  };
}

/**
 * Parses TOML text into a plain table, turning syntax errors into InvalidArgumentError.
 *
 * @param text TOML text
 * @param source where the text came from, for messages
 * @returns the parsed table
 * @throws InvalidArgumentError `config "<source>": line L, column C: <problem>`
 */
export function parseToml(text: string, source: string): Table {
  try {
    return parse(text) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new InvalidArgumentError(`config "${source}": line ${e.line}, column ${e.column}: ${first}`, {
        cause: e,
      });
    }
    throw new InvalidArgumentError(`config "${source}": ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

type ErrFn = (key: string, problem: string) => Error;

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}`;
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object" && v !== null) return "a table";
  return String(v);
}

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function checkKeys(t: Table, allowed: readonly string[], prefix: string, err: ErrFn): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k)) throw err(prefix + k, "unknown key");
  }
}

function str(t: Table, key: string, path: string, err: ErrFn): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw err(path, `want a string, got ${show(v)}`);
  return v;
}

function absPath(t: Table, key: string, path: string, err: ErrFn): string | undefined {
  const v = str(t, key, path, err);
  if (v !== undefined && !v.startsWith("/")) throw err(path, `want an absolute path, got ${show(v)}`);
  return v;
}

function sub(t: Table, key: string, err: ErrFn): Table {
  const v = t[key];
  if (v === undefined) return {};
  if (!isTable(v)) throw err(key, `want a table, got ${show(v)}`);
  return v;
}

const TOP_KEYS = [
  "version",
  "state",
  "root",
  "socket_dir",
  "namespace",
  "default_runtime",
  "debug",
  "shim",
  "runtimes",
  "timeouts",
  "restore",
] as const;
const TIMEOUT_KEYS = ["start", "load", "shutdown", "cleanup"] as const;

function validateTable(t: Table, err: ErrFn): Config {
  const c = defaultConfig();
  checkKeys(t, TOP_KEYS, "", err);
  c.state = absPath(t, "state", "state", err) ?? c.state;
  c.root = absPath(t, "root", "root", err) ?? c.root;
  const socketDir = absPath(t, "socket_dir", "socket_dir", err);
  if (socketDir !== undefined) {
    if (socketDir.length > SOCKET_DIR_MAX) {
      throw err("socket_dir", `path ${show(socketDir)} is longer than ${SOCKET_DIR_MAX} characters`);
    }
    c.socketDir = socketDir;
  }
  const ns = str(t, "namespace", "namespace", err);
  if (ns !== undefined) {
    if (ns.length > NAMESPACE_MAX || !NAMESPACE_RE.test(ns)) {
      throw err("namespace", `invalid namespace ${show(ns)}`);
    }
    c.namespace = ns;
  }
  const rt = str(t, "default_runtime", "default_runtime", err);
  if (rt !== undefined) c.defaultRuntime = validRuntimeName(rt, "default_runtime", err);
  if (t.debug !== undefined) {
    if (typeof t.debug !== "boolean") throw err("debug", `want true or false, got ${show(t.debug)}`);
    c.debug = t.debug;
  }

  const shim = sub(t, "shim", err);
  checkKeys(shim, ["env"], "shim.", err);
  if (shim.env !== undefined) {
    if (!Array.isArray(shim.env)) {
      throw err("shim.env", `want an array of "KEY=VALUE" strings, got ${show(shim.env)}`);
    }
    c.shim.env = shim.env.map((e, i) => {
      if (typeof e !== "string" || !/^[^=]+=/.test(e)) {
        throw err(`shim.env[${i}]`, `want "KEY=VALUE", got ${show(e)}`);
      }
      return e;
    });
  }

  const runtimes = sub(t, "runtimes", err);
  for (const [name, raw] of Object.entries(runtimes)) {
    const key = `runtimes.${JSON.stringify(name)}`;
    validRuntimeName(name, "runtimes", err);
    if (!isTable(raw)) throw err(key, `want a table, got ${show(raw)}`);
    checkKeys(raw, ["path", "options"], `${key}.`, err);
    const entry: RuntimeConfig = { options: {} };
    const path = str(raw, "path", `${key}.path`, err);
    if (path !== undefined) {
      if (path === "") throw err(`${key}.path`, `want a binary path, got ""`);
      entry.path = path;
    }
    if (raw.options !== undefined) {
      if (!isTable(raw.options)) throw err(`${key}.options`, `want a table, got ${show(raw.options)}`);
      entry.options = plainTable(raw.options);
    }
    c.runtimes[name] = entry;
  }

  const timeouts = sub(t, "timeouts", err);
  checkKeys(timeouts, TIMEOUT_KEYS, "timeouts.", err);
  for (const k of TIMEOUT_KEYS) {
    const v = timeouts[k];
    if (v === undefined) continue;
    if (typeof v !== "string") throw err(`timeouts.${k}`, `want a duration string like "5s", got ${show(v)}`);
    try {
      c.timeouts[k] = parseDuration(v);
    } catch {
      throw err(`timeouts.${k}`, `invalid duration ${show(v)}`);
    }
  }

  const restore = sub(t, "restore", err);
  checkKeys(restore, ["concurrency"], "restore.", err);
  if (restore.concurrency !== undefined) {
    const v = restore.concurrency;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 1024) {
      throw err("restore.concurrency", `want an integer from 1 to 1024, got ${show(v)}`);
    }
    c.restore.concurrency = v;
  }
  return c;
}

// smol-toml builds tables with a null prototype; callers get ordinary objects.
function plainTable(t: Table): Table {
  const out: Table = {};
  for (const [k, v] of Object.entries(t)) out[k] = plainValue(v);
  return out;
}

function plainValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainValue);
  return isTable(v) ? plainTable(v) : v;
}

function validRuntimeName(name: string, key: string, err: ErrFn): string {
  // containerd's BinaryName rule: at least two dot-separated parts, no path separators.
  const parts = name.split(".");
  if (parts.length < 2 || parts.some((p) => p === "") || name.includes("/")) {
    throw err(key, `invalid runtime name ${show(name)}: want a name like "io.containerd.runc.v2"`);
  }
  return name;
}

/**
 * Renders a config as TOML in the current format, every key spelled out
 * (what `shimkit config dump` prints); {@link parseConfig} reads it back.
 *
 * @param config the config to render
 * @returns TOML text ending in a newline
 */
export function formatConfig(config: Config): string {
  const out: Table = {
    version: config.version,
    state: config.state,
    root: config.root,
    socket_dir: socketDirOf(config),
    namespace: config.namespace,
    default_runtime: config.defaultRuntime,
    debug: config.debug,
    shim: { env: config.shim.env },
    timeouts: Object.fromEntries(TIMEOUT_KEYS.map((k) => [k, formatDuration(config.timeouts[k])])),
    restore: { concurrency: config.restore.concurrency },
  };
  if (Object.keys(config.runtimes).length > 0) {
    out.runtimes = Object.fromEntries(
      Object.entries(config.runtimes).map((
        [name, r],
      ) => [name, r.path === undefined ? { options: r.options } : r]),
    );
  }
  return stringify(out).trimEnd() + "\n";
}

/**
 * The commented default config (what `shimkit config default` prints).
 *
 * @returns TOML text that parses to {@link DEFAULT_CONFIG}
 */
export function defaultConfigText(): string {
  const d = DEFAULT_CONFIG;
  return `# shimkit config, version ${CONFIG_VERSION}. Every key is optional; shown are the defaults.
version = ${CONFIG_VERSION}

# Bundles, sockets and fifos (tmpfs). Env SHIMKIT_STATE and --state override it.
state = "${d.state}"
# Persistent work dirs and container records. Env SHIMKIT_ROOT and --root override it.
root = "${d.root}"
# Sockets shimkit creates; absent means "<state>/s". Absolute, at most ${SOCKET_DIR_MAX} characters.
# socket_dir = "/run/shimkit/s"
# Default namespace. Env SHIMKIT_NAMESPACE and --namespace override it.
namespace = "${d.namespace}"
# Runtime used when a command names none. When this is "${RUNC_RUNTIME}" and
# no containerd-shim-runc-v2 is found, the CLI falls back to the embedded "${FAKE_RUNTIME}".
default_runtime = "${d.defaultRuntime}"
# Start shims with -debug.
debug = ${d.debug}

[shim]
# Extra environment for every shim, appended last, e.g. ["SCHED_CORE=1"].
env = []

[timeouts]
start = "${formatDuration(d.timeouts.start)}"
load = "${formatDuration(d.timeouts.load)}"
shutdown = "${formatDuration(d.timeouts.shutdown)}"
cleanup = "${formatDuration(d.timeouts.cleanup)}"

[restore]
# Shims reloaded at once.
concurrency = ${d.restore.concurrency}

# Per-runtime settings:
# [runtimes."io.containerd.runc.v2"]
# path = "/usr/bin/containerd-shim-runc-v2"
# options = { BinaryName = "/usr/bin/runc", SystemdCgroup = false }
`;
}
