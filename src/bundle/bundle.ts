/**
 * Bundle directories (containerd `core/runtime/v2/bundle.go`): create one
 * with its work dir, load one, delete one without ever leaving a
 * half-deleted directory a loader could mistake for a live bundle.
 *
 * @module
 */

import { chmod, chown, lstat, mkdir, readdir, rename, rmdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AlreadyExistsError, FailedPreconditionError, fromErrno, newError, withContext } from "../errors.ts";
import { validateId, validateNamespace } from "../ids.ts";
import {
  bundleDir,
  bundleFile,
  hiddenPath,
  isHiddenName,
  namespaceRootDir,
  namespaceStateDir,
  workDir,
} from "./layout.ts";
import { mountsUnder, unmountRecursive } from "./mount.ts";
import { removeTree } from "../platform/remove_tree.ts";

/** A bundle on disk: `path` = `<state>/<ns>/<id>`, `workDir` = `<root>/<ns>/<id>`. */
export interface Bundle {
  /** Container id. */
  id: string;
  /** Namespace. */
  namespace: string;
  /** Bundle directory. */
  path: string;
  /** Work directory (target of the bundle's `work` symlink). */
  workDir: string;
  /** State directory the bundle lives under. */
  state: string;
  /** Root directory the work dir lives under. */
  root: string;
}

/** Where to create or find a bundle. */
export interface BundleLocation {
  /** State directory, e.g. `/run/shimkit`. */
  state: string;
  /** Root directory, e.g. `/var/lib/shimkit`. */
  root: string;
  /** Namespace (validated). */
  namespace: string;
  /** Container id (validated). */
  id: string;
}

/** Options for {@link createBundle}. */
export interface CreateBundleOptions extends BundleLocation {
  /** OCI spec: an object (serialised as JSON) or its JSON text/bytes. Omitted = no config.json (containerd 2.x). */
  spec?: object | string | Uint8Array;
}

const q = JSON.stringify;

function locate(loc: BundleLocation): Bundle {
  validateNamespace(loc.namespace);
  validateId(loc.id);
  return {
    id: loc.id,
    namespace: loc.namespace,
    path: bundleDir(loc.state, loc.namespace, loc.id),
    workDir: workDir(loc.root, loc.namespace, loc.id),
    state: loc.state,
    root: loc.root,
  };
}

function specBytes(spec: object | string | Uint8Array): string | Uint8Array {
  return typeof spec === "string" || spec instanceof Uint8Array ? spec : JSON.stringify(spec);
}

/**
 * The host GID that container GID 0 maps to, or 0 when unmapped
 * (containerd `remappedGID`).
 */
function remappedGid(spec: object | string | Uint8Array): number {
  let parsed: { linux?: { gidMappings?: Array<{ containerID?: number; hostID?: number }> } };
  try {
    parsed = typeof spec === "string" || spec instanceof Uint8Array
      ? JSON.parse(typeof spec === "string" ? spec : new TextDecoder().decode(spec))
      : spec as typeof parsed;
  } catch {
    return 0;
  }
  const m = parsed?.linux?.gidMappings?.find((g) => (g.containerID ?? 0) === 0);
  return m?.hostID ?? 0;
}

/**
 * Creates a bundle and its work dir in containerd's order (protocol-facts §3):
 * `<state>/<ns>` 0711, the bundle 0700 (AlreadyExists if present), `<root>/<ns>`
 * 0711, `rootfs` 0711, the work dir 0711 (recreated if present), the `work`
 * symlink, `config.json`. Ids are validated before any file is touched; on
 * failure every path created so far is removed (shared namespace dirs stay).
 *
 * @param options state, root, namespace, id and the OCI spec
 * @returns the new bundle
 * @throws InvalidArgumentError for a bad id/namespace, AlreadyExistsError when the bundle exists,
 *   errno-mapped errors for filesystem failures
 * @example
 * ```ts
 * const b = await createBundle({ state: "/run/shimkit", root: "/var/lib/shimkit", namespace: "default", id: "c1", spec });
 * ```
 */
