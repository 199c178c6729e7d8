/**
 * The typed Task API (task v2 and v3: same methods, same wire) over
 * ttrpc-ts, converting protobuf messages to and from the plain types in
 * `types.ts`. Every failure is a ShimkitError with context, its kind taken
 * from the TTRPC status (`kindFromStatusCode`) or the socket error.
 *
 * @module
 */

import { fromBinary } from "../api/protobuf.ts";
import { type Any } from "@bufbuild/protobuf/wkt";
import {
  type CallOptions,
  type Client,
  createClient,
  type ServiceClient,
} from "../../vendor/ttrpc-ts/mod.ts";
import { InvalidArgumentError, withContext } from "../errors.ts";
import { ProcessDetailsSchema } from "../gen/containerd/runc/v1/runc_pb.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Status } from "../gen/containerd/v1/types/task_pb.ts";
import { timestampToDate } from "./timestamp.ts";
import type {
  AnyValue,
  ConnectInfo,
  ExitInfo,
  Mount,
  ProcessInfo,
  StdioOptions,
  TaskState,
  TaskStatus,
} from "./types.ts";

/** The task API versions: 2 = `containerd.task.v2.Task` (1.6/1.7 shims), 3 = `containerd.task.v3.Task` (2.x). */
export type TaskApiVersion = 2 | 3;

/** Type URL of an exec process spec (JSON value). */
export const PROCESS_SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process";
/** Type URL of Update's resources (JSON value). */
export const LINUX_RESOURCES_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

/** Per-call options. */
export interface TaskCallOptions {
  /** Deadline in ms (sent to the shim and enforced locally). */
  timeoutMs?: number;
  /** Aborts the call (Canceled). */
  signal?: AbortSignal;
}

/** A Create request in plain form. */
export interface CreateRequest extends StdioOptions {
  /** Container id. */
  id: string;
  /** Bundle path. */
  bundle: string;
  /** Root filesystem mounts (empty: the spec's root.path is used as is). */
  rootfs?: Mount[];
  /** Checkpoint to restore from. */
  checkpoint?: string;
  /** Runtime options, e.g. `containerd.runc.v1.Options`. */
  options?: AnyValue;
}

/** An Exec request in plain form. */
export interface ExecRequest extends StdioOptions {
  /** The OCI `process` object for the new process (required: a spec-less Exec crashes 1.6 shims). */
  process: Record<string, unknown>;
}

const STATUS_NAMES: Record<number, TaskStatus> = {
  [Status.UNKNOWN]: "unknown",
  [Status.CREATED]: "created",
  [Status.RUNNING]: "running",
  [Status.STOPPED]: "stopped",
  [Status.PAUSED]: "paused",
  [Status.PAUSING]: "pausing",
};

/**
 * Maps a wire status enum value to its name.
 *
 * @param status the `containerd.v1.types.Status` value
 * @returns the name; `"unknown"` for values outside the enum
 */
export function statusName(status: number): TaskStatus {
  return STATUS_NAMES[status] ?? "unknown";
}

const hasScheme = (uri: string) => uri.startsWith("file://") || uri.startsWith("binary://");

/**
 * Makes stdio safe for 1.6 shims: a `file://` or `binary://` stdout without a
 * stderr (or the reverse) crashes the shim on Start, so the missing stream
 * gets the same URI (1.6 sends both streams to the stdout target anyway).
 * With a terminal, stderr stays empty.
 *
 * @param io the requested stdio
 * @returns stdin, stdout, stderr and terminal with both or neither output set
 * @throws InvalidArgumentError when a terminal is combined with a stderr
 */
export function normalizeStdio(io: StdioOptions): Required<StdioOptions> {
  const terminal = io.terminal ?? false;
  let stdout = io.stdout ?? "";
  let stderr = io.stderr ?? "";
  if (terminal) {
    if (stderr !== "") throw new InvalidArgumentError("stderr must be empty when a terminal is requested");
  } else if (stdout !== "" && stderr === "" && hasScheme(stdout)) {
    stderr = stdout;
  } else if (stderr !== "" && stdout === "" && hasScheme(stderr)) {
    stdout = stderr;
  }
  return { stdin: io.stdin ?? "", stdout, stderr, terminal };
}

