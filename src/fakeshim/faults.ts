/**
 * The fake shim's fault catalogue and scenario model (pure: no I/O).
 *
 * A scenario is a TOML document describing what the fake shim's processes do
 * and which faults it injects. Faults are written as *specs*, a small grammar
 * modelled on containerd's failpoints:
 *
 * ```
 * spec   := term ("->" term)*          terms apply one after another
 * term   := [N "*"] action ("+" action)*   N calls, then the next term (no N: for ever)
 * action := name ["(" arg ("," arg)* ")"]  args positional; "quoted" when they hold , or )
 * ```
 *
 * `2*off->crash` crashes on the third call; `latency(1s)+error(NotFound,boom)`
 * answers late with an error. Each target (an RPC method such as `Create`, `*`
 * for every RPC, or one of the phases `start`, `delete`, `daemon`, `events`)
 * accepts its own actions, listed in {@link FAULTS}.
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import { InvalidArgumentError } from "../errors.ts";

/** Annotation (in the bundle's config.json) holding a scenario: a file path or inline TOML. */
export const SCENARIO_ANNOTATION = "io.shimkit.fake.scenario";
/** Prefix of per-target fault annotations: `io.shimkit.fake.fault.Create = "error(NotFound,boom)"`. */
export const FAULT_ANNOTATION_PREFIX = "io.shimkit.fake.fault.";
/** Environment variable naming a scenario file (or holding inline TOML). */
export const SCENARIO_ENV = "SHIMKIT_FAKE_SCENARIO";
/** Environment variable overriding the socket directory. */
export const SOCKET_DIR_ENV = "SHIMKIT_FAKE_SOCKET_DIR";

/** Where a fault applies: the `start`/`delete` subcommands, the daemon's life, its event publisher, or RPCs. */
export type FaultTarget = "start" | "delete" | "daemon" | "events" | "rpc";

/** The type of one fault parameter, which decides how its text is parsed. */
export type ParamType = "int" | "duration" | "size" | "string" | "code";

/** One parameter of a fault action. */
export interface ParamDef {
  /** Parameter name, used in docs and in {@link FaultAction.params}. */
  name: string;
  /** How the text is parsed. */
  type: ParamType;
  /** Value used when the argument is omitted (already parsed). */
  default: number | string;
  /** One-line description. */
  doc: string;
}

/** One named fault in the catalogue. */
export interface FaultDef {
  /** The action name used in specs, e.g. `error`. */
  name: string;
  /** Which target(s) accept it. */
  targets: readonly FaultTarget[];
  /** One-line description for `--help` and docs. */
  doc: string;
  /** Positional parameters. */
  params: readonly ParamDef[];
}

const FOREVER = Number.POSITIVE_INFINITY;

/**
 * The fault catalogue: every action a spec may name, with the targets that
 * accept it. `--help` and docs/fake-shim.md are generated from this table.
 */
