/**
 * The task manager (containerd `core/runtime/v2/task_manager.go` without a
 * daemon): create a task (bundle → shim → Create), control it through
 * {@link Task}, delete it (Delete → Shutdown → bundle and record removal),
 * and reach tasks created by other processes by loading their shim from disk.
 *
 * @module
 */

import { fromBinary } from "../api/protobuf.ts";
import { statSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Bundle, createBundle, loadBundle } from "../bundle/bundle.ts";
import { bundleDir, bundleFile, eventsJournalPath, eventsSocketPath } from "../bundle/layout.ts";
import { acquireContainerLock } from "../bundle/lock.ts";
import {
  type ContainerRecord,
  listRecords,
  readRecord,
  removeRecord,
  writeRecord,
} from "../bundle/records.ts";
import type { Config } from "../config/config.ts";
import { defaultConfig } from "../config/config.ts";
import {
  AlreadyExistsError,
  DeadlineExceededError,
  InvalidArgumentError,
  isNotFound,
  isUnavailable,
  kindOf,
  NotFoundError,
  withContext,
} from "../errors.ts";
import { EventBus, type EventSubscription } from "../events/bus.ts";
import { journalRecordToEvent, tailJournal } from "../events/journal.ts";
import { journalEventPublisher } from "../events/publish.ts";
import { checkSocketPath, EventsListener } from "../events/server.ts";
import type { EventFilter } from "../events/topics.ts";
import { validateId, validateNamespace } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import { makeFifo } from "../platform/fifo.ts";
import { selfExecutable } from "../platform/process.ts";
import { createRuntimeResolver, type RuntimeResolver } from "../runtime/resolve.ts";
import { RuntimeInfoSchema } from "../gen/containerd/types/introspection_pb.ts";
import { encodeRuntimeOptions } from "../shim/argv.ts";
import { runShimInfo } from "../shim/binary.ts";
import { DEAD_SHIM_EXIT_STATUS, type Shim, ShimManager, type ShimTimeouts } from "../shim/manager.ts";
import { normalizeStdio, type TaskCallOptions } from "../taskapi/client.ts";
import type {
  AnyValue,
  ConnectInfo,
  ExitInfo,
  Mount,
  ProcessInfo,
  StdioOptions,
  TaskState,
  TaskStatus,
} from "../taskapi/types.ts";
import { checkIdmapSupport, usesIdmapMounts } from "./features.ts";
import { encodeRuntimeOptionsValue } from "./options.ts";

/** Options for {@link TaskManager.open}. */
export interface TaskManagerOptions {
  /** State directory: bundles, the events socket and journal, locks. */
  state: string;
  /** Root directory: work dirs and container records. */
  root: string;
  /** Socket dir passed to shims that honour it (fake shim: `SHIMKIT_FAKE_SOCKET_DIR`). */
  socketDir?: string;
  /** Logger (default: discard). */
  logger?: Logger;
  /** Config: default runtime, runtime options and paths, shim env, timeouts (default: built-in defaults). */
  config?: Config;
  /** Runtime resolver (default: config runtimes, then PATH, then beside this executable). */
  resolver?: RuntimeResolver;
  /** The shims' `-publish-binary` (default: this program). */
  publishBinary?: string;
  /**
   * Timeouts in ms, over the config's. `createMs` and `deleteMs` bound the Create and Delete calls
   * (sent to the shim as its deadline). Create defaults to the start budget ×2, at least 5 s (see
   * {@link defaultCreateTimeoutMs}); Delete defaults to the cleanup budget.
   */
  timeouts?: {
    startMs?: number;
    shutdownMs?: number;
    cleanupMs?: number;
    loadMs?: number;
    createMs?: number;
    deleteMs?: number;
  };
  /** Serve `Events/Forward` on the state's events socket (default true). */
  events?: boolean;
  /** Take the per-container file lock in create and delete (default true). Callers that hold it already pass false. */
  locking?: boolean;
  /** Phase timing hook: `bundle`, `shimStart`, `connect`, `create`, `start`, `wait`, `delete`, `shutdown`, in ms. */
  onPhase?: (name: string, ms: number) => void;
}

/** What {@link TaskManager.create} needs. */
export interface CreateTaskOptions extends StdioOptions {
  /** Namespace. */
  namespace: string;
  /** Container id. */
  id: string;
  /** Runtime name (`io.containerd.runc.v2`) or absolute shim path. */
  runtime: string;
  /** Runtime options: an `Any`, or an object of `containerd.runc.v1.Options` fields (default: the config's). */
  runtimeOptions?: AnyValue | Record<string, unknown>;
  /** The OCI runtime spec, written as config.json. */
  spec: Record<string, unknown>;
  /** Root filesystem mounts. */
  rootfs?: Mount[];
  /** User labels, kept in the record. */
  labels?: Record<string, string>;
  /** Sandbox the task belongs to. */
  sandboxId?: string;
  /** The sandbox shim's address (`ttrpc+unix:///…`): the task is served by it instead of a new shim. */
  sandboxAddress?: string;
}

