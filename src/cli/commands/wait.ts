/**
 * `shimkit wait`: wait for a container (or one exec) to exit, print its exit
 * status and exit with it (128+N when signal N killed it).
 *
 * ```
 * shimkit wait [--exec EXEC_ID] [--json] ID
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { withManager } from "./_task.ts";

const USAGE = "usage: shimkit wait [--exec EXEC_ID] [--json] ID\n";

/**
 * Runs `shimkit wait`.
 *
 * @param args the arguments after `wait`
 * @param ctx the command context
 * @returns the exit status
 * @throws UsageError for a bad command line
 * @throws NotFoundError when there is no such container or exec
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { exec: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    throw new UsageError(`wait: ${(e as Error).message}`, { cause: e });
  }
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) throw new UsageError("wait: want exactly one container ID");
  const id = parsed.positionals[0];
  const exit = await withManager(ctx, async (m) => (await m.get(ctx.global.namespace, id)).wait(v.exec));
  if (v.json || ctx.global.json) printJson(ctx, { id, execId: v.exec ?? "", ...exit });
  else ctx.stdout(`${exit.exitStatus}\n`);
  return exit.exitStatus;
}