export const FAULTS: readonly FaultDef[] = [
  {
    name: "off",
    targets: ["start", "delete", "daemon", "events", "rpc"],
    doc: "no fault (a placeholder in chains: `2*off->crash`)",
    params: [],
  },
  {
    name: "fail",
    targets: ["start", "delete"],
    doc: "exit non-zero and print a message on stderr, as a broken shim binary does",
    params: [
      { name: "exit_code", type: "int", default: 1, doc: "process exit code" },
      {
        name: "message",
        type: "string",
        default: "injected failure",
        doc: "stderr text (prefixed with the runtime name)",
      },
    ],
  },
  {
    name: "garbage",
    targets: ["start"],
    doc: "print text that is no address, JSON or protobuf on stdout and exit 0 (no daemon)",
    params: [{
      name: "text",
      type: "string",
      default: "\u0000\u00ff\u00fenot-an-address",
      doc: "what to print",
    }],
  },
  {
    name: "version",
    targets: ["start"],
    doc: "print a JSON bootstrap with an unsupported version (the daemon still runs)",
    params: [{ name: "version", type: "int", default: 4, doc: "the version number to claim" }],
  },
  {
    name: "dead-address",
    targets: ["start"],
    doc: "print the address of a socket nobody listens on and exit 0 (no daemon)",
    params: [],
  },
  {
    name: "hang",
    targets: ["start", "delete", "rpc"],
    doc:
      "block: the subcommand never exits / the RPC never answers (until the duration passes or it is killed)",
    params: [{
      name: "duration",
      type: "duration",
      default: FOREVER,
      doc: "how long (`forever` by default)",
    }],
  },
  {
    name: "latency",
    targets: ["start", "delete", "rpc"],
    doc: "wait before doing the normal work (combine with another action using `+`)",
    params: [{ name: "duration", type: "duration", default: 1000, doc: "delay" }],
  },
  {
    name: "die",
    targets: ["daemon"],
    doc: "the daemon exits right after start (the socket stays behind: connects are refused)",
    params: [
      { name: "after", type: "duration", default: 0, doc: "how long the daemon serves before it dies" },
      { name: "exit_code", type: "int", default: 1, doc: "the daemon's exit code" },
    ],
  },
  {
    name: "stale-socket",
    targets: ["daemon"],
    doc: "never remove the socket file when the daemon exits",
    params: [],
  },
  {
    name: "linger",
    targets: ["daemon"],
    doc: "after Shutdown (socket removed, connections closed) keep running this long before exiting, " +
      "as a real shim does while its publisher retries events nobody receives",
    params: [{ name: "duration", type: "duration", default: 30_000, doc: "how long the daemon lingers" }],
  },
  {
    name: "leak-process",
    targets: ["daemon"],
    doc: "spawn a child in its own process group that outlives the daemon; its pid is listed by Pids",
    params: [{
      name: "lifetime",
      type: "duration",
      default: 600_000,
      doc: "how long the leaked child lives",
    }],
  },
  {
    name: "log-flood",
    targets: ["daemon"],
    doc: "write this many bytes to the log fifo at startup (blocks if nobody drains it)",
    params: [{ name: "bytes", type: "size", default: 8 << 20, doc: "how much to write" }],
  },
  { name: "drop-exit", targets: ["events"], doc: "never publish /tasks/exit", params: [] },
  { name: "dup-exit", targets: ["events"], doc: "publish every /tasks/exit twice", params: [] },
  { name: "drop-all", targets: ["events"], doc: "publish nothing", params: [] },
  {
    name: "error",
    targets: ["rpc"],
    doc: "answer with a TTRPC status",
    params: [
      { name: "code", type: "code", default: 2, doc: "status code: a name (NotFound) or a number (5)" },
      { name: "message", type: "string", default: "injected fault", doc: "status message" },
    ],
  },
  {
    name: "crash",
    targets: ["rpc"],
    doc: "the daemon dies mid-call (like a Go panic): no reply, connection EOF, socket left behind",
    params: [{ name: "exit_code", type: "int", default: 2, doc: "the daemon's exit code" }],
  },
  {
    name: "close",
    targets: ["rpc"],
    doc: "close the connection mid-call, without a reply; the daemon lives on",
    params: [],
  },
  {
    name: "oversize",
    targets: ["rpc"],
    doc: "answer with a payload larger than the 4 MiB TTRPC limit",
    params: [{ name: "bytes", type: "size", default: (4 << 20) + 1024, doc: "payload size" }],
  },
];

const FAULT_BY_NAME: ReadonlyMap<string, FaultDef> = new Map(FAULTS.map((f) => [f.name, f]));

/** Actions that decide the outcome of a call; at most one may appear in a term. */
const TERMINAL_RPC = new Set(["error", "hang", "crash", "close", "oversize"]);

/** Every RPC method name the fake serves (task v2/v3 and the legacy v1 Shim service). */
export const RPC_METHODS: readonly string[] = [
  "State",
  "Create",
  "Start",
  "Delete",
  "Pids",
  "Pause",
  "Resume",
  "Checkpoint",
  "Kill",
  "Exec",
  "ResizePty",
  "CloseIO",
  "Update",
  "Wait",
  "Stats",
  "Connect",
  "Shutdown",
  "DeleteProcess",
  "ListPids",
  "ShimInfo",
];
const RPC_METHOD_SET = new Set(RPC_METHODS);
const PHASES = new Set(["start", "delete", "daemon", "events"]);

/** TTRPC/gRPC status code names accepted by `error(code, …)`. */
export const STATUS_CODES: Readonly<Record<string, number>> = {
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
};