/** One row of {@link TaskManager.list}. */
export interface TaskSummary {
  /** Namespace. */
  namespace: string;
  /** Container id. */
  id: string;
  /** Runtime name or path. */
  runtime: string;
  /** Init pid (0 when unknown). */
  pid: number;
  /** Status; `unknown` when the shim does not answer. */
  status: TaskStatus;
  /** Bundle path. */
  bundle: string;
  /** When the task was created. */
  created: Date;
}

const key = (ns: string, id: string) => `${ns}/${id}`;
const exists = (path: string) => stat(path).then(() => true, () => false);

/**
 * The deadline of the Create call when the caller sets none: the start budget ×2, at least 5 s.
 * `runc create` takes 20–40 ms, but seconds on a loaded host (cgroup and mount setup, hooks, a slow
 * disk), so the bound only catches a shim that never answers; the config has no `create` key yet.
 *
 * @param startMs the shim start budget
 * @returns the Create deadline in ms
 */
export function defaultCreateTimeoutMs(startMs: number): number {
  return Math.max(2 * startMs, 5000);
}

/**
 * Names the budget our own deadline enforced (a shim that answers DeadlineExceeded itself, before
 * the budget ran out, is left as it is): `…: context deadline exceeded (no answer within 6000ms)`.
 */
function namingTimeout(err: unknown, timeoutMs: number, t0: number): unknown {
  if (kindOf(err) !== "deadline_exceeded" || performance.now() - t0 < timeoutMs) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new DeadlineExceededError(`${msg} (no answer within ${timeoutMs}ms)`, { cause: err });
}

/** No bundle for the task: it does not exist (as opposed to a shim that does not answer). */
class TaskNotFoundError extends NotFoundError {}
const q = JSON.stringify;
/** What one try of a delete returns when it should be retried on a new connection. */
const RECONNECT = Symbol("reconnect");

/** Internal view of the manager a Task reports to. */
interface TaskHost {
  phase(name: string, t0: number): void;
}

/** A task (a container's init process and its execs) served by a shim. */
export class Task {
  /** Namespace. */
  readonly namespace: string;
  /** Container id. */
  readonly id: string;
  /** Bundle path. */
  readonly bundle: string;
  /** Runtime name or path. */
  readonly runtime: string;
  /** Init pid (from Create, or the shim's `Connect` for loaded tasks). */
  pid: number;
  /** @internal the shim serving this task */
  readonly shim: Shim;
  readonly #host: TaskHost;

  /** @internal */
  constructor(host: TaskHost, shim: Shim, pid: number) {
    this.#host = host;
    this.shim = shim;
    this.namespace = shim.namespace;
    this.id = shim.id;
    this.bundle = shim.bundle.path;
    this.runtime = shim.runtime;
    this.pid = pid;
  }

  /**
   * Starts the init process, or an exec.
   *
   * @param execId exec id (default: the init process)
   * @returns the started process's pid
   * @throws ShimkitError with the shim's status
   */
  async start(execId = ""): Promise<number> {
    const t0 = performance.now();
    const pid = await this.shim.task.start(this.id, execId);
    if (execId === "") {
      this.#host.phase("start", t0);
      this.pid = pid;
    }
    return pid;
  }

  /**
   * Reads the state of the init process or an exec.
   *
   * @param execId exec id (default: init)
   * @returns the state
   * @throws NotFoundError when there is no such process
   */
  state(execId = ""): Promise<TaskState> {
    return this.shim.task.state(this.id, execId);
  }

  /**
   * Waits for the init process or an exec to exit.
   *
   * @param execId exec id (default: init)
   * @param opts timeout and abort signal
   * @returns exit status and time
   * @throws ShimkitError (Unavailable when the shim died)
   */
  async wait(execId = "", opts?: TaskCallOptions): Promise<ExitInfo> {
    const t0 = performance.now();
    const exit = await this.shim.task.wait(this.id, execId, opts);
    if (execId === "") this.#host.phase("wait", t0);
    return exit;
  }

  /**
   * Sends a signal.
   *
   * @param signal signal number
   * @param opts `all` for every process of the container; `execId` for one exec
   * @returns when delivered
   * @throws NotFoundError when the process already finished
   */
  kill(signal: number, opts: { all?: boolean; execId?: string } = {}): Promise<void> {
    return this.shim.task.kill(this.id, signal, opts);
  }

