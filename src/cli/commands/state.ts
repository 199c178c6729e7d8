/**
 * `shimkit state`: a container's (or one exec's) task state as the shim
 * reports it: id, pid, status, exit status and time, stdio, bundle.
 *
 * ```
 * shimkit state [--exec EXEC_ID] [--json] ID
 * ```
 *
 * @module
 */

import type { TaskState } from "../../taskapi/types.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { formatTable, printJson } from "../output.ts";
import { withManager } from "./_task.ts";
import { onlyPositional, parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit state [--exec EXEC_ID] [--json] ID

Shows the task state of container ID (or one of its execs): pid, status, exit status, stdio.

Flags:
  --exec EXEC_ID       show that exec process instead of the init process
  --json               print JSON
  -h, --help           show this help
`;

/**
 * Formats a task state as `FIELD  VALUE` lines (pure).
 *
 * @param st the state
 * @returns the text, one line per field
 */
export function formatState(st: TaskState): string {
  const rows: Array<[string, unknown]> = [
    ["id", st.id],
    ["exec", st.execId],
    ["pid", st.pid > 0 ? st.pid : undefined],
    ["status", st.status],
    ["exit status", st.status === "stopped" ? st.exitStatus : undefined],
    ["exited at", st.exitedAt],
    ["terminal", st.terminal],
    ["stdin", st.stdin],
    ["stdout", st.stdout],
    ["stderr", st.stderr],
    ["bundle", st.bundle],
  ];
  return formatTable(rows.map(([field, value]) => ({ field, value })), [
    { header: "FIELD", value: "field" },
    { header: "VALUE", value: "value" },
  ]);
}

/**
 * Runs `shimkit state`.
 *
 * @param args the arguments after `state`
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a bad command line
 * @throws NotFoundError when there is no such container or exec
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("state", args, {
    exec: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const id = onlyPositional("state", parsed.positionals);
  const st = await withManager(ctx, async (m) => (await m.get(ctx.global.namespace, id)).state(v.exec));
  if (v.json || ctx.global.json) printJson(ctx, st);
  else ctx.stdout(formatState(st));
  return EXIT_OK;
}