/** A parsed, validated fault action. */
export interface FaultAction {
  /** The catalogue name. */
  name: string;
  /** Parameter values by name (durations in ms, `Infinity` for forever; sizes in bytes). */
  params: Record<string, number | string>;
}

/** One term of a chain: `count` calls (null: every call from here on) get `actions`. */
export interface FaultStep {
  /** How many calls this term covers; null for all remaining calls. */
  count: number | null;
  /** Actions applied together; empty means no fault. */
  actions: FaultAction[];
}

/** A parsed spec: terms applied one after another. */
export type FaultChain = FaultStep[];

/** All faults of a scenario, by target key (`start`, `daemon`, `Create`, `*`, …). */
export type FaultPlan = Record<string, FaultChain>;

/** What a scripted process does when no defaults apply; see script.ts. */
export interface ProcessSpec {
  /** Exit code (0–255). */
  exitCode?: number;
  /** How long it runs in ms (`Infinity`: until killed). */
  durationMs?: number;
  /** Text written to its stdout. */
  stdout?: string;
  /** Text written to its stderr. */
  stderr?: string;
  /** Signal numbers it ignores (SIGKILL can never be trapped). */
  traps: number[];
  /** Publish /tasks/oom just before it exits. */
  oom: boolean;
}

/** How `start` prints the address. */
export type BootstrapFormat = "plain" | "json-v2" | "json-v3" | "protobuf";
/** Which task service names the daemon registers. */
export type TaskApi = "v2" | "v3" | "both";

/** A validated scenario. */
export interface Scenario {
  /** How `start` prints its address (default `json-v3`, like 2.x runc). */
  bootstrap: BootstrapFormat;
  /** Which task API service names to serve (default both). */
  taskApi: TaskApi;
  /** Socket directory override (else env, else the default). */
  socketDir?: string;
  /** Whether the daemon requires the `log` fifo in its cwd, like the real shim (default true). */
  requireLogFifo: boolean;
  /** How long the daemon waits for queued events after Shutdown before it exits (ms, default 2000). */
  exitDrainMs: number;
  /** Behaviour of init processes (empty: tiny-shell defaults). */
  init: ProcessSpec;
  /** Behaviour of exec processes without their own entry. */
  exec: ProcessSpec;
  /** Behaviour per exec id. */
  execs: Record<string, ProcessSpec>;
  /** Faults by target. */
  faults: FaultPlan;
}

/** One scenario document and where it came from (used in error messages). */
export interface ScenarioLayer {
  /** e.g. `env SHIMKIT_FAKE_SCENARIO "/x.toml"` or `annotation "io.shimkit.fake.scenario"`. */
  origin: string;
  /** The TOML text. */
  text: string;
}

function bad(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

/**
 * Parses a duration: `250ms`, `2s`, `1.5s`, `1m`, `1h`, a bare number of
 * seconds, or `forever`/`infinity`.
 *
 * @param text the duration text
 * @returns milliseconds (`Infinity` for forever)
 * @throws InvalidArgumentError when the text is not a duration
 */
export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  if (t === "forever" || t === "infinity" || t === "inf") return FOREVER;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(t);
  if (!m) throw bad(`invalid duration "${text}": want e.g. 250ms, 2s, 1m or forever`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const mult = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000;
  return Math.round(n * mult);
}

/**
 * Parses a byte size: `123`, `4KiB`, `5MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`).
 *
 * @param text the size text
 * @returns bytes
 * @throws InvalidArgumentError when the text is not a size
 */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw bad(`invalid size "${text}": want e.g. 4096, 64KiB or 5MiB`);
  const unit = (m[2] ?? "b").toLowerCase()[0];
  const mult = unit === "k" ? 1024 : unit === "m" ? 1 << 20 : unit === "g" ? 1 << 30 : 1;
  return Number(m[1]) * mult;
}

/**
 * Parses a status code given by name (`NotFound`, case-insensitive) or number (0–16).
 *
 * @param text the code
 * @returns the numeric code
 * @throws InvalidArgumentError for unknown names or out-of-range numbers
 */
export function parseStatusCode(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n <= 16) return n;
  } else {
    for (const [name, code] of Object.entries(STATUS_CODES)) {
      if (name.toLowerCase() === t.toLowerCase()) return code;
    }
  }
  throw bad(`invalid status code "${text}": want a name like NotFound or a number 0-16`);
}

