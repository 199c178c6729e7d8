/**
 * Runs the shim binary's one-shot subcommands (containerd
 * `core/runtime/v2/binary.go`): `start` (prints how to reach the daemon it
 * spawned), `delete` (cleans up after a dead shim), `-info` and `-v`.
 *
 * Errors carry what the shim printed on stderr (its error text first, its
 * informational log lines dropped; see `failure_text.ts`), because that is
 * the only place a shim says what went wrong: `start shim "c1": containerd-shim-runc-v2
 * exited with status 1: io.containerd.runc.v2: open config.json: no such file or directory`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { DeadlineExceededError, fromErrno, newError, NotImplementedError, withContext } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { replaceFileSync } from "../bundle/atomic.ts";
import { type BootstrapInfo, parseStartResponse } from "../bundle/bootstrap.ts";
import type { Bundle } from "../bundle/bundle.ts";
import { bundleFile } from "../bundle/layout.ts";
import { runProcess, type RunResult } from "../platform/process.ts";
import { shimArgv, shimEnv } from "./argv.ts";
import { describeShimOutput } from "./failure_text.ts";
import { decodeDeleteResponse, type ShimDeleteResult } from "./delete_response.ts";

export { decodeDeleteResponse, type ShimDeleteResult } from "./delete_response.ts";

/** Default time a shim's `start` may take (it forks the daemon and exits; 1.6 takes 5–10 ms). */
export const START_TIMEOUT_MS = 10_000;
/** Default time a shim's `delete` may take (containerd's cleanup timeout). */
export const DELETE_TIMEOUT_MS = 5_000;
/** Default time for `-info` and `-v`. */
export const INFO_TIMEOUT_MS = 10_000;

/** What `start` and `delete` have in common. */
export interface ShimCallOptions {
  /** Absolute path of the shim binary (see `runtime/resolve.ts`). */
  binary: string;
  /** The bundle directory (or a bundle); it is the shim's cwd. */
  bundle: string | Pick<Bundle, "path">;
  /** Namespace (`-namespace`, `NAMESPACE`). */
  namespace: string;
  /** Container id (`-id`). */
  id: string;
  /** The manager's gRPC address (`-address`, `GRPC_ADDRESS`); the runc shim hashes it into its socket name. */
  grpcAddress: string;
  /** Where the shim publishes events (`TTRPC_ADDRESS`). */
  ttrpcAddress: string;
  /** The manager executable (`-publish-binary`). */
  publishBinary: string;
  /** Pass `-debug`. */
  debug?: boolean;
  /** Our environment to inherit (default `process.env`). */
  baseEnv?: Record<string, string | undefined>;
  /** Bound on the whole call; on expiry the process group is killed. */
  timeoutMs?: number;
}

/** Options for {@link runShimStart}. */
export interface ShimStartOptions extends ShimCallOptions {
  /** Configured extra environment, `KEY=value` each (e.g. `SCHED_CORE=1`), applied last. */
  env?: readonly string[];
  /** Runtime options as an encoded `google.protobuf.Any` (see `encodeRuntimeOptions`), written to stdin. */
  runtimeOptions?: Uint8Array;
  /** Receives stderr a shim printed although it succeeded (as containerd, logged as a warning). */
  logger?: Logger;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
const pathOf = (bundle: string | Pick<Bundle, "path">) => (typeof bundle === "string" ? bundle : bundle.path);

/** Turns a finished (or killed) shim run into an error, or undefined when it succeeded. */
function failure(r: RunResult, binary: string, timeoutMs: number): Error | undefined {
  const name = basename(binary);
  if (r.timedOut) {
    return new DeadlineExceededError(`${name} did not exit within ${timeoutMs}ms (process group killed)`);
  }
  if (r.exitCode === 0) return undefined;
  const how = r.exitCode === null ? `was killed by ${r.signal}` : `exited with status ${r.exitCode}`;
  // containerd reads stdout+stderr combined; a shim that fails on stdout only still explains itself.
  const why = describeShimOutput(text(r.stderr)) || describeShimOutput(text(r.stdout));
  return newError("unknown", why ? `${name} ${how}: ${why}` : `${name} ${how}`);
}

async function run(
  binary: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array; timeoutMs: number },
): Promise<RunResult> {
  try {
    return await runProcess(binary, args, { ...opts, newProcessGroup: true });
  } catch (err) {
    throw fromErrno(err, `run ${JSON.stringify(binary)}`);
  }
}

/**
 * Runs `<shim> … start` in the bundle and parses what it printed.
 *
 * @param options binary, bundle, ids, addresses, env, runtime options, timeout
 * @returns how to reach the shim (version, address, protocol)
 * @throws DeadlineExceededError on timeout (the process group is killed), an error carrying the shim's
 *   stderr when it exits non-zero, NotFound/PermissionDenied when the binary cannot be run,
 *   InvalidArgument/NotImplemented when the output is unusable
 * @example
 * ```ts
 * const boot = await runShimStart({ binary, bundle, namespace: "default", id: "c1", grpcAddress, ttrpcAddress, publishBinary: selfExecutable() });
 * ```
 */
