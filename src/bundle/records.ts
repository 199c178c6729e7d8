/**
 * Container records: what shimkit must remember about a task across
 * processes and restarts (runtime, options, spec, labels), one JSON file per
 * container under the root dir, written crash-safely (temp file, fsync,
 * rename, fsync of the directory).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { readdirSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "./atomic.ts";
import { InvalidArgumentError, isNotFound, withContext } from "../errors.ts";
import { isValidId } from "../ids.ts";
import type { AnyValue } from "../taskapi/types.ts";
import { recordPath, RECORDS_DIR, recordsDir } from "./layout.ts";

/** The record format version written by this build. */
export const RECORD_VERSION = 1;

/** One container record. */
export interface ContainerRecord {
  /** Namespace. */
  namespace: string;
  /** Container id. */
  id: string;
  /** Runtime name as given (`io.containerd.runc.v2`) or an absolute shim path. */
  runtime: string;
  /** The resolved shim binary path. */
  runtimePath: string;
  /** Runtime options sent to the shim (start stdin and Create options). */
  runtimeOptions?: AnyValue;
  /** The OCI spec: inline, or the path of the file holding it. */
  spec: { inline: Record<string, unknown> } | { path: string };
  /** User labels. */
  labels: Record<string, string>;
  /** When the task was created. */
  createdAt: Date;
  /** The sandbox this task runs in, if any. */
  sandboxId?: string;
}

/**
 * Formats a record as the JSON text stored on disk.
 *
 * @param rec the record
 * @returns JSON text with a trailing newline
 */
export function formatRecord(rec: ContainerRecord): string {
  const obj: Record<string, unknown> = {
    version: RECORD_VERSION,
    namespace: rec.namespace,
    id: rec.id,
    runtime: rec.runtime,
    runtimePath: rec.runtimePath,
  };
  if (rec.runtimeOptions) {
    const v = rec.runtimeOptions.value;
    obj.runtimeOptions = {
      typeUrl: rec.runtimeOptions.typeUrl,
      value: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64"),
    };
  }
  obj.spec = rec.spec;
  obj.labels = rec.labels;
  obj.createdAt = rec.createdAt.toISOString();
  if (rec.sandboxId) obj.sandboxId = rec.sandboxId;
  return JSON.stringify(obj) + "\n";
}

const isStringMap = (v: unknown): v is Record<string, string> =>
  v !== null && typeof v === "object" && !Array.isArray(v) &&
  Object.values(v as object).every((x) => typeof x === "string");

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Parses a record file's text.
 *
 * @param text the file's content
 * @param source the file path, named in errors
 * @returns the record
 * @throws InvalidArgumentError naming the file and the bad field when the content is not a valid record
 */