  /**
   * Lists the container's processes.
   *
   * @returns pids, with exec ids where reported
   * @throws ShimkitError with the shim's status
   */
  pids(): Promise<ProcessInfo[]> {
    return this.shim.task.pids(this.id);
  }

  /**
   * Adds an exec process; start it with {@link Task.start}.
   *
   * @param execId the new exec's id
   * @param opts the OCI process object and stdio
   * @returns when added
   * @throws InvalidArgumentError for a bad exec id or missing process; AlreadyExistsError for a used exec id
   */
  async exec(
    execId: string,
    opts: { process: Record<string, unknown> } & StdioOptions,
  ): Promise<void> {
    validateId(execId, "exec id");
    await this.shim.task.exec(this.id, execId, opts);
  }

  /**
   * Resizes the terminal of the init process or an exec.
   *
   * @param width columns
   * @param height rows
   * @param execId exec id (default: init)
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  resizePty(width: number, height: number, execId = ""): Promise<void> {
    return this.shim.task.resizePty(this.id, execId, width, height);
  }

  /**
   * Closes the stdin of the init process or an exec.
   *
   * @param opts exec id and whether to close stdin (default true)
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  closeIO(opts: { execId?: string; stdin?: boolean } = {}): Promise<void> {
    return this.shim.task.closeIO(this.id, opts.execId ?? "", opts.stdin ?? true);
  }

  /**
   * Reads cgroup metrics.
   *
   * @returns the metrics `Any`, or undefined
   * @throws ShimkitError with the shim's status
   */
  stats(): Promise<AnyValue | undefined> {
    return this.shim.task.stats(this.id);
  }

  /**
   * Updates resources.
   *
   * @param resources an OCI `LinuxResources` object
   * @param annotations annotations to pass along
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  update(resources: Record<string, unknown>, annotations?: Record<string, string>): Promise<void> {
    return this.shim.task.update(this.id, resources, annotations);
  }

  /**
   * Freezes the container.
   *
   * @returns when paused
   * @throws ShimkitError with the shim's status
   */
  pause(): Promise<void> {
    return this.shim.task.pause(this.id);
  }

  /**
   * Thaws the container.
   *
   * @returns when resumed
   * @throws ShimkitError with the shim's status
   */
  resume(): Promise<void> {
    return this.shim.task.resume(this.id);
  }

  /**
   * Deletes an exited exec process.
   *
   * @param execId exec id
   * @returns its pid, exit status and time
   * @throws ShimkitError (code 2 while it still runs)
   */
  deleteProcess(execId: string): Promise<ExitInfo> {
    if (execId === "") return Promise.reject(new InvalidArgumentError("delete process: exec id is required"));
    return this.shim.task.delete(this.id, execId);
  }

  /**
   * Asks the shim for its pid, the task's pid and its version.
   *
   * @returns the connect info
   * @throws ShimkitError with the shim's status
   */
  connect(): Promise<ConnectInfo> {
    return this.shim.task.connect(this.id);
  }
}

/**
 * Checks that a state dir can hold the events socket shims publish to
 * (`<state>/events.sock`, at most 107 bytes), as {@link TaskManager.open}
 * does before it creates anything; callers that write to the state dir
 * before opening a manager check first.
 *
 * @param state the state directory
 * @returns the events socket path
 * @throws InvalidArgumentError naming the path and its length when it is too long
 */
export function checkStateDir(state: string): string {
  return checkSocketPath(eventsSocketPath(state));
}

/**
 * The runtime resolver a config implies: the configured runtime paths
 * (`[runtimes.<name>] path`), then `PATH`, then the directory of this program.
 *
 * @param config the effective config
 * @param env the environment whose `PATH` is searched (default: this process's)
 * @returns a resolver
 * @example
 * ```ts
 * const shim = await createConfiguredResolver(config).resolve("io.containerd.runc.v2");
 * ```
 */
export function createConfiguredResolver(
  config: Config,
  env: Record<string, string | undefined> = process.env,
): RuntimeResolver {
  return createRuntimeResolver({
    path: env.PATH,
    selfDir: dirname(selfExecutable()),
    runtimes: Object.fromEntries(
      Object.entries(config.runtimes).filter(([, r]) => r.path).map(([n, r]) => [n, r.path as string]),
    ),
  });
}

