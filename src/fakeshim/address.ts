/**
 * Socket naming and `start` output for the fake shim (pure): the runc-v2
 * naming rule (sha256 of join(address, ns, id)), the socket directory
 * default, the 106-byte path limit, and the bootstrap encodings `start` can
 * print (protocol-facts.md §2.3, §2.5).
 *
 * @module
 */

import { create, toBinary } from "../api/protobuf.ts";
import { posix } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { sha256Hex } from "../sha256.ts";
import { BootstrapResultSchema } from "../gen/containerd/runtime/bootstrap/v1/bootstrap_pb.ts";
import { SOCKET_PATH_MAX } from "../shim/socket.ts";
import type { BootstrapFormat } from "./faults.ts";

/** Longest socket path (106 bytes, containerd's limit), shared with the manager's socket rules. */
export { SOCKET_PATH_MAX };

/** The fewest hex digits of the hash a shortened socket name keeps. */
const MIN_HASH_CHARS = 16;
/** Annotations that group several containers into one shim, as runc-v2 reads them. */
export const GROUP_ANNOTATIONS: readonly string[] = [
  "io.containerd.runc.v2.group",
  "io.kubernetes.cri.sandbox-id",
];

/**
 * The grouping id the socket name is derived from: the runc-v2 group
 * annotation, else the CRI sandbox id, else the container id.
 *
 * @param annotations the bundle's OCI annotations
 * @param id the container id
 * @returns the id to hash
 */
export function groupIdOf(annotations: Record<string, string> | undefined, id: string): string {
  for (const k of GROUP_ANNOTATIONS) {
    const v = annotations?.[k];
    if (v) return v;
  }
  return id;
}

/**
 * The default socket directory: `/run/shimkit/fake` for root, else
 * `$XDG_RUNTIME_DIR/shimkit-fake`, else `<tmpdir>/shimkit-fake-<uid>`.
 *
 * @param uid the effective uid
 * @param xdgRuntimeDir `$XDG_RUNTIME_DIR` (may be undefined)
 * @param tmpdir `os.tmpdir()`
 * @returns an absolute directory
 */
export function defaultSocketDir(uid: number, xdgRuntimeDir: string | undefined, tmpdir: string): string {
  if (uid === 0) return "/run/shimkit/fake";
  if (xdgRuntimeDir) return posix.join(xdgRuntimeDir, "shimkit-fake");
  return posix.join(tmpdir, `shimkit-fake-${uid}`);
}

/**
 * The socket path for a shim: `<dir>/<hex sha256(join(address, ns, group))>`,
 * the hash shortened when the full path would exceed {@link SOCKET_PATH_MAX}.
 *
 * @param dir the socket directory (absolute)
 * @param address the `-address` value (containerd's gRPC socket)
 * @param namespace the namespace
 * @param group the grouping id ({@link groupIdOf})
 * @returns the socket path
 * @throws InvalidArgumentError when even a shortened name does not fit
 */
export function socketPath(dir: string, address: string, namespace: string, group: string): string {
  // Go's filepath.Join cleans the result; posix.join does the same (and drops empty parts).
  const hex = sha256Hex(posix.join(address, namespace, group));
  const base = dir.replace(/\/+$/, "") + "/";
  const room = SOCKET_PATH_MAX - new TextEncoder().encode(base).length;
  if (room < MIN_HASH_CHARS) {
    throw new InvalidArgumentError(
      `socket dir "${dir}" is too long: a socket path must fit in ${SOCKET_PATH_MAX} bytes`,
    );
  }
  return base + hex.slice(0, Math.min(hex.length, room));
}

/**
 * Validates a v1 `-socket` value: `unix:///path` is a filesystem socket,
 * anything else an abstract one; either must fit in {@link SOCKET_PATH_MAX} bytes.
 *
 * @param socket the flag value
 * @returns the address to listen on for ttrpc-ts (`/path` or `\0name`)
 * @throws InvalidArgumentError for paths that are too long
 */
export function v1ListenAddress(socket: string): string {
  const path = socket.startsWith("unix://") ? socket.slice("unix://".length) : socket;
  if (new TextEncoder().encode(path).length > SOCKET_PATH_MAX) {
    throw new InvalidArgumentError(`socket path "${path}" is too long: over ${SOCKET_PATH_MAX} bytes`);
  }
  return socket.startsWith("unix://") ? path : "\0" + path;
}

/**
 * Encodes what `start` prints for an address.
 *
 * @param format plain, JSON v2/v3 or protobuf BootstrapResult
 * @param address `unix:///…`
 * @param version overrides the version number (the `version(N)` fault)
 * @returns the bytes for stdout (no trailing newline, like the real shims)
 */
export function formatStartOutput(format: BootstrapFormat, address: string, version?: number): Uint8Array {
  const enc = new TextEncoder();
  if (version !== undefined) return enc.encode(JSON.stringify({ version, address, protocol: "ttrpc" }));
  switch (format) {
    case "plain":
      return enc.encode(address);
    case "json-v2":
      return enc.encode(JSON.stringify({ version: 2, address, protocol: "ttrpc" }));
    case "json-v3":
      return enc.encode(JSON.stringify({ version: 3, address, protocol: "ttrpc" }));
    case "protobuf":
      return toBinary(
        BootstrapResultSchema,
        create(BootstrapResultSchema, { version: 3, address, protocol: "ttrpc" }),
      );
  }
}
