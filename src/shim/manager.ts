/**
 * The shim manager (containerd `core/runtime/v2/shim_manager.go` and the
 * dead-shim half of `binary.go`): starts shims for bundles, reloads one from
 * its bundle, keeps one connection per shim, and cleans up after every
 * failure so no shim outlives a failed start and no dead shim leaves a
 * bundle behind.
 *
 * @module
 */

import { readdirSync } from "node:fs";
import { lstat, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { acquireContainerLock } from "../bundle/lock.ts";
import {
  type BootstrapInfo,
  peekBootstrapAddress,
  restoreBootstrap,
  writeBootstrap,
} from "../bundle/bootstrap.ts";
import { type Bundle, deleteBundle } from "../bundle/bundle.ts";
import { bundleFile } from "../bundle/layout.ts";
import {
  InvalidArgumentError,
  isNotFound,
  isUnavailable,
  kindOf,
  NotImplementedError,
  ShimkitError,
  withContext,
} from "../errors.ts";
import type { Logger, LogLevel } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import { hasCwd, isProcessAlive, listenerPids, listPidsWithCwd } from "../platform/process.ts";
import type { RuntimeResolver } from "../runtime/resolve.ts";
import type { TaskApiVersion, TaskClient } from "../taskapi/client.ts";
import type { AnyValue, ExitInfo } from "../taskapi/types.ts";
import { encodeRuntimeOptions } from "./argv.ts";
import {
  readShimBinaryPath,
  runShimDelete,
  runShimStart,
  type ShimCallOptions,
  writeShimBinaryPath,
} from "./binary.ts";
import { ShimConnection } from "./connection.ts";
import { type LogFifo, openLogFifo } from "./log_fifo.ts";
import { dialPath, shimSocketAddress, socketFileOf } from "./socket.ts";

/** Exit status containerd reports for a task whose shim died and whose `delete` gave nothing. */
export const DEAD_SHIM_EXIT_STATUS = 255;

/** Timeouts of the shim manager, in ms. */
export interface ShimTimeouts {
  /** `shim start` until it prints its address. */
  startMs: number;
  /** `Shutdown` after a delete (containerd: 3 s). */
  shutdownMs: number;
  /** Each cleanup step: the Delete RPC, `shim delete` (containerd: 5 s). */
  cleanupMs: number;
  /** Dial plus `Connect` of an existing shim (containerd: 5 s). */
  loadMs: number;
}

/** The topics the shim manager synthesizes for a task whose shim died (containerd `cleanupAfterDeadShim`). */
export type SynthesizedTopic = "/tasks/exit" | "/tasks/delete";

/** The fields of a synthesized `/tasks/exit` or `/tasks/delete` (the same in `TaskExit` and `TaskDelete`). */
export interface SynthesizedTaskEvent {
  /** Container id. */
  containerId: string;
  /** Process id: the container id, for the init process. */
  id: string;
  /** Pid of the init process (0 when unknown). */
  pid: number;
  /** Exit status (255 when the shim's `delete` reported nothing). */
  exitStatus: number;
  /** When it exited. */
  exitedAt: Date;
}

/**
 * Where the shim manager publishes the events it makes up for a dead shim.
 * The events module provides one that writes the state dir's journal; the
 * task manager wires it in, so this layer never imports `events/`.
 */
export interface ShimEventPublisher {
  /**
   * Publishes one synthesized task event.
   *
   * @param namespace the task's namespace
   * @param topic `/tasks/exit` or `/tasks/delete`
   * @param event the event's fields
   * @returns when published
   * @throws ShimkitError when it cannot be published (the shim manager logs it and goes on)
   */
  publish(namespace: string, topic: SynthesizedTopic, event: SynthesizedTaskEvent): Promise<void>;
}

/** Options for {@link ShimManager}. */
export interface ShimManagerOptions {
  /** State directory (bundles). */
  state: string;
  /** Root directory (work dirs). */
  root: string;
  /** Resolves runtime names to binaries. */
  resolver: RuntimeResolver;
  /** The shims' `-address` and `GRPC_ADDRESS`: the events socket path (it also names the runc shim's socket). */
  address: string;
  /** `TTRPC_ADDRESS`: where shims publish events (the events socket path). */
  eventsAddress: string;
  /** Where synthesized `/tasks/exit` and `/tasks/delete` go (default: nowhere). */
  publisher?: ShimEventPublisher;
  /** `-publish-binary`: the path of this program. */
  publishBinary: string;
  /** Timeouts. */
  timeouts: ShimTimeouts;
  /** Logger for lifecycle and shim log lines. */
  logger?: Logger;
  /** Extra `KEY=value` shim environment entries (config `[shim] env`, e.g. `SCHED_CORE=1`). */
  env?: readonly string[];
  /** Socket directory passed to shims that honour it (fake shim: `SHIMKIT_FAKE_SOCKET_DIR`). */
  socketDir?: string;
  /** Start shims with `-debug`. */
  debug?: boolean;
  /** Take the per-container file lock around dead-shim cleanup (default true). */
  locking?: boolean;
  /** Phase timing hook: `("shimStart" | "connect" | "shutdown", ms)`. */
  onPhase?: (name: string, ms: number) => void;
  /**
   * Called when a shim this manager tracked went away unexpectedly, after the cleanup: `exit` is set when
   * this process cleaned up (bundle removed, events published), undefined when there was nothing left to do.
   */
  onShimGone?: (namespace: string, id: string, exit: ExitInfo | undefined) => void | Promise<void>;
}

/** Options for {@link ShimManager.start}. */
export interface StartShimOptions {
  /** The bundle, already created (config.json written). */
  bundle: Bundle;
  /** Runtime name (`io.containerd.runc.v2`) or absolute shim path. */
  runtime: string;
  /** Runtime options, sent on the shim's stdin as a protobuf `Any` with a bare type URL. */
  runtimeOptions?: AnyValue;
  /** Sandbox id; with {@link StartShimOptions.sandboxAddress} the task joins that sandbox's shim (else it is only recorded). */
  sandboxId?: string;
  /** The sandbox shim's address, `ttrpc+unix:///path`: the task is served by it instead of a new shim. */
  sandboxAddress?: string;
}

/** Options for {@link ShimManager.load}. */
export interface LoadShimOptions {
  /** The bundle. */
  bundle: Bundle;
  /** Runtime name or path, as recorded. */
  runtime: string;
  /** The shim binary, when known (record); else `shim-binary-path`, else resolved from `runtime`. */
  runtimePath?: string;
  /** Whether Create ran for this task (events are synthesized on its death only then). Default true. */
  created?: boolean;
  /** The bundle's bootstrap info when the caller has just read it (the restore loader); else it is read here. */
  bootstrap?: BootstrapInfo;
  /** Whether the bundle has a `sandbox` file, when the caller already knows; else it is looked up here. */
  sandboxed?: boolean;
}

/** What the dead-shim cleanup needs to know about a shim; a {@link Shim} is one, and so is {@link ShimManager.describe}'s answer. */
export interface ShimRef {
  /** Namespace. */
  readonly namespace: string;
  /** Container id. */
  readonly id: string;
  /** The bundle. */
  readonly bundle: Bundle;
  /** The shim binary (runs `delete`). */
  readonly runtimePath: string;
  /** The shim's address ("" when unknown). */
  readonly address: string;
  /** True for a sandbox's shared shim (never killed). */
  readonly sandboxed: boolean;
  /** The shim daemon's pid (0 when unknown). */
  readonly pid: number;
  /** Whether Create ran (events are synthesized only then). */
  readonly created: boolean;
}

/** A live shim and the one connection this process keeps to it. */
export class Shim implements ShimRef {
  /** Namespace. */
  readonly namespace: string;
  /** Container id. */
  readonly id: string;
  /** The bundle. */
  readonly bundle: Bundle;
  /** Runtime name or path as given. */
  readonly runtime: string;
  /** The shim binary. */
  readonly runtimePath: string;
  /** The address the shim serves. */
  readonly address: string;
  /** True when the task runs in a sandbox's shim (never shut down on delete). */
  readonly sandboxed: boolean;
  /** The connection. */
  readonly connection: ShimConnection;
  /** Set once Create succeeded; a shim that dies before has no task to report. */
  created: boolean;
  /** The drained log FIFO, when this process drains it. */
  log: LogFifo | undefined;

  /** @internal */
  constructor(init: {
    namespace: string;
    id: string;
    bundle: Bundle;
    runtime: string;
    runtimePath: string;
    address: string;
    sandboxed: boolean;
    connection: ShimConnection;
    created: boolean;
    log?: LogFifo;
  }) {
    this.namespace = init.namespace;
    this.id = init.id;
    this.bundle = init.bundle;
    this.runtime = init.runtime;
    this.runtimePath = init.runtimePath;
    this.address = init.address;
    this.sandboxed = init.sandboxed;
    this.connection = init.connection;
    this.created = init.created;
    this.log = init.log;
  }

  /** The typed Task client. */
  get task(): TaskClient {
    return this.connection.task;
  }

  /** The task API version in use. */
  get version(): TaskApiVersion {
    return this.connection.version;
  }

  /** The shim daemon's pid (from `Connect`). */
  get pid(): number {
    return this.connection.info.shimPid;
  }
}

const key = (ns: string, id: string) => `${ns}/${id}`;

/** Whether a process's command line is a shim's for this container: `-namespace <ns>` and `-id <id>`. */
async function isShimFor(pid: number, ns: string, id: string): Promise<boolean> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
  const at = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  return at("-id") === id && at("-namespace") === ns;
}

