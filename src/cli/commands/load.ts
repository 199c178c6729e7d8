/**
 * `shimkit load`: restore after a restart or a crash. Reconnects to every
 * running shim under the state dir, cleans up dead ones (their exit is
 * reported once as `/tasks/exit` + `/tasks/delete`), reaps leaked ones, and
 * removes work dirs, records, sockets and locks nothing owns. Prints what was
 * kept, reaped and cleaned.
 *
 * ```
 * shimkit load [--json]
 * ```
 *
 * Exit status: 0 when every bundle was handled; 1 when something could not be
 * (a shim that did not answer within `timeouts.load` is kept and listed as an error).
 *
 * @module
 */

import { socketDirOf } from "../../config/config.ts";
import { eventsSocketPath } from "../../bundle/layout.ts";
import { loadExisting, type LoadReport } from "../../shim/loader.ts";
import { createConfiguredResolver, TaskManager } from "../../task/manager.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_GENERIC, EXIT_OK } from "../exit_codes.ts";
import { type Column, printJson, printTable } from "../output.ts";
import { configOf } from "./_task.ts";
import { parseFlags } from "./_args.ts";
import { sweepFifoDirs } from "../stdio.ts";

/** Why `load` and `gc` removed a FIFO dir (see `sweepFifoDirs`). */
export const FIFO_DIR_REASON = "stdio fifo dir nobody uses";

const USAGE = `usage: shimkit load [--json]

Reconnects to running shims, cleans up dead and leaked ones, removes work dirs,
records, sockets, locks and stdio FIFO dirs nothing owns. Exit status 0 when
every bundle was handled, 1 when some could not be (see the errors).
`;

/** One line of the `load`/`gc` table. */
export interface ReportRow {
  /** `kept`, `reaped`, `cleaned` or `error` (`gc --dry-run`: `would reap`, `would remove`). */
  action: string;
  /** Namespace, when the row is about a container. */
  namespace?: string;
  /** Container id, when the row is about a container. */
  id?: string;
  /** What and why. */
  detail: string;
}

/** Table columns of `load` and `gc`. */
export const REPORT_COLUMNS: readonly Column<ReportRow>[] = [
  { header: "ACTION", value: "action" },
  { header: "NAMESPACE", value: "namespace" },
  { header: "ID", value: "id" },
  { header: "DETAIL", value: "detail" },
];

/**
 * Flattens a load report into table rows.
 *
 * @param r the report
 * @param include which parts to list (default all)
 * @returns rows in the order kept, reaped, cleaned, errors
 */
export function reportRows(
  r: LoadReport,
  include: ReadonlyArray<keyof LoadReport> = ["kept", "reaped", "cleaned", "errors"],
): ReportRow[] {
  const rows: ReportRow[] = [];
  if (include.includes("kept")) {
    for (const k of r.kept) {
      const parts = [
        k.shimPid ? `shim ${k.shimPid}` : "",
        k.taskPid ? `task ${k.taskPid}` : "",
        k.version ? `task api v${k.version}` : "",
        k.note ?? "",
      ];
      rows.push({
        action: "kept",
        namespace: k.namespace,
        id: k.id,
        detail: parts.filter((p) => p !== "").join(", "),
      });
    }
  }
  if (include.includes("reaped")) {
    for (const x of r.reaped) {
      const exit = x.exitStatus !== undefined ? ` (exit status ${x.exitStatus})` : "";
      rows.push({ action: "reaped", namespace: x.namespace, id: x.id, detail: x.reason + exit });
    }
  }
  if (include.includes("cleaned")) {
    for (const c of r.cleaned) {
      rows.push({ action: "cleaned", namespace: c.namespace, id: c.id, detail: `${c.path}: ${c.reason}` });
    }
  }
  if (include.includes("errors")) {
    for (const e of r.errors) {
      rows.push({ action: "error", namespace: e.namespace, id: e.id, detail: e.message });
    }
  }
  return rows;
}

/**
 * Opens a task manager on the CLI's dirs and restores every shim under them.
 *
 * @param ctx the command context
 * @returns the load report
 * @throws ShimkitError when the state or root dir cannot be used
 */
export async function runLoad(ctx: CommandContext): Promise<LoadReport> {
  const config = configOf(ctx);
  const tm = await TaskManager.open({
    state: ctx.global.state,
    root: ctx.global.root,
    logger: ctx.logger,
    config,
    resolver: createConfiguredResolver(config, ctx.env),
  });
  const { state, root, resolver } = tm;
  try {
    const report = await loadExisting(tm, {
      state,
      root,
      resolver,
      defaultRuntime: config.defaultRuntime,
      budgetMs: config.timeouts.load,
      concurrency: config.restore.concurrency,
      socketDirs: [socketDirOf(config)],
      sockets: [eventsSocketPath(state)],
      logger: ctx.logger,
    });
    // The CLI's own leftovers: stdio FIFO dirs of `run`s that were killed before they opened them.
    for (const path of await sweepFifoDirs(state)) report.cleaned.push({ path, reason: FIFO_DIR_REASON });
    return report;
  } finally {
    await tm.close().catch((e) => ctx.logger.debug("close task manager", { error: e }));
  }
}

/**
 * Runs `shimkit load`.
 *
 * @param args the arguments after `load`
 * @param ctx the command context
 * @returns 0 when every bundle was handled, 1 when there were errors
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("load", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const report = await runLoad(ctx);
  if (parsed.values.json || ctx.global.json) printJson(ctx, report);
  else printTable(ctx, reportRows(report), REPORT_COLUMNS);
  return report.errors.length === 0 ? EXIT_OK : EXIT_GENERIC;
}
