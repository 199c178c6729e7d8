/**
 * Shim socket addresses (protocol-facts §2.3, §2.5): turn what a shim
 * printed into something `node:net` can dial, check Unix socket path
 * lengths, and compute the socket name the runc v2 shim chooses. Pure.
 *
 * @module
 */

import { isAbsolute, join } from "node:path";
import { InvalidArgumentError, NotImplementedError, quoteValue } from "../errors.ts";
import { sha256Hex } from "../sha256.ts";

/**
 * Longest socket path containerd accepts (`socketPathLimit`). Linux
 * `sun_path` holds 108 bytes including the terminating NUL, so 107 would
 * still bind; we keep containerd's stricter 106 so anything we create is
 * also acceptable to containerd's own tools.
 */
export const SOCKET_PATH_MAX = 106;

/** Longest abstract socket name: `sun_path` minus the leading NUL. */
export const ABSTRACT_NAME_MAX = 107;

/** Where containerd's runc shims put their sockets on Linux. */
export const DEFAULT_SOCKET_DIR = "/run/containerd/s";

const encoder = new TextEncoder();

/**
 * Checks that a Unix socket path fits in `sun_path`.
 *
 * @param path filesystem socket path
 * @param limit maximum length in bytes (default {@link SOCKET_PATH_MAX})
 * @returns the path, unchanged
 * @throws InvalidArgumentError naming the byte length and the limit
 */
export function validateSocketPath(path: string, limit = SOCKET_PATH_MAX): string {
  const len = encoder.encode(path).length;
  if (len > limit) {
    throw new InvalidArgumentError(
      `socket path ${quoteValue(path)}: length ${len} bytes exceeds the unix socket limit of ${limit}`,
    );
  }
  return path;
}

/**
 * Converts a shim address to a `node:net` path:
 * - `unix:///abs/path` (and sandbox `ttrpc+unix:///abs/path`) → `/abs/path`
 * - `unix://@name` → abstract `\0name` (Go dials a leading `@` as abstract)
 * - no `unix://` prefix → abstract `\0<address>`, as containerd's `AnonDialer`
 *   does for legacy shims
 * - `vsock://`, `hvsock://` → NotImplementedError
 *
 * @param address what the shim printed (or bootstrap.json stored)
 * @returns a filesystem path, or `\0`-prefixed abstract name
 * @throws InvalidArgumentError for an empty or relative address or one too long for `sun_path`;
 *   NotImplementedError for vsock/hvsock and other schemes
 * @example
 * ```ts
 * dialPath("unix:///run/containerd/s/abc"); // "/run/containerd/s/abc"
 * dialPath("/containerd-shim/default/c1/shim.sock"); // "\0/containerd-shim/default/c1/shim.sock"
 * ```
 */
export function dialPath(address: string): string {
  if (address === "") throw new InvalidArgumentError("shim address is empty");
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const name = address.startsWith("\0") ? address.slice(1) : address;
    return "\0" + validateAbstractName(name, address);
  }
  if (scheme === "vsock" || scheme === "hvsock") {
    throw new NotImplementedError(
      `shim address ${quoteValue(address)}: ${scheme} transport is not supported`,
    );
  }
  if (scheme !== "unix" && scheme !== "ttrpc+unix") {
    throw new NotImplementedError(
      `shim address ${quoteValue(address)}: scheme "${scheme}" is not supported`,
    );
  }
  const rest = address.slice(scheme.length + 3);
  if (rest.startsWith("@")) return "\0" + validateAbstractName(rest.slice(1), address);
  if (!isAbsolute(rest)) {
    throw new InvalidArgumentError(`shim address ${quoteValue(address)}: socket path must be absolute`);
  }
  if (rest.includes("\0")) {
    throw new InvalidArgumentError(`shim address ${quoteValue(address)}: contains NUL`);
  }
  // 107 bytes still dial; only creation needs containerd's 106.
  return validateSocketPath(rest, ABSTRACT_NAME_MAX);
}

function validateAbstractName(name: string, address: string): string {
  if (name === "") {
    throw new InvalidArgumentError(`shim address ${quoteValue(address)}: abstract name is empty`);
  }
  const len = encoder.encode(name).length;
  if (len > ABSTRACT_NAME_MAX) {
    throw new InvalidArgumentError(
      `shim address ${
        quoteValue(address)
      }: abstract name length ${len} bytes exceeds the limit of ${ABSTRACT_NAME_MAX}`,
    );
  }
  return name;
}

/**
 * True when the address names a filesystem socket (which can be checked for
 * and removed), false for abstract names.
 *
 * @param address shim address
 * @returns boolean
 * @throws as {@link dialPath}
 */
export function isFilesystemAddress(address: string): boolean {
  return !dialPath(address).startsWith("\0");
}

/** Inputs of {@link shimSocketAddress}. */
export interface ShimSocketInputs {
  /** Socket directory; default {@link DEFAULT_SOCKET_DIR}. */
  socketDir?: string;
  /** The value passed as `-address` (containerd's gRPC socket); may be empty. */
  grpcAddress: string;
  /** Namespace. */
  namespace: string;
  /** Grouping id: the `io.containerd.runc.v2.group` annotation, else the sandbox id, else the container id. */
  id: string;
}

/**
 * Computes the address a runc v2 shim listens on:
 * `unix://<dir>/<hex sha256(filepath.Join(grpcAddress, ns, id))>`.
 * Useful to find a shim's socket before it printed it, or after a crash.
 *
 * @param inputs socket dir, gRPC address, namespace and grouping id
 * @returns the `unix://` address
 * @throws InvalidArgumentError when the resulting path is too long
 */
export function shimSocketAddress(inputs: ShimSocketInputs): string {
  // node's path.join normalises like Go's filepath.Join (which also drops empty elements).
  const key = join(...[inputs.grpcAddress, inputs.namespace, inputs.id].filter((s) => s !== ""));
  const hash = sha256Hex(key);
  const path = join(inputs.socketDir ?? DEFAULT_SOCKET_DIR, hash);
  return "unix://" + validateSocketPath(path);
}

/**
 * The socket file a shim address names.
 *
 * @param address a shim address (`unix:///path`, a plain path, `unix://@abstract`, …)
 * @returns the path, or undefined for an empty, abstract or unparsable address
 */
export function socketFileOf(address: string): string | undefined {
  try {
    return address !== "" && isFilesystemAddress(address) ? dialPath(address) : undefined;
  } catch {
    return undefined;
  }
}
