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

import type { ProcessInfo } from "../../taskapi/types.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { type Column, printJson, printTable } from "../output.ts";
import { withManager } from "./_task.ts";
import { onlyPositional, parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit pids [--json] ID

Lists the processes of container ID (host pids, with the exec each belongs to).

Flags:
  --json               print JSON
  -h, --help           show this help
`;

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
  const parsed = parseFlags("pids", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const id = onlyPositional("pids", parsed.positionals);
  const procs = await withManager(ctx, async (m) => (await m.get(ctx.global.namespace, id)).pids());
  procs.sort((a, b) => a.pid - b.pid);
  if (parsed.values.json || ctx.global.json) printJson(ctx, procs);
  else printTable(ctx, procs, PIDS_COLUMNS);
  return EXIT_OK;
}
