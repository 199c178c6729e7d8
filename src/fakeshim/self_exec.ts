/**
 * How the fake shim re-executes itself, as a flat argv. Kept for callers that
 * want a single array; the answer comes from `src/platform/process.ts`.
 *
 * @module
 */

import { selfCommand as platformSelfCommand } from "../platform/process.ts";

/**
 * The argv prefix that runs this program again: `[binary]` when compiled,
 * `[runtime, …flags, script]` when a script is interpreted.
 *
 * @returns the command prefix; append the program's own arguments
 */
export function selfCommand(): string[] {
  const c = platformSelfCommand();
  return [c.file, ...c.args];
}