const encoder = new TextEncoder();

function jsonAny(typeUrl: string, value: unknown): Any {
  return { $typeName: "google.protobuf.Any", typeUrl, value: encoder.encode(JSON.stringify(value)) };
}

function toAny(v: AnyValue | undefined): Any | undefined {
  return v ? { $typeName: "google.protobuf.Any", typeUrl: v.typeUrl, value: v.value } : undefined;
}

/** Error context of a call: `shim <method> "<id>"`, with the exec id when there is one. */
function what(method: string, id: string, execId?: string): string {
  return execId ? `shim ${method} "${id}" exec "${execId}"` : `shim ${method} "${id}"`;
}

type TaskService = ServiceClient<typeof TaskV2>;

/**
 * `containerd.task.v3.Task` called with v2's message codecs. The two files declare the same
 * messages with the same fields (proto/containerd/task/v3/task.proto), so on the wire only the
 * service name in each request differs; building the v3 file's descriptors would add 1–4 ms to
 * every CLI start (bun-compiled, measured) and buy nothing.
 */
const TASK_V3_ON_V2_MESSAGES: typeof TaskV2 = { ...TaskV2, typeName: "containerd.task.v3.Task" };

/**
 * A typed client of a shim's Task service. It does not own the connection:
 * closing is the caller's business (see `shim/connection.ts`).
 */
export class TaskClient {
  /** The task API version in use. */
  readonly version: TaskApiVersion;
  readonly #svc: TaskService;

  /**
   * @param client the TTRPC client (its default metadata should carry the namespace header)
   * @param version which Task service to call
   */
  constructor(client: Client, version: TaskApiVersion) {
    this.version = version;
    // v2 and v3 have the same methods and wire; only the service and message names differ.
    this.#svc = createClient(version === 3 ? TASK_V3_ON_V2_MESSAGES : TaskV2, client);
  }

  /**
   * Asks the shim for its pid, the task pid and its version.
   *
   * @param id container id
   * @param opts timeout, signal
   * @returns the connect info
   * @throws ShimkitError (NotImplemented when the shim does not serve this task API version)
   */
  async connect(id: string, opts?: TaskCallOptions): Promise<ConnectInfo> {
    try {
      const r = await this.#svc.connect({ id }, opts as CallOptions);
      return { shimPid: r.shimPid, taskPid: r.taskPid, version: r.version };
    } catch (err) {
      throw withContext(err, what("connect", id));
    }
  }

