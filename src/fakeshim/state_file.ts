/**
 * The fake shim's small state file in the bundle, written by the daemon and
 * read by `delete` (the real shim asks runc instead): the daemon's pid, its
 * socket, and the init process's pid and exit.
 *
 * @module
 */

import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** File name of the fake's state inside a bundle (private to the fake shim). */
export const FAKE_STATE_FILE = "fake-shim.json";

/** What the daemon records about one container. */
export interface FakeState {
  /** The daemon's pid. */
  daemonPid: number;
  /** The socket path the daemon serves (removed by `delete`). */
  socket?: string;
  /** Keep the socket file on exit (the `stale-socket` fault). */
  keepSocket?: boolean;
  /** The init's synthetic pid. */
  pid?: number;
  /** The init's exit status once it exited. */
  exitStatus?: number;
  /** The init's exit time (ISO) once it exited. */
  exitedAt?: string;
}

/**
 * Reads a bundle's fake state.
 *
 * @param bundle the bundle directory
 * @returns the state, or undefined when there is none (or it is unreadable)
 */
export async function readFakeState(bundle: string): Promise<FakeState | undefined> {
  try {
    return JSON.parse(await readFile(join(bundle, FAKE_STATE_FILE), "utf8")) as FakeState;
  } catch {
    return undefined;
  }
}

/**
 * Merges fields into a bundle's fake state, atomically (temp file + rename).
 *
 * @param bundle the bundle directory
 * @param patch fields to set
 */
export async function updateFakeState(bundle: string, patch: Partial<FakeState>): Promise<void> {
  const cur = (await readFakeState(bundle)) ?? { daemonPid: process.pid };
  const path = join(bundle, FAKE_STATE_FILE);
  const tmp = join(bundle, `.${FAKE_STATE_FILE}.${process.pid}`);
  await writeFile(tmp, JSON.stringify({ ...cur, ...patch }), { mode: 0o600 });
  await rename(tmp, path);
}