function parseParam(def: ParamDef, raw: string): number | string {
  switch (def.type) {
    case "int": {
      if (!/^\d+$/.test(raw.trim())) throw bad(`parameter "${def.name}": want an integer, got "${raw}"`);
      return Number(raw.trim());
    }
    case "duration":
      return parseDuration(raw);
    case "size":
      return parseSize(raw);
    case "code":
      return parseStatusCode(raw);
    case "string":
      return raw;
  }
}

/** Splits `text` on `sep` at nesting depth 0 and outside double quotes. */
function splitTop(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === "(") depth++;
    else if (!quoted && c === ")") depth--;
    else if (!quoted && depth === 0 && text.startsWith(sep, i)) {
      out.push(text.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  if (quoted) throw bad(`unterminated quote in "${text}"`);
  out.push(text.slice(start));
  return out;
}

function unquote(arg: string): string {
  const t = arg.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) {
    return t.slice(1, -1).replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c));
  }
  return t;
}

function parseAction(text: string, target: FaultTarget): FaultAction {
  const t = text.trim();
  const m = /^([a-z][a-z0-9-]*)\s*(?:\(([\s\S]*)\))?$/.exec(t);
  if (!m) throw bad(`invalid fault action "${t}": want name or name(args)`);
  const def = FAULT_BY_NAME.get(m[1]);
  if (!def) throw bad(`unknown fault "${m[1]}": want one of ${namesFor(target).join(", ")}`);
  if (!def.targets.includes(target)) {
    throw bad(
      `fault "${def.name}" does not apply to ${targetLabel(target)}: want one of ${
        namesFor(target).join(", ")
      }`,
    );
  }
  const args = m[2] === undefined || m[2].trim() === "" ? [] : splitTop(m[2], ",").map(unquote);
  if (args.length > def.params.length) {
    throw bad(`fault "${def.name}" takes at most ${def.params.length} argument(s), got ${args.length}`);
  }
  const params: Record<string, number | string> = {};
  def.params.forEach((p, i) => {
    params[p.name] = i < args.length ? parseParam(p, args[i]) : p.default;
  });
  return { name: def.name, params };
}

function targetLabel(target: FaultTarget): string {
  return target === "rpc" ? "RPC methods" : `"${target}"`;
}

function namesFor(target: FaultTarget): string[] {
  return FAULTS.filter((f) => f.targets.includes(target)).map((f) => f.name);
}

/**
 * Maps a fault key (`Create`, `*`, `start`, …) to the target kind whose actions it accepts.
 *
 * @param key the key from `[faults]` or a fault annotation suffix
 * @returns the target kind
 * @throws InvalidArgumentError for keys that are neither a phase nor an RPC method
 */
export function targetOfKey(key: string): FaultTarget {
  if (PHASES.has(key)) return key as FaultTarget;
  if (key === "*" || RPC_METHOD_SET.has(key)) return "rpc";
  throw bad(
    `unknown fault target "${key}": want start, delete, daemon, events, * or an RPC method (${
      RPC_METHODS.join(", ")
    })`,
  );
}

/**
 * Parses a fault spec for one target.
 *
 * @param spec e.g. `2*off->crash` or `latency(1s)+error(NotFound,"no such task")`
 * @param target which target's actions are allowed
 * @returns the chain of steps
 * @throws InvalidArgumentError naming the bad term
 * @example
 * ```ts
 * const chain = parseFaultSpec("2*off->crash", "rpc");
 * // faultAt(chain, 2) → [{ name: "crash", params: { exit_code: 2 } }]
 * ```
 */
export function parseFaultSpec(spec: string, target: FaultTarget): FaultChain {
  if (spec.trim() === "") throw bad("empty fault spec");
  return splitTop(spec, "->").map((term) => {
    const m = /^\s*(\d+)\s*\*([\s\S]*)$/.exec(term);
    const count = m ? Number(m[1]) : null;
    const body = m ? m[2] : term;
    const actions = splitTop(body, "+").map((a) => parseAction(a, target)).filter((a) => a.name !== "off");
    if (target === "rpc" && actions.filter((a) => TERMINAL_RPC.has(a.name)).length > 1) {
      throw bad(`term "${term.trim()}" combines more than one of ${[...TERMINAL_RPC].join(", ")}`);
    }
    return { count, actions };
  });
}

