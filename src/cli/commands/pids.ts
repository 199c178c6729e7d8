/**
 * `shimkit pids`: the processes of a container (`Pids`): PID and, for exec
 * processes, the exec id.
 *
 * ```
 * shimkit pids [--json] ID
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { ProcessInfo } from "../../task/types.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { type Column, printJson, printTable } from "../output.ts";
import { withManager } from "./_task.ts";

const USAGE = "usage: shimkit pids [--json] ID\n";

/** Table columns of `pids`. */
export const PIDS_COLUMNS: readonly Column<ProcessInfo>[] = [
  { header: "PID", value: "pid" },
  { header: "EXEC", value: "execId" },
];

/**
 * Runs `shimkit pids`.
 *
 * @param args the arguments after `pids`
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a bad command line
 * @throws NotFoundError when there is no such container
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    throw new UsageError(`pids: ${(e as Error).message}`, { cause: e });
  }
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) throw new UsageError("pids: want exactly one container ID");
  const id = parsed.positionals[0];
  const procs = await withManager(ctx, async (m) => (await m.get(ctx.global.namespace, id)).pids());
  procs.sort((a, b) => a.pid - b.pid);
  if (parsed.values.json || ctx.global.json) printJson(ctx, procs);
  else printTable(ctx, procs, PIDS_COLUMNS);
  return EXIT_OK;
}