/** Creates, finds, deletes and observes tasks. One per process (or several on the same dirs). */
export class TaskManager {
  /** The shim manager underneath. */
  readonly shims: ShimManager;
  /** The state directory: bundles, the events socket and journal, locks. */
  readonly state: string;
  /** The root directory: work dirs and container records. */
  readonly root: string;
  /** The effective config (the given one, else the built-in defaults). */
  readonly config: Config;
  /** The runtime resolver in use (the given one, else {@link createConfiguredResolver}). */
  readonly resolver: RuntimeResolver;
  readonly #o: TaskManagerOptions;
  readonly #log: Logger;
  readonly #timeouts: ShimTimeouts;
  readonly #tasks = new Map<string, Task>();
  readonly #loading = new Map<string, Promise<Task>>();
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #bus = new EventBus();
  readonly #journal: string;
  #listener: EventsListener | undefined;
  /** The listener's start, begun by open() and awaited before a Create is sent and on close. */
  #listening: Promise<void> = Promise.resolve();
  #spareFifo: Promise<string | undefined> | undefined;
  #fifoSeq = 0;
  #created = 0;
  #tail: AbortController | undefined;
  #closed = false;

  private constructor(
    o: TaskManagerOptions,
    config: Config,
    resolver: RuntimeResolver,
    timeouts: ShimTimeouts,
  ) {
    this.#o = o;
    this.state = o.state;
    this.root = o.root;
    this.config = config;
    this.resolver = resolver;
    this.#log = o.logger ?? nullLogger;
    this.#timeouts = timeouts;
    this.#journal = eventsJournalPath(o.state);
    const socket = eventsSocketPath(o.state);
    this.shims = new ShimManager({
      state: o.state,
      root: o.root,
      resolver,
      address: socket,
      eventsAddress: socket,
      publisher: journalEventPublisher(this.#journal),
      publishBinary: o.publishBinary ?? selfExecutable(),
      timeouts,
      logger: this.#log,
      env: config.shim.env,
      socketDir: o.socketDir ?? config.socketDir,
      debug: config.debug,
      locking: o.locking,
      onPhase: o.onPhase,
      onShimGone: (ns, id, exit) => this.#shimGone(ns, id, exit),
    });
  }

  /**
   * Opens a task manager on a state and root dir, creating them if needed,
   * and (unless `events: false`) takes the events listener role for the state
   * dir when no other process has it. The listener binds in the background;
   * {@link TaskManager.create} waits for it before sending Create.
   *
   * @param opts directories, config, resolver, timeouts, hooks
   * @returns the manager
   * @throws InvalidArgumentError when the events socket path is too long
   */
  static async open(opts: TaskManagerOptions): Promise<TaskManager> {
    const config = opts.config ?? defaultConfig();
    const ct = config.timeouts;
    const timeouts: ShimTimeouts = {
      startMs: opts.timeouts?.startMs ?? ct.start,
      shutdownMs: opts.timeouts?.shutdownMs ?? ct.shutdown,
      cleanupMs: opts.timeouts?.cleanupMs ?? ct.cleanup,
      loadMs: opts.timeouts?.loadMs ?? ct.load,
    };
    const resolver = opts.resolver ?? createConfiguredResolver(config);
    // Before any directory is made: shims dial this socket to publish, whether or not we serve it.
    const socket = checkStateDir(opts.state);
    await mkdir(opts.state, { recursive: true, mode: 0o711 });
    await mkdir(opts.root, { recursive: true, mode: 0o711 });
    const m = new TaskManager(opts, config, resolver, timeouts);
    if (opts.events !== false) {
      // Bound while the first shim starts (2–3 ms less before it): a shim publishes nothing before
      // its Create, and create() waits for this before sending one.
      m.#listening = EventsListener.start({
        socketPath: socket,
        journalPath: m.#journal,
        logger: m.#log,
      }).then((l) => {
        m.#listener = l;
      }, (err) => m.#log.warn("events listener failed", { socket, err }));
    }
    return m;
  }

  /** @internal */
  phase(name: string, t0: number): void {
    this.#o.onPhase?.(name, performance.now() - t0);
  }