/**
 * Picks the actions a chain applies to the call with the given index: terms
 * are used in order, each for its `count` calls; after the last counted term
 * nothing applies, and an uncounted term applies for ever.
 *
 * @param chain the parsed chain (may be undefined: no faults)
 * @param index 0-based call index
 * @returns the actions (empty: no fault)
 */
export function faultAt(chain: FaultChain | undefined, index: number): FaultAction[] {
  if (!chain) return [];
  let left = index;
  for (const step of chain) {
    if (step.count === null) return step.actions;
    if (left < step.count) return step.actions;
    left -= step.count;
  }
  return [];
}

/**
 * Decides which faults an RPC call gets: the method's own chain (indexed by
 * that method's call count) wins when it yields any action, else the `*`
 * chain (indexed by the daemon-wide call count).
 *
 * @param plan the scenario's faults
 * @param method the RPC method name (`Create`)
 * @param methodIndex 0-based count of earlier calls to this method
 * @param globalIndex 0-based count of earlier calls to any method
 * @returns the actions to apply (empty: behave normally)
 */
export function faultFor(
  plan: FaultPlan,
  method: string,
  methodIndex: number,
  globalIndex: number,
): FaultAction[] {
  const own = faultAt(plan[method], methodIndex);
  return own.length > 0 ? own : faultAt(plan["*"], globalIndex);
}

/**
 * Returns the first action with the given name that a phase's chain applies
 * to its first (and only) use; phases run once per process.
 *
 * @param plan the scenario's faults
 * @param phase `start`, `delete`, `daemon` or `events`
 * @param name the action name
 * @returns the action, or undefined
 */
export function phaseFault(plan: FaultPlan, phase: string, name: string): FaultAction | undefined {
  return faultAt(plan[phase], 0).find((a) => a.name === name);
}

/** Known signal names → numbers (Linux x86-64/arm64). */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGWINCH: 28,
};

/**
 * Parses a signal given as `SIGTERM`, `TERM` or `15`.
 *
 * @param value name or number
 * @returns the signal number
 * @throws InvalidArgumentError for unknown signals
 */
export function parseSignal(value: string | number): number {
  if (typeof value === "number" && Number.isInteger(value) && value > 0 && value < 65) return value;
  const t = String(value).trim().toUpperCase();
  if (/^\d+$/.test(t) && Number(t) > 0 && Number(t) < 65) return Number(t);
  const n = SIGNALS[t.startsWith("SIG") ? t : `SIG${t}`];
  if (n === undefined) throw bad(`invalid signal "${value}": want a name like SIGTERM or a number`);
  return n;
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  return typeof v === "string" ? `"${v}"` : JSON.stringify(v) ?? String(v);
}

function wantString(key: string, v: unknown): string {
  if (typeof v !== "string") throw bad(`key "${key}": want a string, got ${describe(v)}`);
  return v;
}

function wantEnum<T extends string>(key: string, v: unknown, values: readonly T[]): T {
  if (typeof v !== "string" || !values.includes(v as T)) {
    throw bad(`key "${key}": want one of ${values.join(", ")}, got ${describe(v)}`);
  }
  return v as T;
}

function wantDuration(key: string, v: unknown): number {
  if (typeof v === "number" && v >= 0) return Math.round(v * 1000);
  if (typeof v === "bigint" && v >= 0n) return Number(v) * 1000;
  if (typeof v === "string") {
    try {
      return parseDuration(v);
    } catch (e) {
      throw bad(`key "${key}": ${(e as Error).message}`);
    }
  }
  throw bad(`key "${key}": want a duration like "2s" or "forever", got ${describe(v)}`);
}

function wantBool(key: string, v: unknown): boolean {
  if (typeof v !== "boolean") throw bad(`key "${key}": want true or false, got ${describe(v)}`);
  return v;
}

function checkKeys(prefix: string, table: Table, allowed: readonly string[]): void {
  for (const k of Object.keys(table)) {
    if (!allowed.includes(k)) throw bad(`unknown key "${prefix}${k}": want one of ${allowed.join(", ")}`);
  }
}

