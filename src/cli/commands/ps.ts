/**
 * `shimkit ps` (alias `ls`): list the containers of the namespace (or of all
 * namespaces with `--all-namespaces`), with the shim asked for each task's
 * status. Columns `ID RUNTIME PID STATUS`; `--json` prints the full summaries.
 *
 * ```
 * shimkit ps [--all-namespaces] [--quiet] [--json]
 * ```
 *
 * @module
 */

import type { TaskSummary } from "../../task/manager.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { type Column, printJson, printTable } from "../output.ts";
import { withManager } from "./_task.ts";
import { parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit ps [--all-namespaces] [--quiet] [--json]

Lists the containers of the namespace (-n NS before the command; default "default").

Flags:
  -A, --all-namespaces  list every namespace
  -q, --quiet           print only the ids
  --json                print JSON
  -h, --help            show this help
`;

/** Table columns of `ps`; NAMESPACE is added with `--all-namespaces`. */
export const PS_COLUMNS: readonly Column<TaskSummary>[] = [
  { header: "ID", value: "id" },
  { header: "RUNTIME", value: "runtime" },
  { header: "PID", value: (t) => (t.pid > 0 ? t.pid : undefined) },
  { header: "STATUS", value: "status" },
];

/**
 * Runs `shimkit ps`.
 *
 * @param args the arguments after `ps`
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("ps", args, {
    "all-namespaces": { type: "boolean", short: "A" },
    quiet: { type: "boolean", short: "q" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const all = v["all-namespaces"] ?? false;
  const rows = await withManager(ctx, (m) => m.list(all ? undefined : ctx.global.namespace));
  rows.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.id.localeCompare(b.id));
  if (v.json || ctx.global.json) {
    printJson(ctx, rows);
  } else if (v.quiet) {
    ctx.stdout(rows.map((r) => `${r.id}\n`).join(""));
  } else {
    const columns = all
      ? [{ header: "NAMESPACE", value: "namespace" } as Column<TaskSummary>, ...PS_COLUMNS]
      : PS_COLUMNS;
    printTable(ctx, rows, columns);
  }
  return EXIT_OK;
}
