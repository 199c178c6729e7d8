/**
 * How to reach a shim: parse what `start` printed (protocol-facts §2.3) and
 * keep it in the bundle's `bootstrap.json` (§2.8), migrating bundles that
 * only have the 1.6-era `address` file.
 *
 * `parseStartResponse` is pure; the read/write functions do file I/O.
 *
 * @module
 */

import { readFileSync, statSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { fromErrno, InvalidArgumentError, NotImplementedError, withContext } from "../errors.ts";
import { replaceFileSync } from "./atomic.ts";
import type { Bundle } from "./bundle.ts";
import { bundleFile } from "./layout.ts";

/** The newest shim API version we speak (task v3). */
export const CURRENT_SHIM_VERSION = 3;

/**
 * The most a shim's `start` output, `bootstrap.json` or an `address` file may hold. Real ones are
 * under 200 bytes; anything this large is damage, and is refused before it is read whole.
 */
export const MAX_BOOTSTRAP_BYTES = 16 * 1024;

/** Fails when a bootstrap file is larger than any real one (checked before it is read). */
function checkBootstrapSize(size: number, path: string): void {
  if (size > MAX_BOOTSTRAP_BYTES) {
    throw new InvalidArgumentError(
      `${JSON.stringify(path)} is ${size} bytes: more than the ${MAX_BOOTSTRAP_BYTES} a bootstrap can hold`,
    );
  }
}

/**
 * Reads a small bundle file (`bootstrap.json`, `address`, `shim-binary-path`) whole, synchronously,
 * after checking it is no larger than {@link MAX_BOOTSTRAP_BYTES}.
 *
 * @param path the file
 * @returns its bytes
 * @throws InvalidArgumentError when it is larger; the OS error (its `code` kept) when it cannot be read
 */
export function readSmallBundleFileSync(path: string): Uint8Array {
  checkBootstrapSize(statSync(path).size, path);
  return readFileSync(path);
}

/** {@link readSmallBundleFileSync}, asynchronously. */
async function readSmallBundleFile(path: string): Promise<Uint8Array> {
  checkBootstrapSize((await stat(path)).size, path);
  return await readFile(path);
}

/** How to reach a shim: containerd's `BootstrapResult` / `bootstrap.json`. */
export interface BootstrapInfo {
  /** Shim API version: 2 → `containerd.task.v2.Task`, 3 → `containerd.task.v3.Task`. */
  version: number;
  /** Shim address, e.g. `unix:///run/containerd/s/<hex>`. */
  address: string;
  /** `ttrpc` or `grpc`. */
  protocol: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a protobuf `containerd.runtime.bootstrap.v1.BootstrapResult`
 * (1 version int32, 2 address string, 3 protocol string; 4 capabilities and
 * 5 metadata are skipped). Strict: an invalid wire type, a truncated field,
 * invalid UTF-8 or a missing address means "not protobuf" (undefined), so the
 * text fallbacks get their turn.
 */
function decodeBootstrapResult(bytes: Uint8Array): BootstrapInfo | undefined {
  if (bytes.length === 0) return undefined;
  const r = new BinaryReader(bytes, (b) => utf8.decode(b));
  let version = 0;
  let address = "";
  let protocol = "";
  try {
    while (r.pos < r.len) {
      const [field, wire] = r.tag();
      if (field === 0) return undefined;
      if (field === 1 && wire === WireType.Varint) version = r.int32();
      else if (field === 2 && wire === WireType.LengthDelimited) address = r.string();
      else if (field === 3 && wire === WireType.LengthDelimited) protocol = r.string();
      else if (wire === WireType.StartGroup || wire === WireType.EndGroup || wire > WireType.Bit32) {
        return undefined;
      } else r.skip(wire, field);
    }
  } catch {
    return undefined;
  }
  if (r.pos !== r.len || address === "") return undefined;
  return { version, address, protocol };
}

function decodeJson(text: string): BootstrapInfo | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  // Go's encoding/json fails on a wrongly typed field, which sends containerd to the raw-address fallback.
  if (o.version !== undefined && !Number.isInteger(o.version)) return undefined;
  if (o.address !== undefined && typeof o.address !== "string") return undefined;
  if (o.protocol !== undefined && typeof o.protocol !== "string") return undefined;
  return {
    version: (o.version as number) ?? 0,
    address: (o.address as string) ?? "",
    protocol: (o.protocol as string) ?? "",
  };
}

/**
 * Parses a shim's `start` output like containerd 2.x `parseStartResponse`:
 * protobuf `BootstrapResult` (2.3+) first, then trimmed JSON
 * `{"version","address","protocol"}` (1.7–2.2), else the trimmed text is a
 * plain address of a v2 TTRPC shim (1.6, no trailing newline).
 *
 * @param stdout the shim's stdout
 * @returns version, address and protocol
 * @throws InvalidArgumentError when the output is empty or names no address,
 *   NotImplementedError when the version is above {@link CURRENT_SHIM_VERSION}
 * @example
 * ```ts
 * parseStartResponse("unix:///run/containerd/s/abc\n");
 * // { version: 2, address: "unix:///run/containerd/s/abc", protocol: "ttrpc" }
 * ```
 */
export function parseStartResponse(stdout: Uint8Array | string): BootstrapInfo {
  const bytes = typeof stdout === "string" ? new TextEncoder().encode(stdout) : stdout;
  if (bytes.length > MAX_BOOTSTRAP_BYTES) {
    throw new InvalidArgumentError(
      `parse shim start response: ${bytes.length} bytes, more than the ${MAX_BOOTSTRAP_BYTES} a bootstrap can hold`,
    );
  }
  let info = decodeBootstrapResult(bytes);
  if (!info) {
    const text = (typeof stdout === "string" ? stdout : new TextDecoder().decode(stdout)).trim();
    if (text === "") throw new InvalidArgumentError("parse shim start response: empty output");
    const json = decodeJson(text);
    info = json && json.version >= 2 ? json : { version: 2, address: text, protocol: "ttrpc" };
  }
  if (info.version > CURRENT_SHIM_VERSION) {
    throw new NotImplementedError(`parse shim start response: unsupported shim version (${info.version})`);
  }
  if (info.version < 2) {
    throw new InvalidArgumentError(`parse shim start response: unsupported shim version (${info.version})`);
  }
  if (info.address === "") throw new InvalidArgumentError("parse shim start response: no address");
  // An absent protocol would make containerd fail later with "unexpected protocol"; every shim that omits it speaks TTRPC.
  if (info.protocol === "") info.protocol = "ttrpc";
  return info;
}

/**
 * Writes `bootstrap.json` atomically (temp + rename, mode 0644):
 * `{"version":3,"address":"unix:///…","protocol":"ttrpc"}`, empty fields omitted.
 * Not fsynced: it names a shim process, which an OS crash would not leave
 * running (see `atomic.ts`).
 *
 * @param bundle the bundle (only `path` is used)
 * @param info what to store
 * @throws errno-mapped errors
 */
export function writeBootstrap(bundle: Pick<Bundle, "path">, info: BootstrapInfo): Promise<void> {
  const out: Partial<BootstrapInfo> = {};
  if (info.version) out.version = info.version;
  if (info.address) out.address = info.address;
  if (info.protocol) out.protocol = info.protocol;
  try {
    // Written before this returns (a few syscalls); the promise only carries the outcome.
    replaceFileSync(bundleFile(bundle.path, "bootstrap"), JSON.stringify(out), 0o644);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(fromErrno(err, `write ${JSON.stringify(bundleFile(bundle.path, "bootstrap"))}`));
  }
}

/**
 * Reads `bootstrap.json` (parsed with the same rules as `start` output).
 *
 * @param bundle the bundle (only `path` is used)
 * @returns the stored bootstrap info
 * @throws NotFoundError when the file does not exist; InvalidArgument/NotImplemented as {@link parseStartResponse}
 */
export async function readBootstrap(bundle: Pick<Bundle, "path">): Promise<BootstrapInfo> {
  const path = bundleFile(bundle.path, "bootstrap");
  let data: Uint8Array;
  try {
    data = await readSmallBundleFile(path);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw fromErrno(err, `read ${JSON.stringify(path)}`);
  }
  try {
    return parseStartResponse(data);
  } catch (err) {
    throw withContext(err, `read ${JSON.stringify(path)}`);
  }
}

/**
 * The shim address a bundle names, read-only and synchronously: `bootstrap.json`'s, else the legacy
 * `address` file's (what {@link restoreBootstrap} would migrate, without writing anything).
 *
 * @param bundle the bundle (only `path` is used)
 * @returns the address, or undefined when neither file names one
 */
export function peekBootstrapAddress(bundle: Pick<Bundle, "path">): string | undefined {
  try {
    return parseStartResponse(readSmallBundleFileSync(bundleFile(bundle.path, "bootstrap"))).address;
  } catch {
    // Absent, unreadable or damaged: an older bundle may still have the address file.
  }
  try {
    return new TextDecoder().decode(readSmallBundleFileSync(bundleFile(bundle.path, "address"))).trim() ||
      undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a bundle's bootstrap info, migrating an older bundle: when
 * `bootstrap.json` is missing, the `address` file (written by 1.6/1.7 runc
 * shims) becomes `{version: 2, protocol: "ttrpc", address}` and is written
 * back as `bootstrap.json` (containerd `restoreBootstrapParams`).
 *
 * @param bundle the bundle (only `path` is used)
 * @returns bootstrap info
 * @throws NotFoundError when neither file exists, InvalidArgumentError for an empty address file
 */
export async function restoreBootstrap(bundle: Pick<Bundle, "path">): Promise<BootstrapInfo> {
  try {
    return await readBootstrap(bundle);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code !== "ENOENT") throw err;
  }
  const addressFile = bundleFile(bundle.path, "address");
  let address: string;
  try {
    address = new TextDecoder().decode(await readSmallBundleFile(addressFile)).trim();
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw withContext(err, "restore bootstrap");
    throw fromErrno(err, `restore bootstrap: read ${JSON.stringify(addressFile)}`);
  }
  if (address === "") {
    throw new InvalidArgumentError(`restore bootstrap: ${JSON.stringify(addressFile)} is empty`);
  }
  const info: BootstrapInfo = { version: 2, address, protocol: "ttrpc" };
  await writeBootstrap(bundle, info);
  return info;
}
