/**
 * Crash-safe small-file writes: write a hidden temp file beside the target,
 * fsync it, rename it over the target, fsync the directory. A reader sees
 * the old content or the new, never a torn file.
 *
 * @module
 */

import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Atomically replaces `path` with `data`.
 *
 * @param path target file
 * @param data contents
 * @param mode permission bits of the new file (applied with fchmod, so the umask does not narrow them)
 * @throws the underlying errno error (ENOENT when the directory is missing, …)
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  // Hidden name: bundle loaders and listings skip dot-files, so a crash mid-write leaves nothing they read.
  const tmp = join(dir, `.${basename(path)}.${randomHex(6)}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dh = await open(dir, "r").catch(() => undefined);
  if (dh) await dh.sync().catch(() => {}).finally(() => dh.close());
}

/** `bytes` random bytes as hex; Web Crypto, so the start path never loads `node:crypto` (see `src/sha256.ts`). */
function randomHex(bytes: number): string {
  let hex = "";
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) hex += b.toString(16).padStart(2, "0");
  return hex;
}
