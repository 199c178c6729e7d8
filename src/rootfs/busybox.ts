/**
 * A minimal root filesystem assembled from the host's static busybox
 * (Debian `busybox-static`): `bin/busybox` with applet symlinks, the usual
 * mount points and a root/nobody `etc/passwd`. The CLI uses it when `run` or
 * `create` is given neither `--rootfs` nor `--bundle`; the tests use it as
 * their container image.
 *
 * The rootfs is built in a temp dir beside its destination and renamed into
 * place, so concurrent processes never see half of one and the loser of a
 * race simply uses the winner's. A rootfs that exists is reused as is.
 *
 * @module
 */

import { chmod, copyFile, mkdir, mkdtemp, open, rename, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fromErrno, NotFoundError } from "../errors.ts";
import { removeTree } from "../platform/remove_tree.ts";

/** Where the host's static busybox is looked for, in order. */
export const BUSYBOX_PATHS: readonly string[] = Object.freeze(["/bin/busybox", "/usr/bin/busybox"]);

/** Applets linked into `/bin` of the rootfs. */
export const APPLETS: readonly string[] = Object.freeze([
  "sh",
  "echo",
  "sleep",
  "true",
  "false",
  "cat",
  "ls",
  "env",
  "id",
  "ps",
  "kill",
  "mkdir",
  "rm",
  "touch",
  "head",
  "tail",
  "wc",
  "grep",
  "printf",
  "pwd",
  "hostname",
  "uname",
  "yes",
  "seq",
  "ln",
  "mount",
  "umount",
  "test",
  "[",
  "stat",
  "date",
  "tee",
  "dd",
  "wget",
  "nc",
  "timeout",
  "trap",
  "whoami",
  "mkfifo",
]);

/** Directories of the rootfs besides `bin`. */
const DIRS = ["proc", "sys", "dev", "tmp", "etc", "root", "run"];
const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";

/** ELF program header type of the dynamic loader entry (`PT_INTERP`). */
const PT_INTERP = 3;
/** Bytes read from a candidate; a program header table beyond this is treated as "cannot tell". */
const ELF_PROBE_BYTES = 4096;

/**
 * Tells whether the start of a file is a statically linked ELF executable: an
 * ELF image whose program headers hold no `PT_INTERP` (dynamic loader) entry,
 * which is what a binary copied into an otherwise empty rootfs needs (pure).
 * Static-PIE binaries count as static.
 *
 * @param head the first bytes of the file (the ELF header and its program header table)
 * @returns "static", "dynamic", or "unknown" when it is not ELF or the table is not in `head`
 */
export function elfLinkage(head: Uint8Array): "static" | "dynamic" | "unknown" {
  if (head.length < 52 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) {
    return "unknown";
  }
  const is64 = head[4] === 2;
  if (!is64 && head[4] !== 1) return "unknown";
  const little = head[5] === 1;
  if (!little && head[5] !== 2) return "unknown";
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (is64 && head.length < 64) return "unknown";
  const phoff = is64 ? Number(view.getBigUint64(0x20, little)) : view.getUint32(0x1c, little);
  const phentsize = view.getUint16(is64 ? 0x36 : 0x2a, little);
  const phnum = view.getUint16(is64 ? 0x38 : 0x2c, little);
  if (phnum === 0) return "static";
  if (phentsize < 4 || phoff + phnum * phentsize > head.length) return "unknown";
  for (let i = 0; i < phnum; i++) {
    if (view.getUint32(phoff + i * phentsize, little) === PT_INTERP) return "dynamic";
  }
  return "static";
}

/** The outcome of {@link findStaticBusybox}. */
export interface BusyboxLookup {
  /** The first candidate that is a statically linked executable, if any. */
  path?: string;
  /** Why each earlier candidate was passed over, e.g. `"/bin/busybox" is dynamically linked`. */
  problems: string[];
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buf = new Uint8Array(ELF_PROBE_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Looks for a static busybox among `candidates`, in order. A candidate that
 * is missing, not a regular file, or dynamically linked (Debian's `busybox`
 * rather than `busybox-static`) is skipped and noted in `problems`.
 *
 * @param candidates paths to try (default {@link BUSYBOX_PATHS})
 * @returns the path found, if any, and why the others were skipped
 */
export async function findStaticBusybox(
  candidates: readonly string[] = BUSYBOX_PATHS,
): Promise<BusyboxLookup> {
  const problems: string[] = [];
  for (const path of candidates) {
    let head: Uint8Array;
    try {
      const st = await stat(path);
      if (!st.isFile()) {
        problems.push(`"${path}" is not a regular file`);
        continue;
      }
      head = await readHead(path);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") problems.push(`"${path}": ${(e as Error).message}`);
      continue;
    }
    const linkage = elfLinkage(head);
    if (linkage === "static") return { path, problems };
    problems.push(
      linkage === "dynamic" ? `"${path}" is dynamically linked` : `"${path}" is not a static ELF executable`,
    );
  }
  return { problems };
}

/**
 * Finds the host's static busybox.
 *
 * @param candidates paths to try (default {@link BUSYBOX_PATHS})
 * @returns its path, or undefined when no static busybox is installed
 */
export async function findBusybox(
  candidates: readonly string[] = BUSYBOX_PATHS,
): Promise<string | undefined> {
  return (await findStaticBusybox(candidates)).path;
}

/**
 * Tells whether `dir` holds a complete busybox rootfs (one this module
 * renamed into place).
 *
 * @param dir the rootfs directory
 * @returns true when `dir/bin/busybox` exists
 */
export async function isBusyboxRootfs(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, "bin", "busybox"))).isFile();
  } catch {
    return false;
  }
}