const PROCESS_KEYS = ["exit_code", "duration", "stdout", "stderr", "traps", "oom"] as const;

function parseProcess(prefix: string, v: unknown): ProcessSpec {
  if (!isTable(v)) throw bad(`key "${prefix.slice(0, -1)}": want a table, got ${describe(v)}`);
  checkKeys(prefix, v, PROCESS_KEYS);
  const spec: ProcessSpec = { traps: [], oom: false };
  if (v.exit_code !== undefined) {
    const n = typeof v.exit_code === "bigint" ? Number(v.exit_code) : v.exit_code;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 255) {
      throw bad(`key "${prefix}exit_code": want an integer 0-255, got ${describe(v.exit_code)}`);
    }
    spec.exitCode = n;
  }
  if (v.duration !== undefined) spec.durationMs = wantDuration(`${prefix}duration`, v.duration);
  if (v.stdout !== undefined) spec.stdout = wantString(`${prefix}stdout`, v.stdout);
  if (v.stderr !== undefined) spec.stderr = wantString(`${prefix}stderr`, v.stderr);
  if (v.oom !== undefined) spec.oom = wantBool(`${prefix}oom`, v.oom);
  if (v.traps !== undefined) {
    if (!Array.isArray(v.traps)) {
      throw bad(`key "${prefix}traps": want an array of signals, got ${describe(v.traps)}`);
    }
    spec.traps = v.traps.map((s, i) => {
      try {
        return parseSignal(typeof s === "bigint" ? Number(s) : (s as string | number));
      } catch (e) {
        throw bad(`key "${prefix}traps[${i}]": ${(e as Error).message}`);
      }
    });
  }
  return spec;
}

const TOP_KEYS = [
  "bootstrap",
  "task_api",
  "socket_dir",
  "log_fifo",
  "exit_drain",
  "init",
  "exec",
  "execs",
  "faults",
] as const;

/** Deep-merges `over` onto `base` (tables merge, everything else replaces). */
function mergeTables(base: Table, over: Table): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isTable(v) && isTable(out[k]) ? mergeTables(out[k] as Table, v) : v;
  }
  return out;
}

/**
 * Parses one scenario TOML document into a raw table (not yet validated).
 *
 * @param layer the document and its origin
 * @returns the parsed table
 * @throws InvalidArgumentError with the origin, line and column for TOML syntax errors
 */
export function parseScenarioToml(layer: ScenarioLayer): Table {
  try {
    return parseToml(layer.text) as Table;
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : "";
    const first = (e as Error).message.split("\n")[0];
    throw new InvalidArgumentError(`parse scenario ${layer.origin}${where}: ${first}`, { cause: e });
  }
}

/**
 * Validates a raw scenario table into a {@link Scenario}.
 *
 * @param table the merged raw table
 * @returns the scenario with defaults filled in
 * @throws InvalidArgumentError naming the bad key
 */
export function validateScenario(table: Table): Scenario {
  checkKeys("", table, TOP_KEYS);
  const sc: Scenario = {
    bootstrap: "json-v3",
    taskApi: "both",
    requireLogFifo: true,
    exitDrainMs: 2000,
    init: { traps: [], oom: false },
    exec: { traps: [], oom: false },
    execs: {},
    faults: {},
  };
  if (table.bootstrap !== undefined) {
    sc.bootstrap = wantEnum(
      "bootstrap",
      table.bootstrap,
      ["plain", "json-v2", "json-v3", "protobuf"] as const,
    );
  }
  if (table.task_api !== undefined) {
    sc.taskApi = wantEnum("task_api", table.task_api, ["v2", "v3", "both"] as const);
  }
  if (table.socket_dir !== undefined) {
    const d = wantString("socket_dir", table.socket_dir);
    if (!d.startsWith("/")) throw bad(`key "socket_dir": want an absolute path, got "${d}"`);
    sc.socketDir = d;
  }
  if (table.log_fifo !== undefined) {
    sc.requireLogFifo =
      wantEnum("log_fifo", table.log_fifo, ["required", "optional"] as const) === "required";
  }
  if (table.exit_drain !== undefined) sc.exitDrainMs = wantDuration("exit_drain", table.exit_drain);
  if (table.init !== undefined) sc.init = parseProcess("init.", table.init);
  if (table.exec !== undefined) sc.exec = parseProcess("exec.", table.exec);
  if (table.execs !== undefined) {
    if (!isTable(table.execs)) {
      throw bad(`key "execs": want a table of exec ids, got ${describe(table.execs)}`);
    }
    for (const [id, v] of Object.entries(table.execs)) sc.execs[id] = parseProcess(`execs.${id}.`, v);
  }
  if (table.faults !== undefined) {
    if (!isTable(table.faults)) {
      throw bad(`key "faults": want a table of fault specs, got ${describe(table.faults)}`);
    }
    for (const [k, v] of Object.entries(table.faults)) {
      const key = `faults.${k.includes("*") ? `"${k}"` : k}`;
      try {
        sc.faults[k] = parseFaultSpec(wantString(key, v), targetOfKey(k));
      } catch (e) {
        const msg = (e as Error).message;
        throw bad(msg.startsWith(`key "`) ? msg : `key "${key}": ${msg}`);
      }
    }
  }
  return sc;
}