export function parseRecord(text: string, source: string): ContainerRecord {
  const bad = (what: string) => new InvalidArgumentError(`parse container record "${source}": ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`parse container record "${source}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isObject(v)) throw bad("not a JSON object");
  if (typeof v.version !== "number" || v.version < 1) throw bad(`invalid version "${v.version}"`);
  if (v.version > RECORD_VERSION) throw bad(`unsupported version "${v.version}"`);
  for (const k of ["namespace", "id", "runtime", "runtimePath", "createdAt"]) {
    if (typeof v[k] !== "string" || v[k] === "") throw bad(`missing or invalid "${k}"`);
  }
  const createdAt = new Date(v.createdAt as string);
  if (Number.isNaN(createdAt.getTime())) throw bad(`invalid "createdAt" "${v.createdAt}"`);
  let spec: ContainerRecord["spec"];
  if (isObject(v.spec) && isObject(v.spec.inline)) spec = { inline: v.spec.inline };
  else if (isObject(v.spec) && typeof v.spec.path === "string") spec = { path: v.spec.path };
  else throw bad(`missing or invalid "spec"`);
  const labels = v.labels === undefined ? {} : v.labels;
  if (!isStringMap(labels)) throw bad(`invalid "labels"`);
  const rec: ContainerRecord = {
    namespace: v.namespace as string,
    id: v.id as string,
    runtime: v.runtime as string,
    runtimePath: v.runtimePath as string,
    spec,
    labels,
    createdAt,
  };
  if (v.runtimeOptions !== undefined) {
    const o = v.runtimeOptions;
    if (!isObject(o) || typeof o.typeUrl !== "string" || typeof o.value !== "string") {
      throw bad(`invalid "runtimeOptions"`);
    }
    rec.runtimeOptions = { typeUrl: o.typeUrl, value: new Uint8Array(Buffer.from(o.value, "base64")) };
  }
  if (v.sandboxId !== undefined) {
    if (typeof v.sandboxId !== "string") throw bad(`invalid "sandboxId"`);
    if (v.sandboxId !== "") rec.sandboxId = v.sandboxId;
  }
  return rec;
}

/**
 * Persists a record, replacing any previous one for the same container.
 *
 * @param root the root dir
 * @param rec the record
 * @returns when durable
 * @throws ShimkitError with context `write container record "<ns>/<id>"`
 */
export async function writeRecord(root: string, rec: ContainerRecord): Promise<void> {
  const path = recordPath(root, rec.namespace, rec.id);
  for (let attempt = 1;; attempt++) {
    try {
      await fsp.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFileAtomic(path, formatRecord(rec), 0o600);
      return;
    } catch (err) {
      // A concurrent removeRecord may rmdir the namespace dir between the mkdir and the write.
      if (isNotFound(err) && attempt < 5) continue;
      throw withContext(err, `write container record "${rec.namespace}/${rec.id}"`);
    }
  }
}

/**
 * Reads a record.
 *
 * @param root the root dir
 * @param namespace namespace
 * @param id container id
 * @returns the record
 * @throws NotFoundError when there is none; InvalidArgumentError naming the file when it is corrupt
 */
export async function readRecord(root: string, namespace: string, id: string): Promise<ContainerRecord> {
  const path = recordPath(root, namespace, id);
  let text: string;
  try {
    text = await fsp.readFile(path, "utf8");
  } catch (err) {
    throw withContext(err, `read container record "${namespace}/${id}"`);
  }
  return parseRecord(text, path);
}

/**
 * Removes a record; a missing record is not an error.
 *
 * @param root the root dir
 * @param namespace namespace
 * @param id container id
 * @returns true when a record was removed
 * @throws ShimkitError when the file exists but cannot be removed
 */
export async function removeRecord(root: string, namespace: string, id: string): Promise<boolean> {
  const path = recordPath(root, namespace, id);
  try {
    await fsp.unlink(path);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw withContext(err, `remove container record "${namespace}/${id}"`);
  }
  await fsp.rmdir(dirname(path)).catch(() => {});
  return true;
}

/** Result of {@link listRecords}: the records that parsed and the files that did not. */
export interface RecordList {
  /** Valid records, sorted by namespace then id. */
  records: ContainerRecord[];
  /** Errors for corrupt files (each names its file). */
  errors: Error[];
}

/**
 * Lists the `[namespace, id]` of every record file (`<root>/.records/<ns>/<id>.json`) by name,
 * without reading them, sorted: what `gc` and `doctor` need to find records whose bundle is gone,
 * whether or not the file still parses. Hidden names and names that are no valid id are skipped.
 *
 * @param root the root dir
 * @param namespace only this namespace (default: all)
 * @returns the ids, and an error for each directory under `.records` whose name is no namespace
 * @throws InvalidArgumentError when `namespace` is given and invalid
 */
export function listRecordIds(
  root: string,
  namespace?: string,
): { ids: Array<[string, string]>; errors: Error[] } {
  const ids: Array<[string, string]> = [];
  const errors: Error[] = [];
  const names = (dir: string, dirsOnly: boolean): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((d) => !d.name.startsWith(".") && (!dirsOnly || d.isDirectory()))
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  };
  for (const ns of namespace !== undefined ? [namespace] : names(join(root, RECORDS_DIR), true)) {
    let dir: string;
    try {
      dir = recordsDir(root, ns);
    } catch (err) {
      // A stray directory whose name is no namespace: report it, keep listing.
      if (namespace !== undefined) throw err;
      errors.push(err as Error);
      continue;
    }
    for (const name of names(dir, false)) {
      if (!name.endsWith(".json")) continue;
      const id = name.slice(0, -".json".length);
      if (isValidId(id)) ids.push([ns, id]);
    }
  }
  return { ids, errors };
}

/**
 * Lists records, of one namespace or of all.
 *
 * @param root the root dir
 * @param namespace only this namespace (default: all)
 * @returns records and per-file errors
 */
export async function listRecords(root: string, namespace?: string): Promise<RecordList> {
  const { ids, errors } = listRecordIds(root, namespace);
  const out: RecordList = { records: [], errors };
  for (const [ns, id] of ids) {
    const path = recordPath(root, ns, id);
    try {
      out.records.push(parseRecord(await fsp.readFile(path, "utf8"), path));
    } catch (err) {
      if (!isNotFound(err)) out.errors.push(err as Error);
    }
  }
  return out;
}