export async function createBundle(options: CreateBundleOptions): Promise<Bundle> {
  const b = locate(options);
  const created: string[] = [];
  try {
    await mkdir(dirname(b.path), { recursive: true, mode: 0o711 });
    try {
      await mkdir(b.path, { mode: 0o700 });
    } catch (err) {
      if ((err as { code?: string }).code === "EEXIST") {
        throw new AlreadyExistsError(`bundle ${q(b.path)} already exists`, { cause: err });
      }
      throw err;
    }
    created.push(b.path);
    const gid = options.spec ? remappedGid(options.spec) : 0;
    if (gid !== 0) {
      // The container's root group must be able to traverse into the bundle (userns).
      await chown(b.path, -1, gid);
      await chmod(b.path, 0o710);
    }
    await mkdir(namespaceRootDir(b.root, b.namespace), { recursive: true, mode: 0o711 });
    await mkdir(bundleFile(b.path, "rootfs"), { mode: 0o711 });
    created.push(bundleFile(b.path, "rootfs"));
    try {
      await mkdir(b.workDir, { mode: 0o711 });
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      // A leftover work dir from an earlier container with this id: start clean, as containerd does.
      await removeTree(b.workDir);
      await mkdir(b.workDir, { mode: 0o711 });
    }
    created.push(b.workDir);
    await symlink(b.workDir, bundleFile(b.path, "work"));
    if (options.spec !== undefined) {
      await writeFile(bundleFile(b.path, "config"), specBytes(options.spec), { mode: 0o666 });
    }
    return b;
  } catch (err) {
    for (const p of created.reverse()) await removeTree(p).catch(() => {});
    throw withContext(fromErrno(err), `create bundle ${q(b.namespace + "/" + b.id)}`);
  }
}

/**
 * Loads an existing bundle (containerd `LoadBundle`).
 *
 * @param loc state, root, namespace and id
 * @returns the bundle; `workDir` is the `work` symlink's target when it points at the expected place
 * @throws InvalidArgumentError for a bad id/namespace; NotFoundError when the bundle directory does not
 *   exist; FailedPreconditionError when it or its namespace directory is a symlink or not a directory
 *   (nothing is followed or touched)
 */
export async function loadBundle(loc: BundleLocation): Promise<Bundle> {
  const b = locate(loc);
  try {
    // Neither level may be a symlink (listBundles does not follow them either): deleting a
    // "bundle" that points elsewhere would unmount and remove what it points at.
    for (const path of [dirname(b.path), b.path]) {
      const st = await lstat(path);
      if (st.isSymbolicLink()) {
        throw new FailedPreconditionError(`${q(path)} is a symbolic link, not a bundle directory`);
      }
      if (!st.isDirectory()) throw new FailedPreconditionError(`${q(path)} is not a directory`);
    }
  } catch (err) {
    throw withContext(fromErrno(err), `load bundle ${q(b.namespace + "/" + b.id)}`);
  }
  return b;
}

/**
 * Renames `path` to its hidden sibling `.<name>`, then removes that
 * recursively. A crash in between leaves only a hidden entry, which loaders
 * skip. ENOENT on the rename means it is already gone.
 */
async function atomicDelete(path: string): Promise<void> {
  const hidden = hiddenPath(path);
  try {
    await rename(path, hidden);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return;
    throw fromErrno(err, `rename ${q(path)}`);
  }
  await removeTree(hidden);
}

/**
 * Deletes a bundle and its work dir (containerd `Bundle.Delete`): unmount
 * `rootfs` if anything is mounted under it, remove it (recursively only when
 * the mount table shows nothing mounted below it, so a still-mounted host
 * directory cannot be emptied), then delete
 * the bundle and the work dir by rename-to-hidden and remove. Deleting a
 * bundle that is already gone succeeds.
 *
 * The work dir removed is the one the layout names (`<root>/<ns>/<id>`);
 * the `work` symlink is not followed.
 *
 * @param bundle the bundle
 * @throws an error naming the rootfs when it cannot be unmounted or is not empty; when both the bundle
 *   and the work dir fail to go, the error mentions both
 */
export async function deleteBundle(bundle: Bundle): Promise<void> {
  const ctx = `delete bundle ${q(bundle.namespace + "/" + bundle.id)}`;
  // containerd follows the `work` symlink; we remove the work dir the layout names instead, so a
  // symlink that was changed (or never written) can neither redirect nor skip the removal.
  const work = workDir(bundle.root, bundle.namespace, bundle.id);
  const rootfs = bundleFile(bundle.path, "rootfs");
  try {
    await unmountRecursive(rootfs);
  } catch (err) {
    throw withContext(err, `${ctx}: unmount rootfs ${q(rootfs)}`);
  }
  try {
    await rmdir(rootfs);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A runtime given the bundle's own (unmounted) rootfs creates its mount points in it (proc, dev,
    // sys…). Those are ours to remove, but only once the mount table shows nothing left below rootfs,
    // so a host directory that is still mounted there is never emptied.
    if (code === "ENOTEMPTY" && (await mountsUnder(rootfs)).length === 0) {
      await removeTree(rootfs);
    } else if (code !== "ENOENT") throw fromErrno(err, `${ctx}: remove rootfs ${q(rootfs)}`);
  }
  let bundleErr: unknown;
  let workErr: unknown;
  try {
    await atomicDelete(bundle.path);
  } catch (err) {
    bundleErr = err;
  }
  try {
    await atomicDelete(work);
  } catch (err) {
    workErr = err;
  }
  if (bundleErr && workErr) {
    throw newError(
      "unknown",
      `${ctx}: failed to remove both bundle and work dir: ${(bundleErr as Error).message}; ${
        (workErr as Error).message
      }`,
      { cause: bundleErr },
    );
  }
  if (bundleErr || workErr) throw withContext(bundleErr ?? workErr, ctx);
}