/**
 * Builds a scenario from layered TOML documents (later layers override
 * earlier ones key by key) and per-target fault annotations (which win).
 *
 * @param layers documents, least specific first (env, then the bundle's annotation)
 * @param faultAnnotations fault specs by target key, from `io.shimkit.fake.fault.<key>` annotations
 * @returns the validated scenario
 * @throws InvalidArgumentError naming the origin and the bad key
 */
export function buildScenario(
  layers: readonly ScenarioLayer[],
  faultAnnotations: Record<string, string> = {},
): Scenario {
  let merged: Table = {};
  for (const layer of layers) {
    const t = parseScenarioToml(layer);
    try {
      validateScenario(t);
    } catch (e) {
      throw new InvalidArgumentError(`scenario ${layer.origin}: ${(e as Error).message}`, { cause: e });
    }
    merged = mergeTables(merged, t);
  }
  const faults = isTable(merged.faults) ? { ...merged.faults } : {};
  for (const [k, v] of Object.entries(faultAnnotations)) {
    try {
      parseFaultSpec(v, targetOfKey(k));
    } catch (e) {
      throw new InvalidArgumentError(`annotation "${FAULT_ANNOTATION_PREFIX}${k}": ${(e as Error).message}`, {
        cause: e,
      });
    }
    faults[k] = v;
  }
  return validateScenario({ ...merged, faults });
}

/** What the fake reads from a bundle's OCI annotations. */
export interface ScenarioAnnotations {
  /** The scenario annotation's value (a path or inline TOML), if present. */
  scenario?: string;
  /** Fault specs by target key. */
  faults: Record<string, string>;
}

/**
 * Picks the fake shim's annotations out of an OCI spec's annotations.
 *
 * @param annotations `config.json` `annotations` (may be undefined)
 * @returns the scenario reference and fault specs
 */
export function scenarioAnnotations(annotations: Record<string, string> | undefined): ScenarioAnnotations {
  const out: ScenarioAnnotations = { faults: {} };
  if (!annotations) return out;
  for (const [k, v] of Object.entries(annotations)) {
    if (k === SCENARIO_ANNOTATION) out.scenario = v;
    else if (k.startsWith(FAULT_ANNOTATION_PREFIX)) out.faults[k.slice(FAULT_ANNOTATION_PREFIX.length)] = v;
  }
  return out;
}

/**
 * Tells inline TOML from a file path: anything with a newline or an `=` is TOML.
 *
 * @param value an annotation or environment value
 * @returns true when the value is inline TOML
 */
export function isInlineToml(value: string): boolean {
  return value.includes("\n") || value.includes("=");
}

/**
 * Renders the fault catalogue as text for `--help` (one block per fault).
 *
 * @returns the help text
 */
export function formatFaultCatalogue(): string {
  const lines: string[] = [];
  for (const f of FAULTS) {
    const sig = f.params.length ? `${f.name}(${f.params.map((p) => p.name).join(", ")})` : f.name;
    lines.push(`  ${sig}  [${f.targets.join(", ")}]`, `      ${f.doc}`);
    for (const p of f.params) {
      const d = p.default === FOREVER ? "forever" : JSON.stringify(p.default);
      lines.push(`      ${p.name}: ${p.doc} (default ${d})`);
    }
  }
  return lines.join("\n");
}