/** Tells whether something accepts connections on a unix socket path. */
function acceptsConnections(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = createConnection({ path });
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/** Tells whether a bundle's task runs in a sandbox's shim (its `sandbox` file exists). */
function isSandboxMember(bundle: Bundle): Promise<boolean> {
  return lstat(bundleFile(bundle.path, "sandbox")).then(() => true, () => false);
}

/** Adds context unless the error already starts with it (the binary helpers add the same prefix). */
function wrapOnce(err: unknown, ctx: string): ShimkitError {
  return err instanceof ShimkitError && err.message.startsWith(ctx + ": ") ? err : withContext(err, ctx);
}
const q = JSON.stringify;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Splits a sandbox address `ttrpc+unix:///path` into protocol and shim address.
 *
 * @param address the sandbox controller's address
 * @returns `{protocol: "ttrpc", address: "unix:///path"}`
 * @throws InvalidArgumentError when the scheme is not `<protocol>+<transport>`; NotImplementedError for grpc
 */
export function parseSandboxAddress(address: string): { protocol: string; address: string } {
  const plus = address.indexOf("+");
  const sep = address.indexOf("://");
  if (plus <= 0 || sep < 0 || plus > sep) {
    throw new InvalidArgumentError(
      `sandbox address ${
        q(address)
      }: the scheme must be <protocol>+<transport>, e.g. "ttrpc+unix:///run/s.sock"`,
    );
  }
  const protocol = address.slice(0, plus);
  const rest = address.slice(plus + 1);
  if (protocol !== "ttrpc") {
    if (protocol === "grpc") {
      throw new NotImplementedError(`sandbox address ${q(address)}: grpc shims are not supported`);
    }
    throw new InvalidArgumentError(`sandbox address ${q(address)}: unknown protocol ${q(protocol)}`);
  }
  if (!rest.startsWith("unix://")) {
    throw new InvalidArgumentError(`sandbox address ${q(address)}: only unix sockets are supported`);
  }
  return { protocol, address: rest };
}

/** A shim log line, parsed. */
export interface ShimLogLine {
  /** Our level for it: the shim's warnings and errors keep their level, everything else is debug. */
  level: LogLevel;
  /** The message (the whole line when it is not logfmt). */
  msg: string;
  /** The other key/value pairs, minus `time`, `level` and `msg`. */
  fields: Record<string, string>;
}

/** Longest line parsed as logfmt; a longer one is logged whole, at the level it names (a shim can flood its log). */
export const SHIM_LOG_PARSE_MAX = 16 * 1024;

const LOGFMT_LEVEL = /(?:^|\s)level="?(\w+)/;
const EQ = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r" };
const unquote = (raw: string) => raw.replace(/\\(.)/g, (_, c: string) => ESCAPES[c] ?? c);

/** The index of the first space at or after `i` in `line`, else its length. */
function nextSpace(line: string, i: number): number {
  while (i < line.length && !isSpace(line.charCodeAt(i))) i++;
  return i;
}

/** Our level for a logrus level: the shim's warnings and errors keep theirs, everything else is debug. */
function shimLevel(level: string | undefined): LogLevel {
  if (level === "warning" || level === "warn") return "warn";
  if (level === "error" || level === "fatal" || level === "panic") return "error";
  return "debug";
}

/**
 * Scans a logfmt line in one left-to-right pass: a key (no space, no `=`) starts a token and ends at
 * `=`; its value is a double-quoted string with backslash escapes, or runs to the next space (so does
 * a quote that is never closed); tokens without `=` are skipped. A pattern match would retry every
 * offset of a long token without `=` (quadratic: seconds for one 64 KiB line); this reads each
 * character at most twice, whatever the line. Pure.
 *
 * @param line one line
 * @param onPair receives each key and its unescaped value, in order
 * @returns the number of characters read (at most twice the line's length), for tests
 */
export function scanLogfmt(line: string, onPair: (key: string, value: string) => void): number {
  const n = line.length;
  let steps = 0;
  let i = 0;
  while (i < n) {
    const blank = i;
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    const start = i;
    let c = 0;
    while (i < n && (c = line.charCodeAt(i)) !== EQ && !isSpace(c)) i++;
    steps += i - blank;
    if (i === n || c !== EQ || i === start) {
      const end = nextSpace(line, i);
      steps += end - i;
      i = end;
      continue;
    }
    const key = line.slice(start, i);
    i++;
    steps++;
    // A quote never closed is read again as a bare value; that happens once at most, since no
    // unescaped quote follows it.
    if (i < n && line.charCodeAt(i) === QUOTE) {
      let j = i + 1;
      let escaped = false;
      while (j < n && (c = line.charCodeAt(j)) !== QUOTE) {
        steps++;
        if (c === BACKSLASH) {
          escaped = true;
          j += 2;
        } else j++;
      }
      if (j < n) {
        const raw = line.slice(i + 1, j);
        onPair(key, escaped ? unquote(raw) : raw);
        // What follows the closing quote up to the next space belongs to this token.
        i = nextSpace(line, j + 1);
        steps += i - j - 1;
        continue;
      }
    }
    const end = nextSpace(line, i);
    steps += end - i;
    onPair(key, line.slice(i, end));
    i = end;
  }
  return steps;
}

/**
 * Parses a line the shim daemon wrote to its log FIFO (logrus logfmt:
 * `time="…" level=info msg="…" key=value`). A line longer than
 * {@link SHIM_LOG_PARSE_MAX} is not parsed: it is the message, at the level it names. Pure.
 *
 * @param line one line
 * @returns level, message and the remaining fields
 */
export function parseShimLogLine(line: string): ShimLogLine {
  if (line.length > SHIM_LOG_PARSE_MAX) {
    return { level: shimLevel(LOGFMT_LEVEL.exec(line)?.[1]), msg: line, fields: {} };
  }
  // No "=": not logfmt (a panic trace, a flood); indexOf is far quicker than the scan.
  if (!line.includes("=")) return { level: "debug", msg: line, fields: {} };
  const fields: Record<string, string> = {};
  let level: string | undefined;
  let msg: string | undefined;
  scanLogfmt(line, (k, v) => {
    if (k === "level") level = v;
    else if (k === "msg") msg = v;
    else if (k !== "time") fields[k] = v;
  });
  if (msg === undefined) return { level: "debug", msg: line, fields: {} };
  return { level: shimLevel(level), msg, fields };
}

/**
 * A logger facade for the log FIFO: each line is re-logged at the level the shim gave it, its fields
 * kept. Lines whose level is off are dropped before they are parsed (a shim can flood its log).
 */
function shimLineLogger(log: Logger): Logger {
  const fwd = (line: string, fields?: Record<string, unknown>) => {
    if (!log.enabled("debug") && !log.enabled(shimLevel(LOGFMT_LEVEL.exec(line)?.[1]))) return;
    const p = parseShimLogLine(line);
    log[p.level]("shim: " + p.msg, { ...p.fields, ...fields });
  };
  return { ...log, info: fwd, debug: fwd, trace: fwd, warn: fwd, error: fwd };
}

/** Starts, loads, tracks and cleans up shims. */
export class ShimManager {
  readonly #o: ShimManagerOptions;
  readonly #log: Logger;
  readonly #shims = new Map<string, Shim>();
  readonly #cleanups = new Map<string, Promise<ExitInfo | undefined>>();
  #closed = false;

  /** @param options directories, resolver, addresses, timeouts and hooks */
  constructor(options: ShimManagerOptions) {
    this.#o = options;
    this.#log = options.logger ?? nullLogger;
  }

  #phase(name: string, t0: number): void {
    this.#o.onPhase?.(name, performance.now() - t0);
  }

  /** Dials a shim's address and runs `Connect`, bounded by the load timeout unless told otherwise. */
  #connect(
    ns: string,
    id: string,
    address: string,
    version: number,
    timeoutMs = this.#o.timeouts.loadMs,
  ): Promise<ShimConnection> {
    return ShimConnection.open({
      address: dialPath(address),
      namespace: ns,
      id,
      version: version as TaskApiVersion,
      timeoutMs,
    });
  }

  #call(ns: string, id: string, bundle: Bundle, runtimePath: string, timeoutMs: number): ShimCallOptions {
    const baseEnv: Record<string, string | undefined> = { ...process.env };
    if (this.#o.socketDir) baseEnv.SHIMKIT_FAKE_SOCKET_DIR = this.#o.socketDir;
    return {
      binary: runtimePath,
      bundle,
      namespace: ns,
      id,
      grpcAddress: this.#o.address,
      ttrpcAddress: this.#o.eventsAddress,
      publishBinary: this.#o.publishBinary,
      debug: this.#o.debug,
      baseEnv,
      timeoutMs,
    };
  }

  /**
   * Starts a shim for a bundle (or joins a sandbox's shim), connects with the
   * namespace header and writes `bootstrap.json`. On any failure after the
   * shim started, the shim is stopped and the bundle removed before this throws.
   *
   * @param ns namespace
   * @param id container id
   * @param opts bundle, runtime, options, sandbox
   * @returns the connected shim
   * @throws ShimkitError with context `start shim "<id>"`
   */
  async start(ns: string, id: string, opts: StartShimOptions): Promise<Shim> {
    const ctx = `start shim ${q(id)}`;
    const k = key(ns, id);
    if (this.#shims.has(k)) throw withContext(new InvalidArgumentError("already started"), ctx);
    let runtimePath: string;
    try {
      runtimePath = await this.#o.resolver.resolve(opts.runtime);
    } catch (err) {
      await this.#removeBundle(opts.bundle);
      throw withContext(withContext(err, `resolve runtime ${q(opts.runtime)}`), ctx);
    }
    if (opts.sandboxId && opts.sandboxAddress) return await this.#joinSandbox(ns, id, opts, runtimePath, ctx);

    let log: LogFifo | undefined;
    let started = false;
    let conn: ShimConnection | undefined;
    let address = "";
    try {
      if (opts.runtime.startsWith("/")) await writeShimBinaryPath(opts.bundle, runtimePath);
      // The shim daemon opens <bundle>/log O_WRONLY before serving: without a reader it blocks (protocol-facts §2.5).
      log = await openLogFifo({
        bundlePath: opts.bundle.path,
        logger: shimLineLogger(this.#log),
        fields: { namespace: ns, id, runtime: opts.runtime },
      });
      const runtimeOptions = opts.runtimeOptions
        ? encodeRuntimeOptions(opts.runtimeOptions.typeUrl, opts.runtimeOptions.value)
        : undefined;
      let t0 = performance.now();
      started = true;
      const boot = await runShimStart({
        ...this.#call(ns, id, opts.bundle, runtimePath, this.#o.timeouts.startMs),
        env: this.#o.env,
        runtimeOptions,
        logger: this.#log,
      });
      this.#phase("shimStart", t0);
      address = boot.address;
      t0 = performance.now();
      // Written before the connect (a few syscalls, no fsync); rewritten in the rare case the version is lowered.
      await writeBootstrap(opts.bundle, boot);
      conn = await this.#connect(ns, id, boot.address, boot.version);
      this.#phase("connect", t0);
      if (conn.version !== boot.version) {
        await writeBootstrap(opts.bundle, { ...boot, version: conn.version });
      }
      const shim = new Shim({
        namespace: ns,
        id,
        bundle: opts.bundle,
        runtime: opts.runtime,
        runtimePath,
        address,
        sandboxed: false,
        connection: conn,
        created: false,
        log,
      });
      this.#track(shim);
      return shim;
    } catch (err) {
      await this.#abortStart({ ns, id, bundle: opts.bundle, runtimePath, conn, started, log, address });
      throw wrapOnce(err, ctx);
    }
  }

  async #joinSandbox(
    ns: string,
    id: string,
    opts: StartShimOptions,
    runtimePath: string,
    ctx: string,
  ): Promise<Shim> {
    let conn: ShimConnection | undefined;
    try {
      const sb = parseSandboxAddress(opts.sandboxAddress!);
      await writeFile(bundleFile(opts.bundle.path, "sandbox"), opts.sandboxId!, { mode: 0o600 });
      const t0 = performance.now();
      conn = await this.#connect(ns, id, sb.address, 3);
      this.#phase("connect", t0);
      await writeBootstrap(opts.bundle, {
        version: conn.version,
        address: sb.address,
        protocol: sb.protocol,
      });
      const shim = new Shim({
        namespace: ns,
        id,
        bundle: opts.bundle,
        runtime: opts.runtime,
        runtimePath,
        address: sb.address,
        sandboxed: true,
        connection: conn,
        created: false,
      });
      this.#track(shim);
      return shim;
    } catch (err) {
      conn?.close();
      await this.#removeBundle(opts.bundle);
      throw withContext(err, ctx);
    }
  }

  /**
   * Connects to the shim of an existing bundle (`bootstrap.json`, migrated
   * from `address` when missing) and starts draining its log FIFO again.
   *
   * @param ns namespace
   * @param id container id
   * @param opts bundle, runtime, binary path
   * @returns the connected shim (already tracked with an open connection: returned as is)
   * @throws NotFoundError / UnavailableError when the shim is gone (nothing is cleaned up here)
   */
  async load(ns: string, id: string, opts: LoadShimOptions): Promise<Shim> {
    const existing = this.#shims.get(key(ns, id));
    if (existing && !existing.connection.closed) return existing;
    if (existing) {
      // Its connection was lost and its dead-shim check has not run yet: connect anew. The check still
      // runs (it finds the shim answering, or the bundle gone).
      this.#forget(existing);
      await existing.log?.close();
    }
    const ctx = `load shim ${q(ns + "/" + id)}`;
    let boot: BootstrapInfo;
    let runtimePath: string;
    let sandboxed: boolean;
    try {
      boot = opts.bootstrap ?? await restoreBootstrap(opts.bundle);
      runtimePath = opts.runtimePath ?? await this.#binaryPathOf(opts.bundle, opts.runtime);
      sandboxed = opts.sandboxed ?? await isSandboxMember(opts.bundle);
    } catch (err) {
      throw withContext(err, ctx);
    }
    let conn: ShimConnection;
    try {
      const t0 = performance.now();
      conn = await this.#connect(ns, id, boot.address, boot.version);
      this.#phase("connect", t0);
    } catch (err) {
      throw withContext(err, ctx);
    }
    const again = this.#shims.get(key(ns, id));
    if (again) {
      conn.close();
      return again;
    }
    let log: LogFifo | undefined;
    if (!sandboxed) {
      log = await openLogFifo({
        bundlePath: opts.bundle.path,
        logger: shimLineLogger(this.#log),
        fields: { namespace: ns, id, runtime: opts.runtime },
      }).catch((err) => {
        this.#log.debug("shim log fifo not reopened", { namespace: ns, id, err });
        return undefined;
      });
    }
    const shim = new Shim({
      namespace: ns,
      id,
      bundle: opts.bundle,
      runtime: opts.runtime,
      runtimePath,
      address: boot.address,
      sandboxed,
      connection: conn,
      created: opts.created ?? true,
      log,
    });
    this.#track(shim);
    return shim;
  }

  async #binaryPathOf(bundle: Bundle, runtime: string): Promise<string> {
    try {
      const p = await readShimBinaryPath(bundle);
      if (p !== "") return p;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return await this.#o.resolver.resolve(runtime);
  }

  #track(shim: Shim): void {
    this.#shims.set(key(shim.namespace, shim.id), shim);
    shim.connection.onLost((err) => {
      if (this.#shims.get(key(shim.namespace, shim.id)) !== shim) return;
      this.#log.warn("shim disconnected", { namespace: shim.namespace, id: shim.id, err });
      void this.cleanupDeadShim(shim).catch((e) =>
        this.#log.error("cleanup after dead shim failed", { namespace: shim.namespace, id: shim.id, err: e })
      );
    });
  }

  /**
   * Returns a tracked shim.
   *
   * @param ns namespace
   * @param id container id
   * @returns the shim, or undefined when this manager has none for that id
   */
  get(ns: string, id: string): Shim | undefined {
    return this.#shims.get(key(ns, id));
  }

  /**
   * Lists tracked shims.
   *
   * @param ns only this namespace (default: all)
   * @returns the shims
   */
  list(ns?: string): Shim[] {
    const all = [...this.#shims.values()];
    return ns === undefined ? all : all.filter((s) => s.namespace === ns);
  }

  /**
   * Sends `Shutdown` (bounded by the shutdown timeout); a connection the shim
   * closes before answering counts as success, as in containerd.
   *
   * @param shim the shim
   * @returns when answered or closed
   * @throws ShimkitError for other failures (including the timeout)
   */
  async shutdown(shim: Shim): Promise<void> {
    shim.connection.expectClose();
    const t0 = performance.now();
    try {
      await shim.task.shutdown(shim.id, false, { timeoutMs: this.#o.timeouts.shutdownMs });
    } catch (err) {
      if (!isUnavailable(err)) throw err;
    } finally {
      this.#phase("shutdown", t0);
    }
  }

  /**
   * Finishes a shim after its task was deleted: `Shutdown` (not for
   * sandboxed tasks, whose shim is shared), a bounded wait for the daemon's
   * exit (its log is read to the end), close, stop draining its log, remove
   * the bundle, forget it.
   *
   * @param shim the shim
   * @returns when done
   * @throws ShimkitError when the bundle cannot be removed (a failed Shutdown is logged and the daemon killed)
   */
  async delete(shim: Shim): Promise<void> {
    this.#forget(shim);
    if (shim.sandboxed) {
      shim.connection.close();
      await shim.log?.close();
      await deleteBundle(shim.bundle);
      return;
    }
    try {
      await this.shutdown(shim);
    } catch (err) {
      // As containerd: a shim that does not shut down is logged, not fatal. Its task is gone
      // already, so it serves nothing; stop it rather than leave it running.
      this.#log.error("failed to shut down shim", { namespace: shim.namespace, id: shim.id, err });
      this.#kill([shim.pid], { namespace: shim.namespace, id: shim.id });
      await this.#waitGone([shim.pid], 1000);
      await this.#removeStaleSocket(shim.address);
    }
    // The bundle is removed while the daemon finishes exiting, as containerd removes it right after
    // Shutdown (the daemon's open log FIFO keeps working). Whether it runs in the bundle is asked first.
    const inBundle = hasCwd(shim.pid, shim.bundle.path);
    const removed = deleteBundle(shim.bundle).then(() => undefined, (err: unknown) => ({ err }));
    try {
      if (await this.#drainUntilExit(shim, inBundle)) {
        // It answered Shutdown but still runs after the whole budget: a real shim does this while its
        // publisher retries events nobody receives. Its task is gone and no other container uses it;
        // stop it rather than leave it behind.
        this.#log.warn("shim still running after Shutdown; killed", {
          namespace: shim.namespace,
          id: shim.id,
          pid: shim.pid,
          waited_ms: this.#o.timeouts.shutdownMs,
        });
        this.#kill([shim.pid], { namespace: shim.namespace, id: shim.id });
        await this.#waitGone([shim.pid], 1000);
      }
      shim.connection.close();
      await shim.log?.close();
    } finally {
      // Whatever happened above, the removal has finished when this returns (it never rejects).
      await removed;
    }
    const failed = await removed;
    if (failed) throw failed.err;
  }

  /**
   * After Shutdown: waits (at most the shutdown budget) for the daemon to exit, so its log FIFO is
   * read to the end, as containerd copies it until EOF; closing it earlier loses the last lines (and
   * a Go shim still writing dies of SIGPIPE). A runc shim keeps its connections open until it exits,
   * which can take seconds while its publisher retries events nobody receives. One that still runs
   * 100 ms after answering may be serving other containers (Shutdown is a no-op while it holds tasks):
   * it is left to them when another bundle of the namespace names the same shim address (the runtime
   * grouped them). It is also left alone when the pid it reported is not a process whose cwd is its
   * bundle (a shim daemon runs there), so a wrong pid is never killed. Otherwise it is waited for like
   * one that closed the connection.
   *
   * @param shim the shim
   * @param inBundle whether the daemon's cwd was its bundle, asked before the bundle was removed
   * @returns true when the daemon still runs after the whole budget and serves no other container
   */
  async #drainUntilExit(shim: Shim, inBundle: boolean): Promise<boolean> {
    if (shim.pid <= 0) return false;
    const t0 = Date.now();
    let shared: boolean | undefined;
    while (isProcessAlive(shim.pid)) {
      const waited = Date.now() - t0;
      if (!shim.connection.closed && waited >= 100) {
        // Left alone when it may serve others, or when the pid it reported is not a process in its bundle.
        shared ??= this.#servesOtherBundles(shim) || !inBundle;
        if (shared) return false;
      }
      if (waited >= this.#o.timeouts.shutdownMs) return true;
      // A runc shim is gone 0–4 ms after answering Shutdown: poll finely, this is on every delete.
      await sleep(2);
    }
    return false;
  }

  /** Whether another bundle of the shim's namespace names the same shim address (grouped containers). */
  #servesOtherBundles(shim: Shim): boolean {
    const nsDir = dirname(shim.bundle.path);
    let ids: string[];
    try {
      ids = readdirSync(nsDir);
    } catch {
      return false;
    }
    return ids.some((id) =>
      id !== shim.id && !id.startsWith(".") &&
      peekBootstrapAddress({ path: join(nsDir, id) }) === shim.address
    );
  }

  /**
   * Stops tracking a shim and closes this process's connection to it; the
   * shim keeps running.
   *
   * @param shim the shim
   * @returns when its log FIFO is closed
   */
  async release(shim: Shim): Promise<void> {
    this.#forget(shim);
    shim.connection.close();
    await shim.log?.close();
  }

  #forget(shim: Shim): void {
    const k = key(shim.namespace, shim.id);
    if (this.#shims.get(k) === shim) this.#shims.delete(k);
  }

  /**
   * Tears down a shim whose task could not be created: the Delete RPC, then
   * (for a shim of its own) the bounded `shim delete`, Shutdown, close, a
   * kill of the daemon if it is still alive, and bundle removal. `shim
   * delete` always runs: a Create that failed after `runc create` (e.g. a
   * stdout FIFO nobody opens) leaves the container in the runc root with its
   * init process waiting, which the shim's Delete RPC does not know about;
   * `shim delete` runs `runc delete --force` and unmounts the rootfs. Never throws.
   *
   * @param shim the shim
   * @returns when done
   */
  async abort(shim: Shim): Promise<void> {
    this.#forget(shim);
    await this.#abortStart({
      ns: shim.namespace,
      id: shim.id,
      bundle: shim.bundle,
      runtimePath: shim.runtimePath,
      conn: shim.connection,
      started: !shim.sandboxed,
      log: shim.log,
      sandboxed: shim.sandboxed,
      address: shim.address,
      createSent: true,
    });
  }

  async #abortStart(s: {
    ns: string;
    id: string;
    bundle: Bundle;
    runtimePath: string;
    conn?: ShimConnection;
    started: boolean;
    log?: LogFifo;
    sandboxed?: boolean;
    address?: string;
    /** Create was sent: the runtime may hold a container that only `shim delete` removes. */
    createSent?: boolean;
  }): Promise<void> {
    const t = this.#o.timeouts;
    const fields = { namespace: s.ns, id: s.id };
    const runDelete = () =>
      this.#runDelete(s.ns, s.id, s.bundle, s.runtimePath).then(() => true, (err) => {
        this.#log.debug("abort: shim delete", { ...fields, err });
        return false;
      });
    let shimPids: number[] = [];
    // The shim went away on its own (crashed, died): it needs the full dead-shim treatment.
    let lost = !s.conn;
    let deleted = false;
    if (s.conn) {
      s.conn.expectClose();
      if (s.conn.info.shimPid > 0) shimPids = [s.conn.info.shimPid];
      await s.conn.task.delete(s.id, "", { timeoutMs: t.cleanupMs }).catch((err) => {
        if (!isNotFound(err)) this.#log.debug("abort: delete task", { ...fields, err });
      });
      lost = s.conn.closed;
      // Before Shutdown: once a 1.6 runc v1 shim has exited and removed its socket, its `delete` fails
      // ("remove <socket>: no such file or directory") before it gets to `runc delete`.
      if (s.createSent && s.started && !s.sandboxed && !lost) deleted = await runDelete();
      if (!s.sandboxed && !lost) {
        await s.conn.task.shutdown(s.id, false, { timeoutMs: t.shutdownMs }).catch((err) => {
          if (!isUnavailable(err)) this.#log.debug("abort: shutdown shim", { ...fields, err });
        });
      }
      s.conn.close();
    }
    if (s.started && !s.sandboxed) {
      if (shimPids.length === 0) shimPids = await this.#daemonPids(s.ns, s.id, s.bundle);
      const dead = !(await this.#waitGone(shimPids, 1000)) || lost;
      if (!deleted && (dead || s.createSent)) await runDelete();
      if (dead) {
        this.#kill(shimPids, fields);
        await this.#waitGone(shimPids, 1000);
        for (const a of s.address ? [s.address] : this.#likelyAddresses(s.ns, s.id)) {
          await this.#stopListener(a, s.ns, s.id, fields);
          await this.#removeStaleSocket(a);
        }
      }
    }
    await s.log?.close();
    await this.#removeBundle(s.bundle);
  }

  /**
   * Where a runc-style shim would have put its socket (protocol-facts §2.5), for a start that
   * failed before printing it: the default socket dir and the configured one.
   */
  #likelyAddresses(ns: string, id: string): string[] {
    const out: string[] = [];
    for (const socketDir of [undefined, this.#o.socketDir]) {
      try {
        out.push(shimSocketAddress({ socketDir, grpcAddress: this.#o.address, namespace: ns, id }));
      } catch {
        // A path too long for a socket cannot have been created either.
      }
    }
    return out;
  }

  /**
   * After a failed start: a daemon that still listens on the container's socket was missed by
   * {@link #daemonPids} (it had not settled in its bundle yet, say). Stops the listener when its
   * command line names this container (`-namespace <ns>` and `-id <id>`): it is this start's shim.
   */
  async #stopListener(
    address: string,
    ns: string,
    id: string,
    fields: Record<string, unknown>,
  ): Promise<void> {
    const path = socketFileOf(address);
    if (path === undefined) return;
    const ours: number[] = [];
    for (const pid of await listenerPids(path)) {
      if (await isShimFor(pid, ns, id)) ours.push(pid);
    }
    if (ours.length === 0) return;
    this.#kill(ours, { ...fields, socket: path });
    await this.#waitGone(ours, 1000);
  }

  /** Finds a shim daemon that never answered: a process with cwd = the bundle and `-id <id>` on its command line. */
  async #daemonPids(ns: string, id: string, bundle: Bundle): Promise<number[]> {
    const out: number[] = [];
    for (const pid of await listPidsWithCwd(bundle.path).catch(() => [] as number[])) {
      if (await isShimFor(pid, ns, id)) out.push(pid);
    }
    return out;
  }

  async #waitGone(pids: readonly number[], ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!pids.some(isProcessAlive)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(5);
    }
  }

  #kill(pids: readonly number[], fields: Record<string, unknown>): void {
    for (const pid of pids) {
      // A shim that reported our own pid (an in-process server) is never ours to kill.
      if (pid === process.pid || !isProcessAlive(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
        this.#log.warn("killed shim daemon", { ...fields, pid });
      } catch (err) {
        this.#log.debug("kill shim daemon", { ...fields, pid, err });
      }
    }
  }

  async #runDelete(ns: string, id: string, bundle: Bundle, runtimePath: string): Promise<ExitInfo> {
    const r = await runShimDelete(this.#call(ns, id, bundle, runtimePath, this.#o.timeouts.cleanupMs));
    const exit: ExitInfo = { pid: r.pid, exitStatus: r.exitStatus };
    if (r.exitedAt) exit.exitedAt = r.exitedAt;
    return exit;
  }

  async #removeBundle(bundle: Bundle): Promise<void> {
    await deleteBundle(bundle).catch((err) =>
      this.#log.warn("remove bundle", { namespace: bundle.namespace, id: bundle.id, err })
    );
  }

  /**
   * Describes a shim from its bundle alone, for cleaning up after it when it
   * cannot be connected to.
   *
   * @param ns namespace
   * @param id container id
   * @param opts bundle, runtime and, when known, its binary
   * @returns the description (address "" when `bootstrap.json` and `address` are missing)
   * @throws ShimkitError when the runtime binary cannot be found
   */
  async describe(ns: string, id: string, opts: LoadShimOptions): Promise<ShimRef> {
    const boot = await restoreBootstrap(opts.bundle).catch(() => undefined);
    const runtimePath = opts.runtimePath ?? await this.#binaryPathOf(opts.bundle, opts.runtime);
    const sandboxed = await isSandboxMember(opts.bundle);
    return {
      namespace: ns,
      id,
      bundle: opts.bundle,
      runtimePath,
      address: boot?.address ?? "",
      sandboxed,
      pid: 0,
      created: opts.created ?? true,
    };
  }

  /**
   * Cleans up after a shim that died (containerd `cleanupAfterDeadShim`),
   * at most once across processes: under the container lock, and only while
   * the bundle still exists and the shim really does not answer. Runs
   * `shim delete` (its exit status, else 255), kills the daemon if it lingers
   * (a 1.6 `delete` fails when Create never ran), publishes `/tasks/exit` and
   * `/tasks/delete` when the task had been created, removes the bundle and
   * forgets the shim.
   *
   * @param shim the dead shim
   * @returns the exit reported, or undefined when there was nothing to clean (another process did it,
   *   or the shim answered again)
   */
  cleanupDeadShim(shim: Shim): Promise<ExitInfo | undefined> {
    const k = key(shim.namespace, shim.id);
    let p = this.#cleanups.get(k);
    if (!p) {
      p = this.#cleanupDead(shim).finally(() => this.#cleanups.delete(k));
      this.#cleanups.set(k, p);
    }
    return p;
  }

  async #cleanupDead(shim: Shim): Promise<ExitInfo | undefined> {
    this.#forget(shim);
    shim.connection.close();
    await shim.log?.close();
    const lock = this.#o.locking === false ? undefined : await acquireContainerLock(
      this.#o.state,
      shim.namespace,
      shim.id,
      { timeoutMs: 2 * this.#o.timeouts.cleanupMs },
    );
    try {
      const exit = await this.cleanupDeadLocked(shim);
      await this.#o.onShimGone?.(shim.namespace, shim.id, exit);
      return exit;
    } finally {
      await lock?.release();
    }
  }

  /**
   * The body of the dead-shim cleanup, for callers that already hold the
   * container lock (e.g. a delete that found the shim gone).
   *
   * @param shim the dead shim, or a description of one that cannot be reached
   * @param opts `force`: clean up even when the shim still answers `Connect` (it stopped answering
   *   what matters, e.g. a forced delete whose Delete timed out)
   * @returns the exit reported, or undefined when there was nothing to clean
   */
  async cleanupDeadLocked(shim: ShimRef, opts: { force?: boolean } = {}): Promise<ExitInfo | undefined> {
    const { namespace: ns, id } = shim;
    const fields = { namespace: ns, id };
    if (shim instanceof Shim) {
      this.#forget(shim);
      shim.connection.close();
      await shim.log?.close();
    }
    // Another process (or a delete in this one) got there first.
    if (!(await stat(shim.bundle.path).then(() => true, () => false))) return undefined;
    if (!opts.force && shim.address !== "" && await this.#answers(shim)) {
      this.#log.info("shim answers again; not cleaning up", fields);
      return undefined;
    }
    this.#log.warn("cleaning up after shim disconnected", fields);
    let exit: ExitInfo;
    try {
      exit = await this.#runDelete(ns, id, shim.bundle, shim.runtimePath);
    } catch (err) {
      this.#log.warn("failed to clean up after shim disconnected", { ...fields, err });
      exit = { exitStatus: DEAD_SHIM_EXIT_STATUS, exitedAt: new Date() };
    }
    exit.exitedAt ??= new Date();
    if (!shim.sandboxed) {
      const pids = shim.pid > 0 ? [shim.pid] : await this.#daemonPids(ns, id, shim.bundle);
      this.#kill(pids, fields);
      await this.#waitGone(pids, 1000);
      await this.#removeStaleSocket(shim.address);
    }
    if (shim.created) await this.#publishExit(ns, id, exit);
    await this.#removeBundle(shim.bundle);
    return exit;
  }

  /**
   * A killed shim leaves its socket file behind (it only removes it on a clean exit). Removes the
   * file when it is a socket nobody accepts on.
   */
  async #removeStaleSocket(address: string): Promise<void> {
    const path = socketFileOf(address);
    if (path === undefined) return;
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isSocket()) return;
    // A killed multi-threaded daemon shows as a zombie before its last thread has closed the
    // listener: give it a moment to stop accepting.
    const deadline = Date.now() + 1000;
    while (await acceptsConnections(path)) {
      if (Date.now() >= deadline) return;
      await sleep(10);
    }
    await rm(path, { force: true }).catch(() => {});
  }

  async #answers(shim: ShimRef): Promise<boolean> {
    try {
      const version = shim instanceof Shim ? shim.version : 2;
      const c = await this.#connect(
        shim.namespace,
        shim.id,
        shim.address,
        version,
        Math.min(1000, this.#o.timeouts.loadMs),
      );
      c.close();
      return true;
    } catch (err) {
      // Not answering in time is no proof of death.
      return kindOf(err) === "deadline_exceeded";
    }
  }

  async #publishExit(ns: string, id: string, exit: ExitInfo): Promise<void> {
    const publisher = this.#o.publisher;
    if (!publisher) return;
    const event: SynthesizedTaskEvent = {
      containerId: id,
      id,
      pid: exit.pid ?? 0,
      exitStatus: exit.exitStatus,
      exitedAt: exit.exitedAt ?? new Date(),
    };
    for (const topic of ["/tasks/exit", "/tasks/delete"] as const) {
      try {
        await publisher.publish(ns, topic, event);
      } catch (err) {
        this.#log.warn("publish synthesized event", { namespace: ns, id, topic, err });
      }
    }
  }

  /**
   * Closes every connection and stops draining logs; the shims keep running.
   *
   * @returns when closed
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const shims = [...this.#shims.values()];
    this.#shims.clear();
    for (const s of shims) s.connection.close();
    await Promise.all(shims.map((s) => s.log?.close()));
    await Promise.all([...this.#cleanups.values()]);
  }
}