  /**
   * Creates the task (runc create).
   *
   * @param req id, bundle, rootfs, stdio, options
   * @param opts timeout, signal
   * @returns the init pid
   * @throws ShimkitError with the shim's status
   */
  async create(req: CreateRequest, opts?: TaskCallOptions): Promise<number> {
    try {
      const io = normalizeStdio(req);
      const r = await this.#svc.create({
        id: req.id,
        bundle: req.bundle,
        rootfs: (req.rootfs ?? []).map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target ?? "",
          options: m.options,
        })),
        terminal: io.terminal,
        stdin: io.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        checkpoint: req.checkpoint ?? "",
        options: toAny(req.options),
      }, opts as CallOptions);
      return r.pid;
    } catch (err) {
      throw withContext(err, what("create", req.id));
    }
  }

  /**
   * Starts the init process or an exec.
   *
   * @param id container id
   * @param execId exec id ("" or absent for init)
   * @param opts timeout, signal
   * @returns the started process's pid
   * @throws ShimkitError with the shim's status
   */
  async start(id: string, execId = "", opts?: TaskCallOptions): Promise<number> {
    try {
      return (await this.#svc.start({ id, execId }, opts as CallOptions)).pid;
    } catch (err) {
      throw withContext(err, what("start", id, execId));
    }
  }

  /**
   * Reads the state of the init process or an exec.
   *
   * @param id container id
   * @param execId exec id ("" for init)
   * @param opts timeout, signal
   * @returns the state
   * @throws NotFoundError when there is no such process
   */
  async state(id: string, execId = "", opts?: TaskCallOptions): Promise<TaskState> {
    try {
      const r = await this.#svc.state({ id, execId }, opts as CallOptions);
      const s: TaskState = {
        id: r.id,
        execId: r.execId || execId,
        pid: r.pid,
        status: statusName(r.status),
        exitStatus: r.exitStatus,
        stdin: r.stdin,
        stdout: r.stdout,
        stderr: r.stderr,
        terminal: r.terminal,
        bundle: r.bundle,
      };
      const exitedAt = timestampToDate(r.exitedAt);
      if (exitedAt) s.exitedAt = exitedAt;
      return s;
    } catch (err) {
      throw withContext(err, what("state", id, execId));
    }
  }

  /**
   * Waits for the init process or an exec to exit.
   *
   * @param id container id
   * @param execId exec id ("" for init)
   * @param opts timeout, signal (none by default: waits as long as it takes)
   * @returns exit status and time
   * @throws ShimkitError (Unavailable when the shim went away)
   */
  async wait(id: string, execId = "", opts?: TaskCallOptions): Promise<ExitInfo> {
    try {
      const r = await this.#svc.wait({ id, execId }, opts as CallOptions);
      const info: ExitInfo = { exitStatus: r.exitStatus };
      const exitedAt = timestampToDate(r.exitedAt);
      if (exitedAt) info.exitedAt = exitedAt;
      return info;
    } catch (err) {
      throw withContext(err, what("wait", id, execId));
    }
  }

  /**
   * Sends a signal.
   *
   * @param id container id
   * @param signal signal number
   * @param o `all` signals every process of the container; `execId` targets one exec
   * @param opts timeout, signal
   * @returns when delivered
   * @throws NotFoundError when the process already finished
   */
  async kill(
    id: string,
    signal: number,
    o: { all?: boolean; execId?: string } = {},
    opts?: TaskCallOptions,
  ): Promise<void> {
    try {
      await this.#svc.kill({ id, execId: o.execId ?? "", signal, all: o.all ?? false }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("kill", id, o.execId));
    }
  }

  /**
   * Deletes the init process (the task) or an exec.
   *
   * @param id container id
   * @param execId exec id ("" for the task)
   * @param opts timeout, signal
   * @returns pid, exit status and time
   * @throws ShimkitError (code 2 "cannot delete a running process" while it runs)
   */
  async delete(id: string, execId = "", opts?: TaskCallOptions): Promise<ExitInfo> {
    try {
      const r = await this.#svc.delete({ id, execId }, opts as CallOptions);
      const info: ExitInfo = { pid: r.pid, exitStatus: r.exitStatus };
      const exitedAt = timestampToDate(r.exitedAt);
      if (exitedAt) info.exitedAt = exitedAt;
      return info;
    } catch (err) {
      throw withContext(err, what("delete", id, execId));
    }
  }

  /**
   * Lists the task's processes.
   *
   * @param id container id
   * @param opts timeout, signal
   * @returns pids, with exec ids where the shim reports them
   * @throws ShimkitError with the shim's status
   */
  async pids(id: string, opts?: TaskCallOptions): Promise<ProcessInfo[]> {
    try {
      const r = await this.#svc.pids({ id }, opts as CallOptions);
      return r.processes.map((p) => {
        const out: ProcessInfo = { pid: p.pid };
        if (p.info && p.info.typeUrl.endsWith(ProcessDetailsSchema.typeName)) {
          const execId = fromBinary(ProcessDetailsSchema, p.info.value).execId;
          if (execId) out.execId = execId;
        }
        return out;
      });
    } catch (err) {
      throw withContext(err, what("pids", id));
    }
  }

  /**
   * Adds an exec process (start it with {@link TaskClient.start}).
   *
   * @param id container id
   * @param execId the new exec's id
   * @param req the OCI process object and stdio
   * @param opts timeout, signal
   * @returns when added
   * @throws InvalidArgumentError without a process spec; AlreadyExistsError for a used exec id
   */
  async exec(id: string, execId: string, req: ExecRequest, opts?: TaskCallOptions): Promise<void> {
    try {
      if (!req.process || typeof req.process !== "object") {
        throw new InvalidArgumentError("a process spec is required");
      }
      const io = normalizeStdio(req);
      await this.#svc.exec({
        id,
        execId,
        terminal: io.terminal,
        stdin: io.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        spec: jsonAny(PROCESS_SPEC_TYPE_URL, req.process),
      }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("exec", id, execId));
    }
  }

  /**
   * Resizes a process's terminal.
   *
   * @param id container id
   * @param execId exec id ("" for init)
   * @param width columns
   * @param height rows
   * @param opts timeout, signal
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  async resizePty(
    id: string,
    execId: string,
    width: number,
    height: number,
    opts?: TaskCallOptions,
  ): Promise<void> {
    try {
      await this.#svc.resizePty({ id, execId, width, height }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("resize pty", id, execId));
    }
  }

  /**
   * Closes a process's stdin.
   *
   * @param id container id
   * @param execId exec id ("" for init)
   * @param stdin close stdin (default true)
   * @param opts timeout, signal
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  async closeIO(id: string, execId = "", stdin = true, opts?: TaskCallOptions): Promise<void> {
    try {
      await this.#svc.closeIO({ id, execId, stdin }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("close io", id, execId));
    }
  }

  /**
   * Updates the task's resources.
   *
   * @param id container id
   * @param resources an OCI `LinuxResources` object
   * @param annotations annotations to pass along
   * @param opts timeout, signal
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  async update(
    id: string,
    resources: Record<string, unknown>,
    annotations: Record<string, string> = {},
    opts?: TaskCallOptions,
  ): Promise<void> {
    try {
      await this.#svc.update(
        { id, resources: jsonAny(LINUX_RESOURCES_TYPE_URL, resources), annotations },
        opts as CallOptions,
      );
    } catch (err) {
      throw withContext(err, what("update", id));
    }
  }

  /**
   * Freezes the task.
   *
   * @param id container id
   * @param opts timeout, signal
   * @returns when paused
   * @throws ShimkitError with the shim's status
   */
  async pause(id: string, opts?: TaskCallOptions): Promise<void> {
    try {
      await this.#svc.pause({ id }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("pause", id));
    }
  }

  /**
   * Thaws the task.
   *
   * @param id container id
   * @param opts timeout, signal
   * @returns when resumed
   * @throws ShimkitError with the shim's status
   */
  async resume(id: string, opts?: TaskCallOptions): Promise<void> {
    try {
      await this.#svc.resume({ id }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("resume", id));
    }
  }

  /**
   * Reads the task's cgroup metrics.
   *
   * @param id container id
   * @param opts timeout, signal
   * @returns the metrics `Any` (e.g. `io.containerd.cgroups.v1.Metrics`), or undefined when the shim sent none
   * @throws ShimkitError with the shim's status
   */
  async stats(id: string, opts?: TaskCallOptions): Promise<AnyValue | undefined> {
    try {
      const r = await this.#svc.stats({ id }, opts as CallOptions);
      return r.stats ? { typeUrl: r.stats.typeUrl, value: r.stats.value } : undefined;
    } catch (err) {
      throw withContext(err, what("stats", id));
    }
  }

  /**
   * Checkpoints the task.
   *
   * @param id container id
   * @param path image path
   * @param options e.g. `containerd.runc.v1.CheckpointOptions`
   * @param opts timeout, signal
   * @returns when done
   * @throws ShimkitError with the shim's status
   */
  async checkpoint(id: string, path: string, options?: AnyValue, opts?: TaskCallOptions): Promise<void> {
    try {
      await this.#svc.checkpoint({ id, path, options: toAny(options) }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("checkpoint", id));
    }
  }

  /**
   * Asks the shim to exit (a no-op while it still has tasks). The shim may
   * close the connection before it answers: callers treat Unavailable as success.
   *
   * @param id container id
   * @param now exit at once
   * @param opts timeout, signal
   * @returns when answered
   * @throws ShimkitError with the shim's status
   */
  async shutdown(id: string, now = false, opts?: TaskCallOptions): Promise<void> {
    try {
      await this.#svc.shutdown({ id, now }, opts as CallOptions);
    } catch (err) {
      throw withContext(err, what("shutdown", id));
    }
  }
}