  /** Runs `fn` exclusively for one container: in this process (queue) and across processes (file lock). */
  async #exclusive<T>(ns: string, id: string, fn: () => Promise<T>): Promise<T> {
    const k = key(ns, id);
    const prev = this.#queues.get(k) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(async () => {
      const lock = this.#o.locking === false ? undefined : await acquireContainerLock(this.state, ns, id);
      try {
        return await fn();
      } finally {
        await lock?.release();
      }
    });
    this.#queues.set(k, run);
    try {
      return await run;
    } finally {
      if (this.#queues.get(k) === run) this.#queues.delete(k);
    }
  }

  #runtimeOptions(req: CreateTaskOptions): AnyValue | undefined {
    if (req.runtimeOptions !== undefined) return encodeRuntimeOptionsValue(req.runtimeOptions);
    const configured = this.config.runtimes[req.runtime]?.options;
    return configured ? encodeRuntimeOptionsValue(configured) : undefined;
  }

  /**
   * Creates a task: validates the ids, creates the bundle, starts the shim,
   * checks runtime features when the spec uses idmapped mounts, calls Create
   * and persists the container record. On failure everything created is
   * removed (shim stopped, bundle and record gone) before this throws.
   *
   * @param req namespace, id, runtime, spec, stdio, options
   * @returns the created task (call {@link Task.start})
   * @throws InvalidArgumentError for bad ids or input (before anything is touched); AlreadyExistsError;
   *   the failing step's error with context `create task "<ns>/<id>"`
   * @example
   * ```ts
   * const task = await tm.create({ namespace: "default", id: "c1", runtime: "io.containerd.runc.v2", spec });
   * await task.start();
   * const { exitStatus } = await task.wait();
   * await tm.delete("default", "c1");
   * ```
   */
  async create(req: CreateTaskOptions): Promise<Task> {
    const ns = validateNamespace(req.namespace);
    const id = validateId(req.id);
    if (req.sandboxId !== undefined) validateId(req.sandboxId, "sandbox id");
    if (!req.spec || typeof req.spec !== "object" || Array.isArray(req.spec)) {
      throw new InvalidArgumentError(`create task ${q(ns + "/" + id)}: spec must be an object`);
    }
    if (!req.runtime) throw new InvalidArgumentError(`create task ${q(ns + "/" + id)}: runtime is required`);
    const ctx = `create task ${q(ns + "/" + id)}`;
    if (req.sandboxAddress !== undefined && !req.sandboxId) {
      throw new InvalidArgumentError(`${ctx}: a sandbox address needs a sandbox id`);
    }
    let runtimeOptions: AnyValue | undefined;
    try {
      normalizeStdio(req);
      runtimeOptions = this.#runtimeOptions(req);
    } catch (err) {
      throw withContext(err, ctx);
    }
    return await this.#exclusive(ns, id, async () => {
      if (this.#tasks.has(key(ns, id))) throw new AlreadyExistsError(`${ctx}: task already exists`);
      const existing = await readRecord(this.root, ns, id).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw withContext(err, ctx);
      });
      if (existing) throw new AlreadyExistsError(`${ctx}: container already exists`);
      let t0 = performance.now();
      // Creating a FIFO takes a process (mkfifo): use a spare one, or make it while the bundle is built.
      const fifo = this.#spareFifo ?? this.#makeFifo();
      this.#spareFifo = undefined;
      let bundle: Bundle;
      try {
        bundle = await createBundle({
          state: this.state,
          root: this.root,
          namespace: ns,
          id,
          spec: req.spec,
        });
      } catch (err) {
        this.#spareFifo = fifo;
        throw withContext(err, ctx);
      }
      const fifoPath = await fifo;
      if (fifoPath) {
        await rename(fifoPath, bundleFile(bundle.path, "log")).catch(() => rm(fifoPath, { force: true }));
      }
      this.phase("bundle", t0);
      let shim: Shim;
      try {
        shim = await this.shims.start(ns, id, {
          bundle,
          runtime: req.runtime,
          runtimeOptions,
          sandboxId: req.sandboxId,
          sandboxAddress: req.sandboxAddress,
        });
      } catch (err) {
        // The shim manager removed the bundle already.
        throw withContext(err, ctx);
      }
      try {
        if (usesIdmapMounts(req.spec)) await this.#checkIdmap(shim.runtimePath, runtimeOptions);
        const rec: ContainerRecord = {
          namespace: ns,
          id,
          runtime: req.runtime,
          runtimePath: shim.runtimePath,
          spec: { inline: req.spec },
          labels: { ...req.labels },
          createdAt: new Date(),
        };
        if (runtimeOptions) rec.runtimeOptions = runtimeOptions;
        if (req.sandboxId) rec.sandboxId = req.sandboxId;
        // The record is written while runc creates the container; a failed Create removes it again.
        const recorded = writeRecord(this.root, rec).then(
          () => undefined,
          (err: unknown) => err ?? new Error("write record"),
        );
        await this.#listening;
        t0 = performance.now();
        const createMs = this.#o.timeouts?.createMs ?? defaultCreateTimeoutMs(this.#timeouts.startMs);
        let pid: number;
        try {
          pid = await shim.task.create({
            id,
            bundle: bundle.path,
            rootfs: req.rootfs,
            stdin: req.stdin,
            stdout: req.stdout,
            stderr: req.stderr,
            terminal: req.terminal,
            options: runtimeOptions,
          }, { timeoutMs: createMs });
        } catch (err) {
          await recorded;
          // A Create that never answers: the bounded abort below stops the shim and frees the lock.
          throw namingTimeout(err, createMs, t0);
        }
        this.phase("create", t0);
        shim.created = true;
        const recordErr = await recorded;
        if (recordErr !== undefined) throw recordErr;
        const task = new Task(this, shim, pid);
        this.#tasks.set(key(ns, id), task);
        // A manager that creates more than once likely keeps creating: have the next FIFO ready.
        if (++this.#created > 1 && !this.#spareFifo && !this.#closed) this.#spareFifo = this.#makeFifo();
        return task;
      } catch (err) {
        shim.created = false;
        await this.shims.abort(shim);
        await removeRecord(this.root, ns, id).catch(() => false);
        throw withContext(err, ctx);
      }
    });
  }

  /** Makes a FIFO under a hidden name in the state dir; resolves to its path, or undefined when mkfifo failed. */
  #makeFifo(): Promise<string | undefined> {
    const path = join(this.state, `.log-fifo-${process.pid}-${++this.#fifoSeq}`);
    return makeFifo(path, 0o700).then(() => path, (err) => {
      this.#log.debug("make log fifo", { path, err });
      return undefined;
    });
  }

  async #checkIdmap(runtimePath: string, options: AnyValue | undefined): Promise<void> {
    try {
      const stdin = options ? encodeRuntimeOptions(options.typeUrl, options.value) : undefined;
      const info = fromBinary(
        RuntimeInfoSchema,
        await runShimInfo(runtimePath, stdin, this.#timeouts.startMs),
      );
      const features = info.features;
      if (!features) throw new NotFoundError("the runtime reported no features");
      checkIdmapSupport(JSON.parse(new TextDecoder().decode(features.value)));
    } catch (err) {
      throw withContext(err, "validate runtime features");
    }
  }

  /**
   * Registers the task of a shim the restore loader just loaded, without reading its record
   * and bundle again as {@link get} would.
   *
   * @param shim a shim tracked by this manager's shim manager
   * @returns the task (the one already registered, while its connection is open)
   */
  adopt(shim: Shim): Task {
    const k = key(shim.namespace, shim.id);
    const have = this.#tasks.get(k);
    if (have && !have.shim.connection.closed) return have;
    const task = new Task(this, shim, shim.connection.info.taskPid);
    this.#tasks.set(k, task);
    return task;
  }

  /**
   * Returns a task: the one this manager holds, else one loaded from disk
   * (the record, `bootstrap.json`) so a task created by another process can
   * be controlled.
   *
   * @param namespace namespace
   * @param id container id
   * @returns the task
   * @throws NotFoundError when there is no such task; UnavailableError / NotFoundError with context when its
   *   shim does not answer
   */
  async get(namespace: string, id: string): Promise<Task> {
    validateNamespace(namespace);
    validateId(id);
    const k = key(namespace, id);
    const have = this.#tasks.get(k);
    if (have && !have.shim.connection.closed) return have;
    if (have) this.#tasks.delete(k);
    let p = this.#loading.get(k);
    if (!p) {
      p = this.#load(namespace, id).finally(() => this.#loading.delete(k));
      this.#loading.set(k, p);
    }
    return await p;
  }

  async #load(ns: string, id: string): Promise<Task> {
    const ctx = `load task ${q(ns + "/" + id)}`;
    const rec = await readRecord(this.root, ns, id).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw withContext(err, ctx);
    });
    let bundle: Bundle;
    try {
      bundle = await loadBundle({ state: this.state, root: this.root, namespace: ns, id });
    } catch (err) {
      if (isNotFound(err)) throw new TaskNotFoundError(`task ${q(ns + "/" + id)} not found`, { cause: err });
      throw withContext(err, ctx);
    }
    const shim = await this.shims.load(ns, id, {
      bundle,
      runtime: rec?.runtime ?? this.config.defaultRuntime,
      runtimePath: rec?.runtimePath,
    });
    const again = this.#tasks.get(key(ns, id));
    if (again) return again;
    const task = new Task(this, shim, shim.connection.info.taskPid);
    this.#tasks.set(key(ns, id), task);
    return task;
  }

  /**
   * Lists tasks from the container records, asking each shim for its state
   * (`unknown` when it does not answer).
   *
   * @param namespace only this namespace (default: all)
   * @returns one summary per task, sorted by namespace and id
   */
  async list(namespace?: string): Promise<TaskSummary[]> {
    if (namespace !== undefined) validateNamespace(namespace);
    const { records, errors } = await listRecords(this.root, namespace);
    for (const err of errors) this.#log.warn("skipping container record", { err });
    return await Promise.all(records.map(async (r): Promise<TaskSummary> => {
      const row: TaskSummary = {
        namespace: r.namespace,
        id: r.id,
        runtime: r.runtime,
        pid: 0,
        status: "unknown",
        bundle: bundleDir(this.state, r.namespace, r.id),
        created: r.createdAt,
      };
      try {
        const task = await this.get(r.namespace, r.id);
        const st = await task.state(undefined);
        row.pid = st.pid;
        row.status = st.status;
      } catch (err) {
        this.#log.debug("task state unavailable", { namespace: r.namespace, id: r.id, err });
      }
      return row;
    }));
  }

  /**
   * Deletes a task: Delete (NotFound tolerated; bounded by the cleanup
   * timeout), Shutdown (3 s, a closed connection counts as success), close,
   * then the bundle and the record are removed. A task whose shim is dead is
   * cleaned up as containerd does (`shim delete`, synthesized `/tasks/exit`
   * and `/tasks/delete`). A shim that answers Delete with an error, or not in
   * time, keeps its task for a retry; with `force`, one that does not answer
   * in time is torn down like a dead shim.
   *
   * @param namespace namespace
   * @param id container id
   * @param opts `force` kills every process of the container first, and tears down a shim whose Delete times out
   * @returns how the init process ended
   * @throws NotFoundError when there is no such task; the shim's error (e.g. deleting a running task
   *   without `force`); DeadlineExceededError naming the budget when Delete does not answer in time
   */
  async delete(namespace: string, id: string, opts: { force?: boolean } = {}): Promise<ExitInfo> {
    const ns = validateNamespace(namespace);
    validateId(id);
    const ctx = `delete task ${q(ns + "/" + id)}`;
    return await this.#exclusive(ns, id, async () => {
      for (let attempt = 1;; attempt++) {
        const done = await this.#deleteOnce(ns, id, opts, ctx, attempt === 1);
        if (done !== RECONNECT) return done;
        this.#log.info("shim closed the connection but answers again; deleting through a new one", {
          namespace: ns,
          id,
        });
      }
    });
  }

  /**
   * One try of {@link delete}, under the container's lock. A connection the shim closed while the
   * shim still answers yields {@link RECONNECT} on the first try (the caller loads the task again
   * and retries once), so `run --rm` does not leave a live shim behind after a dropped connection.
   */
  async #deleteOnce(
    ns: string,
    id: string,
    opts: { force?: boolean },
    ctx: string,
    mayReconnect: boolean,
  ): Promise<ExitInfo | typeof RECONNECT> {
    let task: Task;
    try {
      task = await this.get(ns, id);
    } catch (err) {
      return await this.#deleteUnreachable(ns, id, err, ctx);
    }
    if (opts.force) {
      await task.kill(9, { all: true }).catch((err) => {
        if (!isNotFound(err)) this.#log.debug("force delete: kill", { namespace: ns, id, err });
      });
      await task.wait("", { timeoutMs: this.#timeouts.cleanupMs }).catch((err) =>
        this.#log.debug("force delete: wait", { namespace: ns, id, err })
      );
      if (task.shim.connection.closed) {
        // The shim dropped the connection during the kill or the wait: Delete goes through a new one
        // (or, when it cannot be reached any more, the dead-shim cleanup runs).
        try {
          task = await this.get(ns, id);
        } catch (err) {
          return await this.#deleteUnreachable(ns, id, err, ctx);
        }
      }
    }
    const shim = task.shim;
    let exit: ExitInfo;
    const deleteMs = this.#o.timeouts?.deleteMs ?? this.#timeouts.cleanupMs;
    const t0 = performance.now();
    try {
      exit = await shim.task.delete(id, "", { timeoutMs: deleteMs });
    } catch (caught) {
      const err = namingTimeout(caught, deleteMs, t0);
      // Only a lost connection means a dead shim (containerd: ttrpc.ErrClosed); a shim that answers
      // Unavailable itself is alive, and its task stays, as it does after a timeout (retry, or force).
      const lost = isUnavailable(err) && shim.connection.closed;
      // Forced: a shim that does not answer Delete in time (namingTimeout wrapped the error: our own
      // deadline fired) is torn down like a dead one (`shim delete`).
      const stuck = opts.force === true && err !== caught;
      if (lost || stuck) {
        if (stuck) {
          this.#log.warn("shim did not answer delete; tearing it down", { namespace: ns, id, err });
        }
        this.#tasks.delete(key(ns, id));
        const dead = await this.shims.cleanupDeadLocked(shim, { force: stuck });
        // Nothing cleaned while the bundle is still there: the shim answers again. Try once more
        // on a new connection; after that, keep the task.
        if (dead === undefined && await exists(shim.bundle.path)) {
          if (lost && !stuck && mayReconnect) return RECONNECT;
          throw withContext(err, ctx);
        }
        await removeRecord(this.root, ns, id).catch(() => false);
        return dead ?? { exitStatus: DEAD_SHIM_EXIT_STATUS };
      }
      if (!isNotFound(err)) throw withContext(err, ctx);
      exit = { exitStatus: 0 };
    }
    this.phase("delete", t0);
    shim.created = false;
    this.#tasks.delete(key(ns, id));
    const unrecorded = removeRecord(this.root, ns, id).catch((err) =>
      this.#log.warn("remove container record", { namespace: ns, id, err })
    );
    try {
      await this.shims.delete(shim);
    } catch (err) {
      throw withContext(err, ctx);
    } finally {
      await unrecorded;
    }
    return exit;
  }

  /** Delete when the shim could not be loaded: nothing at all → NotFound; a dead shim → its cleanup; a stale record → removed. */
  async #deleteUnreachable(ns: string, id: string, err: unknown, ctx: string): Promise<ExitInfo> {
    const kind = kindOf(err);
    if (err instanceof TaskNotFoundError) {
      if (await removeRecord(this.root, ns, id).catch(() => false)) return { exitStatus: 0 };
      throw err;
    }
    if (kind !== "unavailable" && kind !== "not_found") throw withContext(err, ctx);
    const rec = await readRecord(this.root, ns, id).catch(() => undefined);
    const bundle = await loadBundle({ state: this.state, root: this.root, namespace: ns, id });
    const exit = await this.shims.cleanupDeadLocked(
      await this.shims.describe(ns, id, {
        bundle,
        runtime: rec?.runtime ?? this.config.defaultRuntime,
        runtimePath: rec?.runtimePath,
        created: rec !== undefined,
      }),
    );
    // Nothing cleaned while the bundle is still there: the shim answered after all; it is not dead.
    if (exit === undefined && await exists(bundle.path)) throw withContext(err, ctx);
    await removeRecord(this.root, ns, id).catch(() => false);
    return exit ?? { exitStatus: DEAD_SHIM_EXIT_STATUS };
  }

  async #shimGone(ns: string, id: string, exit: ExitInfo | undefined): Promise<void> {
    this.#tasks.delete(key(ns, id));
    if (!exit) return;
    await removeRecord(this.root, ns, id).catch((err) =>
      this.#log.warn("remove container record", { namespace: ns, id, err })
    );
  }

  /**
   * Subscribes to task events of the state dir, from now on: events shims
   * publish (to whichever process is the listener) and events shimkit
   * synthesizes, delivered in journal order.
   *
   * @param filter namespace and topics (`/tasks/exit`, `/tasks/*`)
   * @returns an async iterable of events with `close()`
   * @example
   * ```ts
   * const sub = tm.subscribe({ topics: ["/tasks/exit"] });
   * for await (const ev of sub) { console.log(ev.containerId, ev.event.exitStatus); break; }
   * ```
   */
  subscribe(filter: EventFilter = {}): EventSubscription {
    const sub = this.#bus.subscribe(filter, { onClose: () => this.#maybeStopTail() });
    this.#startTail();
    return sub;
  }

  #startTail(): void {
    if (this.#tail || this.#closed) return;
    const ac = new AbortController();
    this.#tail = ac;
    let startAt = 0;
    try {
      startAt = statSync(this.#journal).size;
    } catch {
      // No journal yet: everything written to it is new.
    }
    void (async () => {
      try {
        for await (const rec of tailJournal(this.#journal, { signal: ac.signal, startAt })) {
          try {
            this.#bus.publish(journalRecordToEvent(rec));
          } catch (err) {
            this.#log.warn("undecodable event in journal", { topic: rec.topic, err });
          }
        }
      } catch (err) {
        this.#log.warn("events journal tail failed", { err });
      }
    })();
  }

  #maybeStopTail(): void {
    if (this.#bus.size > 0 || !this.#tail) return;
    this.#tail.abort();
    this.#tail = undefined;
  }

  /**
   * Closes every subscription, connection and the events listener; shims
   * and their tasks keep running.
   *
   * @returns when closed
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#bus.closeAll();
    this.#tail?.abort();
    this.#tail = undefined;
    await Promise.allSettled([...this.#queues.values()]);
    this.#tasks.clear();
    const spare = await this.#spareFifo;
    this.#spareFifo = undefined;
    if (spare) await rm(spare, { force: true });
    await this.shims.close();
    await this.#listening;
    await this.#listener?.close();
  }
}
