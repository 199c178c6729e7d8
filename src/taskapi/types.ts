/**
 * The plain shimkit types of the Task API: what callers see instead of
 * protobuf messages. No logic here.
 *
 * @module
 */

/** A process's lifecycle state, as the shim reports it. */
export type TaskStatus = "created" | "running" | "stopped" | "paused" | "pausing" | "unknown";

/** A mount for the task's root filesystem (`containerd.types.Mount`). */
export interface Mount {
  /** Filesystem type, e.g. `bind` or `overlay`. */
  type: string;
  /** Source path or device. */
  source: string;
  /** Mount point (the 1.6 runc shim ignores it for rootfs mounts). */
  target?: string;
  /** Options, e.g. `["rbind", "ro"]`. */
  options: string[];
}

/** A type URL plus serialized value (`google.protobuf.Any`). */
export interface AnyValue {
  /** Type URL, e.g. `containerd.runc.v1.Options`. */
  typeUrl: string;
  /** The serialized message (or JSON for `types.containerd.io/...` types). */
  value: Uint8Array;
}

/** The state of a task's init process or of one exec. */
export interface TaskState {
  /** Container id. */
  id: string;
  /** Exec id ("" for the init process). */
  execId: string;
  /** Process id (0 before it was created/started). */
  pid: number;
  /** Lifecycle state. */
  status: TaskStatus;
  /** Exit status (meaningful once stopped). */
  exitStatus: number;
  /** When it exited; undefined while it has not. */
  exitedAt?: Date;
  /** stdin URI as given at create/exec. */
  stdin: string;
  /** stdout URI. */
  stdout: string;
  /** stderr URI. */
  stderr: string;
  /** Whether it has a terminal. */
  terminal: boolean;
  /** The bundle path. */
  bundle: string;
}

/** How a process ended. */
export interface ExitInfo {
  /** Its pid, when known. */
  pid?: number;
  /** Exit status: the code, or 128+N when killed by signal N. */
  exitStatus: number;
  /** When it exited, when known. */
  exitedAt?: Date;
}

/** One process of a task (`Pids`). */
export interface ProcessInfo {
  /** Host pid. */
  pid: number;
  /** The exec id, for exec processes (runc reports it; the init process has none). */
  execId?: string;
}

/** What `Connect` reports. */
export interface ConnectInfo {
  /** The shim daemon's pid. */
  shimPid: number;
  /** The task's init pid (0 before Create). */
  taskPid: number;
  /** The shim's version string ("" for 1.6 runc shims). */
  version: string;
}

/** The stdio of a process: URIs as the shim takes them ("" = none, a FIFO path, `file:///abs`, `binary:///path`). */
export interface StdioOptions {
  /** stdin FIFO path, or "". */
  stdin?: string;
  /** stdout URI. */
  stdout?: string;
  /** stderr URI (must be empty with a terminal). */
  stderr?: string;
  /** Allocate a terminal. */
  terminal?: boolean;
}
