/**
 * Every on-disk name shimkit uses, in one place (protocol-facts §3). Pure:
 * builds paths, touches nothing. Functions that take a namespace or id
 * validate them first, so a hostile id can never produce a path outside
 * the state or root directory.
 *
 * ```
 * <state>/<ns>/<id>/               bundle (config.json, rootfs/, work → <root>/<ns>/<id>, log, …)
 * <state>/<ns>/.<id>               bundle being deleted (hidden: loaders skip it)
 * <state>/.locks/<ns>/<id>.lock    per-container lock
 * <state>/events.sock              events socket (the shims' TTRPC_ADDRESS and -address)
 * <state>/events.jsonl             events journal every shimkit process reads
 * <root>/<ns>/<id>/                work dir
 * <root>/.records/<ns>/<id>.json   container record
 * ```
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { validateId, validateNamespace } from "../ids.ts";

/** File names inside a bundle directory. */
export const BUNDLE_FILES = {
  /** OCI runtime spec, written by the manager. */
  config: "config.json",
  /** Root filesystem mount point (dir, 0711). */
  rootfs: "rootfs",
  /** Symlink to the work dir. */
  work: "work",
  /** FIFO the shim daemon writes its log to (0700); must exist before `start`. */
  log: "log",
  /** Shim address written by 1.6/1.7 runc shims on `start`. */
  address: "address",
  /** How to reach the shim: `{"version","address","protocol"}` (containerd 2.x). */
  bootstrap: "bootstrap.json",
  /** Absolute path of the shim binary that was started (0600). */
  shimBinaryPath: "shim-binary-path",
  /** Sandbox id for sandboxed tasks (0600). */
  sandbox: "sandbox",
  /** Pid of the container's init process, written by runc. */
  initPid: "init.pid",
  /** Pid of a v1 shim, written by the manager. */
  shimPid: "shim.pid",
  /** Runtime binary name, written by the runc shim on Create. */
  runtime: "runtime",
  /** Runtime options, written by the runc shim on Create. */
  options: "options.json",
} as const;

/** Name of a file inside a bundle. */
export type BundleFile = keyof typeof BUNDLE_FILES;

/** Hidden directory under the root that holds container records. */
export const RECORDS_DIR = ".records";
/** Hidden directory under the state dir that holds lock files. */
export const LOCKS_DIR = ".locks";
/** File name of the events socket in the state dir (the shims' `TTRPC_ADDRESS`). */
export const EVENTS_SOCKET_NAME = "events.sock";
/** File name of the events journal in the state dir. */
export const EVENTS_JOURNAL_NAME = "events.jsonl";

/**
 * True for names loaders must skip: anything starting with a dot (bundles
 * being deleted, `.records`, `.locks`, temp files).
 *
 * @param name a directory entry name
 * @returns boolean
 */
export function isHiddenName(name: string): boolean {
  return name.startsWith(".");
}

/**
 * The hidden sibling a path is renamed to before removal: `/a/b/c1` → `/a/b/.c1`.
 *
 * @param path an absolute path
 * @returns the hidden sibling path
 */
export function hiddenPath(path: string): string {
  return join(dirname(path), "." + basename(path));
}

/**
 * The per-namespace state directory `<state>/<ns>`.
 *
 * @param state state directory
 * @param namespace namespace (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace
 */
export function namespaceStateDir(state: string, namespace: string): string {
  return join(state, validateNamespace(namespace));
}

/**
 * The bundle directory `<state>/<ns>/<id>`.
 *
 * @param state state directory
 * @param namespace namespace (validated)
 * @param id container id (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace or id
 */
export function bundleDir(state: string, namespace: string, id: string): string {
  return join(state, validateNamespace(namespace), validateId(id));
}

/**
 * The name a bundle is renamed to while it is deleted: `<state>/<ns>/.<id>`.
 *
 * @param state state directory
 * @param namespace namespace (validated)
 * @param id container id (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace or id
 */
export function hiddenBundleDir(state: string, namespace: string, id: string): string {
  return hiddenPath(bundleDir(state, namespace, id));
}

/**
 * The per-namespace work root `<root>/<ns>`.
 *
 * @param root root directory
 * @param namespace namespace (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace
 */
export function namespaceRootDir(root: string, namespace: string): string {
  return join(root, validateNamespace(namespace));
}

/**
 * The work directory `<root>/<ns>/<id>` the bundle's `work` symlink points to.
 *
 * @param root root directory
 * @param namespace namespace (validated)
 * @param id container id (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace or id
 */
export function workDir(root: string, namespace: string, id: string): string {
  return join(root, validateNamespace(namespace), validateId(id));
}

/**
 * A file inside a bundle, e.g. `bundleFile(b.path, "bootstrap")`.
 *
 * @param bundlePath bundle directory
 * @param file which file (key of {@link BUNDLE_FILES})
 * @returns path
 */
export function bundleFile(bundlePath: string, file: BundleFile): string {
  return join(bundlePath, BUNDLE_FILES[file]);
}

/**
 * The directory of container records for a namespace: `<root>/.records/<ns>`.
 *
 * @param root root directory
 * @param namespace namespace (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace
 */
export function recordsDir(root: string, namespace: string): string {
  return join(root, RECORDS_DIR, validateNamespace(namespace));
}

/**
 * A container record: `<root>/.records/<ns>/<id>.json`.
 *
 * @param root root directory
 * @param namespace namespace (validated)
 * @param id container id (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace or id
 */
export function recordPath(root: string, namespace: string, id: string): string {
  return join(recordsDir(root, namespace), `${validateId(id)}.json`);
}

/**
 * The lock directory for a namespace: `<state>/.locks/<ns>`.
 *
 * @param state state directory
 * @param namespace namespace (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace
 */
export function locksDir(state: string, namespace: string): string {
  return join(state, LOCKS_DIR, validateNamespace(namespace));
}

/**
 * A container's lock file: `<state>/.locks/<ns>/<id>.lock`.
 *
 * @param state state directory
 * @param namespace namespace (validated)
 * @param id container id (validated)
 * @returns path
 * @throws InvalidArgumentError for a bad namespace or id
 */
export function lockPath(state: string, namespace: string, id: string): string {
  return join(locksDir(state, namespace), `${validateId(id)}.lock`);
}

/**
 * The events socket of a state dir: the shims' `TTRPC_ADDRESS` and `-address`.
 *
 * @param state state directory
 * @returns `<state>/events.sock`
 */
export function eventsSocketPath(state: string): string {
  return join(state, EVENTS_SOCKET_NAME);
}

/**
 * The events journal of a state dir.
 *
 * @param state state directory
 * @returns `<state>/events.jsonl`
 */
export function eventsJournalPath(state: string): string {
  return join(state, EVENTS_JOURNAL_NAME);
}