/** Options for {@link ensureBusyboxRootfs}. */
export interface EnsureBusyboxRootfsOptions {
  /** The static busybox to copy (default: the first of {@link BUSYBOX_PATHS} that is one). */
  busybox?: string;
}

/**
 * Makes sure `dir` holds a busybox rootfs (`bin/busybox`, applet symlinks in
 * `bin/`, `proc`, `sys`, `dev`, `tmp`, `etc/passwd`, `etc/group`, `root`,
 * `run`), building it when absent. Idempotent and safe to call from several
 * processes at once: the rootfs is built in a hidden temp dir beside `dir`
 * and renamed into place. Containers sharing it should mount it read-only.
 *
 * @param dir the rootfs directory (its parent is created when missing)
 * @param opts the busybox binary to use
 * @returns `dir`
 * @throws NotFoundError when no static busybox is installed (and none was given)
 * @throws ShimkitError of the errno kind when the rootfs cannot be written
 */
export async function ensureBusyboxRootfs(
  dir: string,
  opts: EnsureBusyboxRootfsOptions = {},
): Promise<string> {
  await buildBusyboxRootfsIfMissing(dir, opts);
  return dir;
}

/**
 * {@link ensureBusyboxRootfs}, telling whether this call built the rootfs
 * (false when it was there already, or another process built it first).
 *
 * @param dir the rootfs directory (its parent is created when missing)
 * @param opts the busybox binary to use
 * @returns true when this call renamed a new rootfs into place
 * @throws NotFoundError when no static busybox is installed (and none was given)
 * @throws ShimkitError of the errno kind when the rootfs cannot be written
 */
export async function buildBusyboxRootfsIfMissing(
  dir: string,
  opts: EnsureBusyboxRootfsOptions = {},
): Promise<boolean> {
  if (await isBusyboxRootfs(dir)) return false;
  let busybox = opts.busybox;
  if (busybox === undefined) {
    const found = await findStaticBusybox();
    if (!found.path) {
      const why = found.problems.length > 0 ? ` (${found.problems.join("; ")})` : "";
      throw new NotFoundError(
        `no static busybox in ${BUSYBOX_PATHS.join(" or ")}${why}: install busybox-static`,
      );
    }
    busybox = found.path;
  }
  const parent = dirname(dir);
  let tmp: string;
  try {
    await mkdir(parent, { recursive: true, mode: 0o711 });
    tmp = await mkdtemp(join(parent, `.${basename(dir)}-`));
  } catch (e) {
    throw fromErrno(e, `build busybox rootfs "${dir}"`);
  }
  try {
    await chmod(tmp, 0o755);
    await mkdir(join(tmp, "bin"), { mode: 0o755 });
    for (const d of DIRS) await mkdir(join(tmp, d), { mode: 0o755 });
    await chmod(join(tmp, "tmp"), 0o1777);
    await chmod(join(tmp, "root"), 0o700);
    await copyFile(busybox, join(tmp, "bin", "busybox"));
    await chmod(join(tmp, "bin", "busybox"), 0o755);
    for (const a of APPLETS) await symlink("busybox", join(tmp, "bin", a));
    await writeFile(join(tmp, "etc", "passwd"), PASSWD, { mode: 0o644 });
    await writeFile(join(tmp, "etc", "group"), GROUP, { mode: 0o644 });
    try {
      await rename(tmp, dir);
      return true;
    } catch (e) {
      // Another process won the race (rename onto a non-empty dir fails); its rootfs is as good as ours.
      if (!(await isBusyboxRootfs(dir))) throw e;
      await removeTree(tmp);
      return false;
    }
  } catch (e) {
    await removeTree(tmp);
    throw fromErrno(e, `build busybox rootfs "${dir}" from "${busybox}"`);
  }
}
