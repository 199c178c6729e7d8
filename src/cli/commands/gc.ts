/**
 * `shimkit gc`: remove what is left over under our state and root dirs:
 * dead shims (cleaned up as on load: `shim delete`, exit reported once),
 * leaked shims (Delete + Shutdown), empty bundles, work dirs and records
 * without a bundle, stale sockets, stale locks, and the hidden `.<id>` bundles
 * and work dirs of interrupted deletes. A container whose lock is
 * held by a live process (being created or deleted) is never touched.
 * `--dry-run` only lists what would be done, from the same checks `doctor` makes.
 *
 * ```
 * shimkit gc [--dry-run] [--json]
 * ```
 *
 * Exit status: 0 when everything was handled (or, with `--dry-run`, listed);
 * 1 when something could not be removed.
 *
 * @module
 */

import { socketDirOf } from "../../config/config.ts";
import type { Problem, ProblemCode } from "../../doctor/classify.ts";
import { doctor } from "../../doctor/doctor.ts";
import { eventsSocketPath } from "../../bundle/layout.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_GENERIC, EXIT_OK } from "../exit_codes.ts";
import { printTable } from "../output.ts";
import { configOf } from "./_task.ts";
import { createConfiguredResolver } from "../../task/manager.ts";
import { FIFO_DIR_REASON, REPORT_COLUMNS, type ReportRow, reportRows, runLoad } from "./load.ts";
import { sweepFifoDirs } from "../stdio.ts";
import { parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit gc [--dry-run] [--json]

Reaps dead and leaked shims and removes orphaned bundles, work dirs, records,
stale sockets, stale locks, unused stdio FIFO dirs and what interrupted deletes
left under the state and root dirs. --dry-run only lists.
`;

/** What gc does about each problem doctor can report; problems not listed are left alone. */
const GC_ACTIONS: Partial<Record<ProblemCode, "would reap" | "would remove">> = {
  "empty-bundle": "would remove",
  "dead-shim": "would reap",
  "leaked-shim": "would reap",
  "missing-address": "would reap",
  "orphan-work-dir": "would remove",
  "orphan-record": "would remove",
  "stale-socket": "would remove",
  "stale-lock": "would remove",
  "interrupted-delete": "would remove",
};

/**
 * Lists what `gc` would do about a set of problems.
 *
 * @param problems what doctor found
 * @returns one row per problem gc acts on
 */
export function plannedRows(problems: readonly Problem[]): ReportRow[] {
  const rows: ReportRow[] = [];
  for (const p of problems) {
    const action = GC_ACTIONS[p.code];
    if (!action) continue;
    // One row per container: a dead shim with an unresolvable runtime is still one reap.
    if (
      p.id !== undefined && action === "would reap" &&
      rows.some((r) => r.action === action && r.id === p.id && r.namespace === p.namespace)
    ) continue;
    rows.push({
      action,
      namespace: p.namespace,
      id: p.id,
      detail: action === "would reap" ? `${p.code}: ${p.message}` : `${p.path}: ${p.code}`,
    });
  }
  return rows;
}

/**
 * Runs `shimkit gc`.
 *
 * @param args the arguments after `gc`
 * @param ctx the command context
 * @returns 0 when done, 1 when something could not be handled
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("gc", args, {
    "dry-run": { type: "boolean", short: "n" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  // `--json` after the command works like the global flag.
  const out = { ...ctx, global: { ...ctx.global, json: v.json || ctx.global.json } };
  if (v["dry-run"]) {
    const config = configOf(ctx);
    const { state, root } = ctx.global;
    const report = await doctor({
      state,
      root,
      socketDirs: [socketDirOf(config)],
      sockets: [eventsSocketPath(state)],
      resolver: createConfiguredResolver(config, ctx.env),
      timeoutMs: Math.min(config.timeouts.load, 1000),
      concurrency: config.restore.concurrency,
    });
    const rows = plannedRows(report.problems);
    for (const dir of await sweepFifoDirs(state, { dryRun: true })) {
      rows.push({ action: "would remove", detail: `${dir}: ${FIFO_DIR_REASON}` });
    }
    printTable(out, rows, REPORT_COLUMNS);
    return EXIT_OK;
  }
  const report = await runLoad(ctx);
  printTable(out, reportRows(report, ["reaped", "cleaned", "errors"]), REPORT_COLUMNS);
  return report.errors.length === 0 ? EXIT_OK : EXIT_GENERIC;
}