/** A bundle found by {@link listBundles}. */
export interface BundleEntry {
  /** Namespace directory name. */
  namespace: string;
  /** Bundle directory name (the container id). */
  id: string;
  /** Bundle directory. */
  path: string;
}

/**
 * Directory names in `path` that we could have created: valid ids, or (with `hidden`) a dot and a valid
 * id, which is what a delete leaves.
 */
async function dirs(path: string, hidden = false): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return [];
    throw fromErrno(err, `list ${q(path)}`);
  }
  // Hidden entries are bundles being deleted, locks and records; names that fail
  // validation cannot have been created by us. Symlinks are not followed.
  return entries
    .filter((e) =>
      e.isDirectory() && isHiddenName(e.name) === hidden && isValidName(e.name.slice(hidden ? 1 : 0))
    )
    .map((e) => e.name)
    .sort();
}

function isValidName(name: string): boolean {
  try {
    validateId(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lists every bundle under a state directory, skipping hidden entries,
 * non-directories and names that are not valid ids.
 *
 * @param state state directory
 * @returns bundles sorted by namespace, then id
 * @throws errno-mapped errors other than a missing state directory (which lists nothing)
 */
export async function listBundles(state: string): Promise<BundleEntry[]> {
  const out: BundleEntry[] = [];
  for (const namespace of await dirs(state)) {
    for (const id of await dirs(namespaceStateDir(state, namespace))) {
      out.push({ namespace, id, path: bundleDir(state, namespace, id) });
    }
  }
  return out;
}

/** A hidden `.<id>` directory that an interrupted delete left, found by {@link listInterruptedDeletes}. */
export interface InterruptedDelete {
  /** Namespace directory name. */
  namespace: string;
  /** The container id the directory belonged to (its name without the dot). */
  id: string;
  /** `<state>/<ns>/.<id>` (a bundle) or `<root>/<ns>/.<id>` (a work dir). */
  path: string;
  /** Which of the two it was. */
  kind: "bundle" | "work";
  /** Last change of its entries (ms since the epoch): a removal in progress keeps it recent. */
  mtimeMs: number;
}

/**
 * Lists what deletes left half-done: {@link deleteBundle} renames `<id>` to
 * `.<id>` and then removes that, so a crash or kill in between leaves a
 * hidden directory that no loader reads and nothing else removes. Only
 * directories named `.` + a valid id, directly in a namespace dir of the state
 * or the root, are listed; `.records`, `.locks` and `.rootfs` sit one level
 * higher and are never taken. The list includes deletes still in progress:
 * callers skip those by age and by the container's lock.
 *
 * @param state state directory
 * @param root root directory, when its work dirs are to be listed too
 * @returns the directories, bundles first, each sorted by namespace, then id
 * @throws errno-mapped errors other than a missing directory (which lists nothing)
 */
export async function listInterruptedDeletes(state: string, root?: string): Promise<InterruptedDelete[]> {
  const out: InterruptedDelete[] = [];
  const bases: Array<[string, InterruptedDelete["kind"]]> = [[state, "bundle"]];
  if (root !== undefined) bases.push([root, "work"]);
  for (const [base, kind] of bases) {
    for (const namespace of await dirs(base)) {
      const nsDir = join(base, namespace);
      for (const name of await dirs(nsDir, true)) {
        const path = join(nsDir, name);
        const st = await lstat(path).catch(() => undefined);
        if (st) out.push({ namespace, id: name.slice(1), path, kind, mtimeMs: st.mtimeMs });
      }
    }
  }
  return out;
}

/**
 * Finishes a delete that was interrupted after its rename: does what
 * {@link deleteBundle} would have done next. Unmounts anything under its
 * `rootfs`, then removes the directory, but only when the mount table shows
 * nothing mounted below it any more, so a host directory is never emptied.
 *
 * @param entry a directory from {@link listInterruptedDeletes}
 * @throws FailedPreconditionError naming the mount points when something is still mounted below it;
 *   errno-mapped errors when it cannot be unmounted or removed
 */
export async function finishInterruptedDelete(entry: InterruptedDelete): Promise<void> {
  const ctx = `finish the interrupted delete of ${q(entry.namespace + "/" + entry.id)} (${q(entry.path)})`;
  try {
    if (entry.kind === "bundle") await unmountRecursive(bundleFile(entry.path, "rootfs"));
    const mounted = await mountsUnder(entry.path);
    if (mounted.length > 0) {
      throw new FailedPreconditionError(`still mounted at ${mounted.map((m) => q(m)).join(", ")}`);
    }
    await removeTree(entry.path);
  } catch (err) {
    throw withContext(err, ctx);
  }
}
