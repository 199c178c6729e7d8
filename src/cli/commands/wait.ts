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

import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { withManager } from "./_task.ts";
import { onlyPositional, parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit wait [--exec EXEC_ID] [--json] ID

Waits for container ID (or one of its execs) to exit, prints its exit status and exits
with it (128+N when signal N killed it). Returns at once for one that already exited.

Flags:
  --exec EXEC_ID       wait for that exec process instead of the init process
  --json               print the exit (id, execId, exitStatus, exitedAt) as JSON
  -h, --help           show this help
`;

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
  const parsed = parseFlags("wait", args, {
    exec: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const id = onlyPositional("wait", parsed.positionals);
  const exit = await withManager(ctx, async (m) => (await m.get(ctx.global.namespace, id)).wait(v.exec));
  if (v.json || ctx.global.json) printJson(ctx, { id, execId: v.exec ?? "", ...exit });
  else ctx.stdout(`${exit.exitStatus}\n`);
  return exit.exitStatus;
}