export async function runShimStart(options: ShimStartOptions): Promise<BootstrapInfo> {
  const ctx = `start shim ${JSON.stringify(options.id)}`;
  const timeoutMs = options.timeoutMs ?? START_TIMEOUT_MS;
  try {
    const cwd = pathOf(options.bundle);
    const args = shimArgv({ ...options, bundle: undefined }, "start");
    const env = shimEnv({
      base: options.baseEnv ?? process.env,
      ttrpcAddress: options.ttrpcAddress,
      grpcAddress: options.grpcAddress,
      namespace: options.namespace,
      extra: options.env,
    });
    const r = await run(options.binary, args, {
      cwd,
      env,
      stdin: options.runtimeOptions ?? new Uint8Array(),
      timeoutMs,
    });
    const err = failure(r, options.binary, timeoutMs);
    if (err) throw err;
    const stderr = text(r.stderr);
    if (stderr) {
      options.logger?.warn("shim start wrote to stderr", {
        id: options.id,
        namespace: options.namespace,
        stderr,
      });
    }
    return parseStartResponse(r.stdout);
  } catch (err) {
    throw withContext(err, ctx);
  }
}

/**
 * Runs `<shim> … -bundle B delete` in the bundle: the shim kills and
 * deletes the container and reports how its init process ended. It does
 * not remove the bundle; do that (with `deleteBundle`) only after this
 * succeeds, as containerd does.
 *
 * @param options binary, bundle, ids, addresses, timeout
 * @returns pid, exit status and exit time of the init process
 * @throws an error carrying the shim's stderr when it exits non-zero (1.6 fails when Create never ran:
 *   "open <bundle>/runtime: no such file or directory"), DeadlineExceededError on timeout
 */
export async function runShimDelete(options: ShimCallOptions): Promise<ShimDeleteResult> {
  const ctx = `delete shim ${JSON.stringify(options.id)}`;
  const timeoutMs = options.timeoutMs ?? DELETE_TIMEOUT_MS;
  try {
    const bundle = pathOf(options.bundle);
    const args = shimArgv({ ...options, bundle }, "delete");
    // containerd gives delete the same env as start minus the configured extra variables.
    const env = shimEnv({
      base: options.baseEnv ?? process.env,
      ttrpcAddress: options.ttrpcAddress,
      grpcAddress: options.grpcAddress,
      namespace: options.namespace,
    });
    const r = await run(options.binary, args, { cwd: bundle, env, timeoutMs });
    const err = failure(r, options.binary, timeoutMs);
    if (err) throw err;
    return decodeDeleteResponse(r.stdout);
  } catch (err) {
    throw withContext(err, ctx);
  }
}

/**
 * Runs `<shim> -info` (containerd 2.0+ shims) with the runtime options on
 * stdin and returns the raw `containerd.types.RuntimeInfo` bytes.
 *
 * @param binary absolute path of the shim
 * @param runtimeOptions encoded `google.protobuf.Any`, or omitted
 * @param timeoutMs bound on the call
 * @returns the RuntimeInfo protobuf bytes
 * @throws NotImplementedError for shims without `-info` (1.6/1.7 exit 2 with "flag provided but not defined: -info"),
 *   an error with stderr for other failures
 */
export async function runShimInfo(
  binary: string,
  runtimeOptions?: Uint8Array,
  timeoutMs = INFO_TIMEOUT_MS,
): Promise<Uint8Array> {
  const ctx = `shim info ${JSON.stringify(binary)}`;
  try {
    const r = await run(binary, ["-info"], { stdin: runtimeOptions ?? new Uint8Array(), timeoutMs });
    if (r.exitCode === 2 && text(r.stderr).includes("flag provided but not defined: -info")) {
      throw new NotImplementedError(
        `${basename(binary)} does not support -info (containerd 2.0+ shims only)`,
      );
    }
    const err = failure(r, binary, timeoutMs);
    if (err) throw err;
    return r.stdout;
  } catch (err) {
    throw withContext(err, ctx);
  }
}

/**
 * Runs `<shim> -v` and returns what it printed (the format is not stable).
 *
 * @param binary absolute path of the shim
 * @param timeoutMs bound on the call
 * @returns stdout text
 * @throws an error with stderr when it fails
 */
export async function runShimVersion(binary: string, timeoutMs = INFO_TIMEOUT_MS): Promise<string> {
  try {
    const r = await run(binary, ["-v"], { timeoutMs });
    const err = failure(r, binary, timeoutMs);
    if (err) throw err;
    return new TextDecoder().decode(r.stdout);
  } catch (err) {
    throw withContext(err, `shim version ${JSON.stringify(binary)}`);
  }
}

/**
 * Records which binary runs the bundle's shim (`shim-binary-path`, 0600), so
 * a restarted manager can run the same binary's `delete`.
 *
 * @param bundle the bundle
 * @param binary absolute path of the shim binary
 * @throws errno-mapped errors
 */
export function writeShimBinaryPath(bundle: Pick<Bundle, "path">, binary: string): Promise<void> {
  const file = bundleFile(bundle.path, "shimBinaryPath");
  try {
    // Not fsynced, like bootstrap.json (see `bundle/atomic.ts`); written before this returns.
    replaceFileSync(file, binary, 0o600);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(fromErrno(err, `write ${JSON.stringify(file)}`));
  }
}

/**
 * Reads `shim-binary-path`.
 *
 * @param bundle the bundle
 * @returns the recorded binary path
 * @throws NotFoundError when the file does not exist
 */
export async function readShimBinaryPath(bundle: Pick<Bundle, "path">): Promise<string> {
  const file = bundleFile(bundle.path, "shimBinaryPath");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    throw fromErrno(err, `read ${JSON.stringify(file)}`);
  }
}
