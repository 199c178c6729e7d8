/**
 * The fake shim's simulated tasks: a state machine per process (created →
 * running ⇄ paused → stopped) driven by scripted programs, and the task API
 * handlers (v2 and v3 share them) on top. No sockets here: events go to an
 * injected sink, stdio to injected writers, so tests call handlers directly.
 *
 * Errors are shimkit errors whose kinds and messages follow the runc shim
 * (`container not created: not found`); the daemon turns them into TTRPC
 * statuses.
 *
 * @module
 */

import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { create } from "../api/protobuf.ts";
import type { Any, Timestamp } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "../gen/google/protobuf/any_pb.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  ShimkitError,
} from "../errors.ts";
import { packAny } from "../api/registry.ts";
import {
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "../gen/containerd/events/task_pb.ts";
import { ProcessDetailsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import type * as v2 from "../gen/containerd/task/v2/task_pb.ts";
import { type ProcessInfoSchema, Status } from "../gen/containerd/v1/types/task_pb.ts";
import { dateToTimestamp, GO_ZERO_TIME_SECONDS } from "../taskapi/timestamp.ts";
import { PID_MAX_LIMIT } from "../platform/process.ts";
import { phaseFault, type Scenario } from "./faults.ts";
import { type Program, programFor, signalOutcome, specFor } from "./script.ts";

/** The metadata key carrying the containerd namespace on TTRPC requests. */
export const NAMESPACE_HEADER = "containerd-namespace-ttrpc";

/**
 * First synthetic pid. Linux never hands out pids at or above PID_MAX_LIMIT
 * (2^22), so a simulated pid can never name a real process, and a manager that
 * signals one by mistake gets ESRCH instead of killing something.
 */
export const FAKE_PID_BASE = PID_MAX_LIMIT;

/** ^D: on a terminal, the end of input for `cat`. */
const EOT = 0x04;

/** Where a process's output goes. */
export interface StdioSink {
  /** Writes text or bytes; resolves once it is handed to the OS. @param data the text or bytes */
  write(data: string | Uint8Array): Promise<void>;
  /** Closes the sink after pending writes. */
  close(): Promise<void>;
}

/** Opens a stdio URI (fifo path, `fifo://`, `file:///`); undefined for "" (none). */
export type OpenStdio = (uri: string) => Promise<StdioSink | undefined>;

/** A process's stdin being read. */
export interface StdinReader {
  /** Stops reading; what is still in the pipe is delivered first. */
  close(): Promise<void>;
}

/**
 * A process's stdin, held open from Create (so what a writer sends before the process reads
 * stays in the pipe, as with a real process) and read only by a `cat` step.
 */
export interface StdinSource {
  /** Starts delivering chunks to `onData`. @param onData receives each chunk @returns the reader */
  start(onData: (chunk: Uint8Array) => void): Promise<StdinReader>;
  /** Releases the FIFO (after any reader was closed). */
  close(): Promise<void>;
}

/** Opens a stdin URI (a FIFO path or `fifo://`); undefined when there is nothing to read. */
export type OpenStdin = (uri: string) => Promise<StdinSource | undefined>;

/** What the service learns from a bundle at Create. */
export interface BundleInfo {
  /** `process.args` from config.json. */
  args: string[];
  /** The scenario for this task (daemon scenario layered with the bundle's annotations). */
  scenario: Scenario;
}

/** Receives task events in the order the service emits them. */
export type EventSink = (topic: string, event: Any) => void;

/** The minimal request context the handlers need (a subset of ttrpc-ts's). */
export interface CallContext {
  /** Request metadata, keys lowercased. */
  metadata?: Readonly<Record<string, readonly string[]>>;
}

/** Dependencies of {@link TaskService}, all injectable. */
export interface TaskServiceOptions {
  /** The daemon's scenario (faults for events, default process behaviour). */
  scenario: Scenario;
  /** Reads a bundle at Create. */
  loadBundle: (bundle: string) => Promise<BundleInfo>;
  /** Opens stdio; default: no output anywhere. */
  openStdio?: OpenStdio;
  /** Reads stdin for `cat`; default: stdin is empty. */
  openStdin?: OpenStdin;
  /** Where events go. */
  emit: EventSink;
  /** Called after Shutdown decided to exit (after the reply is sent). */
  onShutdown?: () => void;
  /** The shim's own pid, for Connect and ShimInfo. */
  shimPid: number;
  /** Version string returned by Connect. */
  version: string;
  /** Extra pids listed by Pids for every container (a leaked process). */
  extraPids?: () => number[];
  /** Clock (injectable for tests). */
  now?: () => Date;
  /** Topics to publish (v1 shims publish only exit and oom); default all. */
  topics?: ReadonlySet<string>;
}

type ProcState = "created" | "running" | "paused" | "stopped";

/** One simulated process (init or exec). */
export class SimProcess {
  /** Container id. */
  readonly containerId: string;
  /** Exec id, "" for init. */
  readonly execId: string;
  /** Synthetic pid; 0 until an exec is started. */
  pid = 0;
  /** Lifecycle state. */
  state: ProcState = "created";
  /** Exit status once stopped. */
  exitStatus = 0;
  /** Exit time once stopped. */
  exitedAt: Date | undefined;
  /** What it does. */
  readonly program: Program;
  /** Stdio as given at Create/Exec. */
  readonly io: { stdin: string; stdout: string; stderr: string; terminal: boolean };
  /** Resolves when the process stops. */
  readonly exited: Promise<void>;
  #resolveExited!: () => void;
  #wake: (() => void) | undefined;
  #stopRequested: number | null = null;
  #sinks: { stdout?: StdioSink; stderr?: StdioSink } = {};
  #stdin: StdinSource | undefined;
  #stdinClosed = false;
  #exiting = false;

  /**
   * @param containerId container id
   * @param execId exec id or ""
   * @param program what it does
   * @param io stdio URIs
   */
  constructor(
    containerId: string,
    execId: string,
    program: Program,
    io: { stdin: string; stdout: string; stderr: string; terminal: boolean },
  ) {
    this.containerId = containerId;
    this.execId = execId;
    this.program = program;
    this.io = io;
    this.exited = new Promise((r) => (this.#resolveExited = r));
  }

  /** The id this process is known by in State replies and exit events. */
  get displayId(): string {
    return this.execId || this.containerId;
  }

  /**
   * Opens the stdio sinks and holds stdin open for a `cat` step; on failure, closes what it opened.
   *
   * @param open the output opener
   * @param openStdin the stdin opener
   * @throws the opener's error (Create or Exec then fails, as when the runc shim cannot open a FIFO)
   */
  async openIo(open: OpenStdio | undefined, openStdin?: OpenStdin): Promise<void> {
    try {
      if (open) {
        this.#sinks.stdout = await open(this.io.stdout);
        this.#sinks.stderr = await open(this.io.stderr);
      }
      this.#stdin = await openStdin?.(this.io.stdin);
    } catch (err) {
      await this.closeIo();
      throw err;
    }
  }

  /** CloseIO: stdin ends; a `cat` step delivers what is left and finishes (a later one reads only that). */
  closeStdin(): void {
    this.#stdinClosed = true;
    this.wake();
  }

  /**
   * Runs the program until it exits or is stopped; resolves with the exit status.
   *
   * @param hooks called for OOM before exit
   * @returns the exit status
   */
  async run(hooks: { oom: () => void }): Promise<number> {
    for (const step of this.program.steps) {
      await this.#gate();
      if (this.#stopRequested !== null) break;
      if (step.kind === "write") {
        await this.#sinks[step.stream]?.write(step.text).catch(() => undefined);
      } else if (step.kind === "sleep") {
        await this.#sleep(step.ms);
      } else if (step.kind === "copyStdin") {
        await this.#copyStdin(step.stream);
      } else {
        if (this.program.oom) hooks.oom();
        return step.code;
      }
    }
    return this.#stopRequested ?? 0;
  }

  /**
   * Copies stdin to a sink until CloseIO, ^D on a terminal, or a fatal signal. The FIFO is read only now: until a
   * step reads it, a writer fills the pipe and then waits, as with a real process that does not read.
   */
  async #copyStdin(stream: "stdout" | "stderr"): Promise<void> {
    const queue: Uint8Array[] = [];
    // On a terminal, ^D (the line discipline's EOF character) ends the input like CloseIO.
    let eof = false;
    const reader = await this.#stdin?.start((chunk) => {
      if (eof) return;
      const at = this.io.terminal ? chunk.indexOf(EOT) : -1;
      if (at >= 0) {
        eof = true;
        chunk = chunk.subarray(0, at);
      }
      if (chunk.length > 0) queue.push(chunk);
      this.wake();
    }).catch(() => undefined);
    if (!reader) return;
    const flush = async () => {
      while (queue.length > 0 && this.#stopRequested === null) {
        await this.#sinks[stream]?.write(queue.shift()!).catch(() => undefined);
      }
    };
    try {
      for (;;) {
        await flush();
        if (this.#stdinClosed || eof || this.#stopRequested !== null) break;
        // A chunk may have come while the last write was pending; only an empty queue waits.
        if (queue.length === 0) await new Promise<void>((r) => (this.#wake = r));
        await this.#gate();
      }
    } finally {
      await reader.close();
    }
    await flush();
  }

  /** Blocks while paused. */
  async #gate(): Promise<void> {
    // A frozen process only leaves the freezer for SIGKILL; other signals wait for Resume.
    while (this.state === "paused" && this.#stopRequested !== 137) {
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => done(), ms) : undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
    });
  }

  /** Wakes the runner (after resume, or to stop it). */
  wake(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /**
   * Asks the runner to stop with this status (a fatal signal).
   *
   * @param status the exit status to report
   */
  requestStop(status: number): void {
    if (this.#stopRequested === null) this.#stopRequested = status;
    this.wake();
  }

  /** True once the process is on its way out (stdio closing); it ignores further signals. */
  get exiting(): boolean {
    return this.#exiting;
  }

  /** Closes stdio after pending writes; from then on the process counts as exiting. */
  async closeIo(): Promise<void> {
    this.#exiting = true;
    const stdin = this.#stdin;
    this.#stdin = undefined;
    await Promise.all([this.#sinks.stdout?.close(), this.#sinks.stderr?.close(), stdin?.close()]).catch(() =>
      undefined
    );
    this.#sinks = {};
  }

  /** Marks the process stopped and wakes its waiters (synchronously). @param status exit status @param at exit time */
  markExited(status: number, at: Date): void {
    this.#exiting = true;
    this.state = "stopped";
    this.exitStatus = status;
    this.exitedAt = at;
    this.#resolveExited();
  }
}

/** One simulated container: its init process and execs. */
interface SimContainer {
  id: string;
  bundle: string;
  init: SimProcess;
  execs: Map<string, SimProcess>;
  scenario: Scenario;
  args: string[];
}

function execArgs(spec: Any | undefined): string[] {
  if (!spec || spec.value.length === 0) return [];
  try {
    const parsed = JSON.parse(new TextDecoder().decode(spec.value)) as { args?: unknown };
    return Array.isArray(parsed.args) ? parsed.args.map(String) : [];
  } catch {
    throw new InvalidArgumentError(`exec spec "${spec.typeUrl}": value is not a JSON process`);
  }
}

function ts(d: Date | undefined): Timestamp {
  // Processes that have not exited report Go's zero time, as the real shims do.
  return d
    ? dateToTimestamp(d)
    : { $typeName: "google.protobuf.Timestamp", seconds: GO_ZERO_TIME_SECONDS, nanos: 0 };
}

type Init<D extends DescMessage> = MessageInitShape<D>;

/**
 * The simulated task service. Handler names are the protobuf-es method
 * local names, so one instance registers under both
 * `containerd.task.v2.Task` and `containerd.task.v3.Task`.
 */
export class TaskService {
  readonly #opts: TaskServiceOptions;
  readonly #containers = new Map<string, SimContainer>();
  #nextPid = FAKE_PID_BASE;
  #closed = false;

  /** @param opts dependencies */
  constructor(opts: TaskServiceOptions) {
    this.#opts = opts;
  }

  /** Number of containers that have not been deleted. */
  get size(): number {
    return this.#containers.size;
  }

  #now(): Date {
    return this.#opts.now?.() ?? new Date();
  }

  #emit<D extends DescMessage>(schema: D, topic: string, init: Init<D>): void {
    if (this.#opts.topics && !this.#opts.topics.has(topic)) return;
    const faults = this.#opts.scenario.faults;
    if (phaseFault(faults, "events", "drop-all")) return;
    const isExit = topic === "/tasks/exit";
    if (isExit && phaseFault(faults, "events", "drop-exit")) return;
    const any = packAny(schema, create(schema, init));
    this.#opts.emit(topic, any);
    if (isExit && phaseFault(faults, "events", "dup-exit")) this.#opts.emit(topic, any);
  }

  #container(id: string): SimContainer {
    const c = this.#containers.get(id);
    if (!c) throw new NotFoundError("container not created: not found");
    return c;
  }

  #process(id: string, execId: string): SimProcess {
    const c = this.#container(id);
    if (!execId) return c.init;
    const p = c.execs.get(execId);
    if (!p) throw new NotFoundError(`process does not exist ${execId}: not found`);
    return p;
  }

  /** Starts a process's program and handles its exit. */
  #launch(c: SimContainer, p: SimProcess): void {
    p.state = "running";
    void p.run({ oom: () => this.#emit(TaskOOMSchema, "/tasks/oom", { containerId: c.id }) }).then((status) =>
      this.#exit(c, p, status)
    );
  }

  async #exit(c: SimContainer, p: SimProcess, status: number): Promise<void> {
    if (p.exiting) return;
    // Output is flushed before the process counts as stopped, and the exit
    // event is queued in the same step, so no /tasks/delete can precede it.
    await p.closeIo();
    const at = this.#now();
    p.markExited(status, at);
    this.#emit(TaskExitSchema, "/tasks/exit", {
      containerId: c.id,
      id: p.displayId,
      pid: p.pid,
      exitStatus: status,
      exitedAt: dateToTimestamp(at),
    });
    // Like runc-v2, the init's exit takes every exec down with it.
    if (p.execId === "") {
      for (const e of c.execs.values()) if (e.state === "running" || e.state === "paused") e.requestStop(137);
    }
  }

  /** Applies a signal to one process. */
  #signal(c: SimContainer, p: SimProcess, signal: number): void {
    const status = signalOutcome(signal, p.program.traps);
    if (status === null) return;
    if (p.state === "created") {
      // The init of a created container is runc's init, waiting: any fatal signal ends it.
      void this.#exit(c, p, status);
      return;
    }
    p.requestStop(status);
  }

  #requireNamespace(ctx: CallContext | undefined): void {
    const ns = ctx?.metadata?.[NAMESPACE_HEADER]?.[0];
    if (!ns) {
      throw new FailedPreconditionError("create namespace: namespace is required: failed precondition");
    }
  }

  /** Task API State. @param req request @returns state */
  state(req: { id: string; execId: string }): Init<typeof v2.StateResponseSchema> {
    const c = this.#container(req.id);
    const p = this.#process(req.id, req.execId);
    const status = p.state === "created"
      ? Status.CREATED
      : p.state === "running"
      ? Status.RUNNING
      : p.state === "paused"
      ? Status.PAUSED
      : Status.STOPPED;
    return {
      id: p.displayId,
      bundle: c.bundle,
      pid: p.pid,
      status,
      stdin: p.io.stdin,
      stdout: p.io.stdout,
      stderr: p.io.stderr,
      terminal: p.io.terminal,
      exitStatus: p.exitStatus,
      exitedAt: ts(p.exitedAt),
    };
  }

  /**
   * Task API Create: reads the bundle, opens stdio, allocates the init pid and publishes /tasks/create.
   *
   * @param req request
   * @param ctx call context (the namespace header is required)
   * @returns the init pid
   * @throws FailedPreconditionError without a namespace; AlreadyExistsError for a known id
   */
  async create(
    req: Pick<
      v2.CreateTaskRequest,
      "id" | "bundle" | "rootfs" | "terminal" | "stdin" | "stdout" | "stderr" | "checkpoint"
    >,
    ctx?: CallContext,
  ): Promise<Init<typeof v2.CreateTaskResponseSchema>> {
    this.#requireNamespace(ctx);
    if (this.#closed) throw new FailedPreconditionError("shim is shutting down");
    if (this.#containers.has(req.id)) throw new AlreadyExistsError(`container "${req.id}": already exists`);
    if (req.terminal && req.stderr) {
      throw new InvalidArgumentError("tty and stderr cannot both be set: invalid argument");
    }
    const info = await this.#opts.loadBundle(req.bundle);
    const program = programFor(info.args, specFor(info.scenario, ""));
    const io = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    const init = new SimProcess(req.id, "", program, io);
    await init.openIo(this.#opts.openStdio, this.#opts.openStdin);
    init.pid = this.#nextPid++;
    const c: SimContainer = {
      id: req.id,
      bundle: req.bundle,
      init,
      execs: new Map(),
      scenario: info.scenario,
      args: info.args,
    };
    this.#containers.set(req.id, c);
    this.#emit(TaskCreateSchema, "/tasks/create", {
      containerId: req.id,
      bundle: req.bundle,
      rootfs: req.rootfs,
      io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal },
      checkpoint: req.checkpoint,
      pid: init.pid,
    });
    return { pid: init.pid };
  }

  /** Task API Start. @param req request @returns the pid @throws when the process is not created */
  async start(req: { id: string; execId: string }): Promise<Init<typeof v2.StartResponseSchema>> {
    const c = this.#container(req.id);
    const p = this.#process(req.id, req.execId);
    if (p.state !== "created") {
      throw new ShimkitError(
        `cannot start a ${p.state === "stopped" ? "stopped" : "running"} process`,
        "unknown",
      );
    }
    if (p.execId !== "") {
      if (c.init.state !== "running") {
        throw new FailedPreconditionError("container is not running: failed precondition");
      }
      await p.openIo(this.#opts.openStdio, this.#opts.openStdin);
      p.pid = this.#nextPid++;
    }
    this.#launch(c, p);
    if (p.execId === "") this.#emit(TaskStartSchema, "/tasks/start", { containerId: c.id, pid: p.pid });
    else {this.#emit(TaskExecStartedSchema, "/tasks/exec-started", {
        containerId: c.id,
        execId: p.execId,
        pid: p.pid,
      });}
    return { pid: p.pid };
  }

  /** Task API Delete. @param req request @returns pid, status, time @throws for running processes */
  async delete(req: { id: string; execId: string }): Promise<Init<typeof v2.DeleteResponseSchema>> {
    const c = this.#container(req.id);
    const p = this.#process(req.id, req.execId);
    if (p.state === "running" || p.state === "paused") {
      throw new ShimkitError("cannot delete a running process", "unknown");
    }
    if (p.state === "created") {
      if (p.execId === "") await this.#exit(c, p, 137);
      else p.markExited(0, this.#now());
    }
    const reply = { pid: p.pid, exitStatus: p.exitStatus, exitedAt: ts(p.exitedAt) };
    if (p.execId !== "") {
      c.execs.delete(p.execId);
      return reply;
    }
    this.#containers.delete(c.id);
    this.#emit(TaskDeleteSchema, "/tasks/delete", {
      containerId: c.id,
      pid: p.pid,
      exitStatus: p.exitStatus,
      exitedAt: ts(p.exitedAt),
    });
    return reply;
  }

  /** Task API Pids. @param req request @returns the processes */
  pids(req: { id: string }): Init<typeof v2.PidsResponseSchema> {
    const c = this.#container(req.id);
    const processes: Init<typeof ProcessInfoSchema>[] = [];
    if (c.init.state !== "stopped") processes.push({ pid: c.init.pid });
    for (const e of c.execs.values()) {
      if (e.state === "running" || e.state === "paused") {
        processes.push({
          pid: e.pid,
          info: packAny(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId: e.execId })),
        });
      }
    }
    for (const pid of this.#opts.extraPids?.() ?? []) processes.push({ pid });
    return { processes };
  }

  /** Task API Pause. @param req request @returns empty @throws FailedPrecondition unless running */
  pause(req: { id: string }): Record<string, never> {
    const c = this.#container(req.id);
    if (c.init.state !== "running") {
      throw new FailedPreconditionError(`container "${c.id}" is not running: failed precondition`);
    }
    c.init.state = "paused";
    for (const e of c.execs.values()) if (e.state === "running") e.state = "paused";
    this.#emit(TaskPausedSchema, "/tasks/paused", { containerId: c.id });
    return {};
  }

  /** Task API Resume. @param req request @returns empty @throws FailedPrecondition unless paused */
  resume(req: { id: string }): Record<string, never> {
    const c = this.#container(req.id);
    if (c.init.state !== "paused") {
      throw new FailedPreconditionError(`container "${c.id}" is not paused: failed precondition`);
    }
    for (const p of [c.init, ...c.execs.values()]) {
      if (p.state === "paused") {
        p.state = "running";
        p.wake();
      }
    }
    this.#emit(TaskResumedSchema, "/tasks/resumed", { containerId: c.id });
    return {};
  }

  /** Task API Checkpoint: not supported by the fake. @returns never @throws NotImplementedError */
  checkpoint(req: { id: string }): Record<string, never> {
    this.#container(req.id);
    throw new NotImplementedError("checkpoint: not implemented");
  }

  /**
   * Task API Kill: signals one process, or with `all` every process of the container.
   *
   * @param req request
   * @returns empty
   * @throws NotFoundError for finished processes, FailedPrecondition for unstarted execs
   */
  kill(req: { id: string; execId: string; signal: number; all: boolean }): Record<string, never> {
    const c = this.#container(req.id);
    const p = this.#process(req.id, req.execId);
    if (p.state === "stopped") throw new NotFoundError("process already finished: not found");
    if (req.all && p.execId === "") {
      for (const e of c.execs.values()) {
        if (e.state === "running" || e.state === "paused") this.#signal(c, e, req.signal);
      }
      this.#signal(c, p, req.signal);
      return {};
    }
    if (p.execId !== "" && p.state === "created") {
      throw new FailedPreconditionError("process not created: failed precondition");
    }
    this.#signal(c, p, req.signal);
    return {};
  }

  /** Task API Exec: adds a created exec process and publishes /tasks/exec-added. @param req request @returns empty */
  exec(
    req: {
      id: string;
      execId: string;
      terminal: boolean;
      stdin: string;
      stdout: string;
      stderr: string;
      spec?: Any;
    },
  ): Record<string, never> {
    const c = this.#container(req.id);
    if (c.execs.has(req.execId)) throw new AlreadyExistsError(`id ${req.execId}: already exists`);
    if (!req.execId) throw new InvalidArgumentError("exec id must not be empty: invalid argument");
    if (c.init.state === "stopped") {
      throw new FailedPreconditionError("container is stopped: failed precondition");
    }
    const program = programFor(execArgs(req.spec), specFor(c.scenario, req.execId));
    const io = { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal };
    c.execs.set(req.execId, new SimProcess(c.id, req.execId, program, io));
    this.#emit(TaskExecAddedSchema, "/tasks/exec-added", { containerId: c.id, execId: req.execId });
    return {};
  }

  /** Task API ResizePty (accepted, nothing to resize). @param req request @returns empty */
  resizePty(req: { id: string; execId: string }): Record<string, never> {
    this.#process(req.id, req.execId);
    return {};
  }

  /**
   * Task API CloseIO: the process's stdin ends (a `cat` finishes), whatever `stdin` says, as in the runc shim.
   *
   * @param req request
   * @returns empty
   */
  closeIO(req: { id: string; execId: string }): Record<string, never> {
    this.#process(req.id, req.execId).closeStdin();
    return {};
  }

  /** Task API Update (accepted and ignored). @param req request @returns empty */
  update(req: { id: string }): Record<string, never> {
    this.#container(req.id);
    return {};
  }

  /** Task API Wait: resolves when the process stops. @param req request @returns status and time */
  async wait(req: { id: string; execId: string }): Promise<Init<typeof v2.WaitResponseSchema>> {
    const p = this.#process(req.id, req.execId);
    await p.exited;
    return { exitStatus: p.exitStatus, exitedAt: ts(p.exitedAt) };
  }

  /** Task API Stats: an empty cgroups v2 Metrics. @param req request @returns stats */
  stats(req: { id: string }): Init<typeof v2.StatsResponseSchema> {
    this.#container(req.id);
    return { stats: create(AnySchema, { typeUrl: "io.containerd.cgroups.v2.Metrics" }) };
  }

  /** Task API Connect: never fails, even for unknown ids. @param req request @returns pids and version */
  connect(req: { id: string }): Init<typeof v2.ConnectResponseSchema> {
    const c = this.#containers.get(req.id);
    return { shimPid: this.#opts.shimPid, taskPid: c?.init.pid ?? 0, version: this.#opts.version };
  }

  /**
   * Task API Shutdown: a no-op while containers exist (like runc-v2); otherwise
   * the reply is sent and then `onShutdown` runs.
   *
   * @returns empty
   */
  shutdown(): Record<string, never> {
    if (this.#containers.size > 0) return {};
    this.#closed = true;
    if (this.#opts.onShutdown) setTimeout(this.#opts.onShutdown, 0);
    return {};
  }

  /** Stops every process at once (daemon exit or test teardown); publishes nothing. */
  async close(): Promise<void> {
    this.#closed = true;
    const all: Promise<void>[] = [];
    for (const c of this.#containers.values()) {
      for (const p of [c.init, ...c.execs.values()]) {
        if (p.state === "stopped") continue;
        all.push(p.closeIo());
        p.markExited(137, this.#now());
        p.requestStop(137);
      }
    }
    await Promise.all(all);
  }
}
