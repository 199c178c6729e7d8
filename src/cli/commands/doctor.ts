/**
 * `shimkit doctor`: a read-only inventory of a state directory, ours (the
 * default) or containerd's own `io.containerd.runtime.v2.task` layout. For
 * each bundle: namespace, id, runtime, bootstrap version and protocol, shim
 * and task pids, whether the socket answers and the task's status. Then the
 * problems: dead or leaked shims, empty bundles, unresolvable runtimes,
 * missing bootstrap data, work dirs and records without a bundle, stale
 * sockets and locks, bundles and work dirs an interrupted delete left.
 * Nothing is changed; `shimkit gc` acts on ours.
 *
 * ```
 * shimkit doctor [--state DIR] [--root DIR] [--socket-dir DIR]... [--timeout DURATION] [--json]
 * ```
 *
 * Exit status: 0 when no error-level problem was found (warnings allowed),
 * 1 when at least one was; other codes as documented in docs/exit-codes.md.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import { socketDirOf } from "../../config/config.ts";
import { parseDuration } from "../../config/duration.ts";
import { doctor, type DoctorOptions, type DoctorReport } from "../../doctor/doctor.ts";
import type { BundleReport, Problem } from "../../doctor/classify.ts";
import { eventsSocketPath } from "../../bundle/layout.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_GENERIC, EXIT_OK, UsageError } from "../exit_codes.ts";
import { type Column, formatTable, printJson } from "../output.ts";
import { configOf } from "./_task.ts";
import { createConfiguredResolver } from "../../task/manager.ts";
import { parseFlags } from "./_args.ts";
import { isHostPid } from "../../platform/process.ts";

const USAGE =
  `usage: shimkit doctor [--state DIR] [--root DIR] [--socket-dir DIR]... [--timeout DURATION] [--json]

Read-only check of a state directory: ours by default, or containerd's
(--state /run/containerd/io.containerd.runtime.v2.task). Exit status 0 when
no error-level problem is found, 1 when one is.
`;

/** containerd's runtime v2 plugin directory name; its root sits under /var/lib/containerd. */
const CONTAINERD_PLUGIN = "io.containerd.runtime.v2.task";

/**
 * Picks the root directory that belongs to an inspected state directory: ours for our state,
 * containerd's default root for containerd's default state, else none (work-dir checks are skipped).
 *
 * @param state the state directory inspected
 * @param ours our state and root directories
 * @returns the root, or undefined when it cannot be told
 */
export function rootFor(state: string, ours: { state: string; root: string }): string | undefined {
  if (resolve(state) === resolve(ours.state)) return ours.root;
  if (resolve(state) === `/run/containerd/${CONTAINERD_PLUGIN}`) {
    return `/var/lib/containerd/${CONTAINERD_PLUGIN}`;
  }
  return undefined;
}

const BUNDLE_COLUMNS: readonly Column<BundleReport>[] = [
  { header: "NAMESPACE", value: "namespace" },
  { header: "ID", value: "id" },
  { header: "HEALTH", value: "health" },
  { header: "RUNTIME", value: (b) => b.runtime ? basename(b.runtime) : undefined },
  {
    header: "BOOTSTRAP",
    value: (b) =>
      b.bootstrap ? `v${b.bootstrap.version} ${b.bootstrap.protocol} (${b.bootstrap.source})` : undefined,
  },
  {
    header: "SHIM",
    value: (b) => b.shimPid ? `${b.shimPid}${b.shimAlive === false ? " (dead)" : ""}` : undefined,
  },
  {
    header: "TASK",
    value: (b) =>
      b.taskPid
        ? `${b.taskPid}${b.taskAlive === false ? " (dead)" : isHostPid(b.taskPid) ? "" : " (not a host pid)"}`
        : undefined,
  },
  { header: "SOCKET", value: "dial" },
  { header: "STATUS", value: "taskStatus" },
];

const PROBLEM_COLUMNS: readonly Column<Problem>[] = [
  { header: "SEVERITY", value: "severity" },
  { header: "CODE", value: "code" },
  { header: "PATH", value: "path" },
  { header: "MESSAGE", value: "message" },
];

/**
 * Makes a report JSON-safe: errors inside probes become their messages.
 *
 * @param r the doctor report
 * @returns a plain object for `--json`
 */
export function reportJson(r: DoctorReport): Record<string, unknown> {
  return {
    ...r,
    bundles: r.bundles.map((b) => ({
      ...b,
      pids: b.pids &&
        {
          ...b.pids,
          error: b.pids.error === undefined
            ? undefined
            : (b.pids.error as Error).message ?? String(b.pids.error),
        },
    })),
  };
}

/**
 * Runs `shimkit doctor`.
 *
 * @param args the arguments after `doctor`
 * @param ctx the command context
 * @returns 0 when no error-level problem was found, else 1
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("doctor", args, {
    state: { type: "string" },
    root: { type: "string" },
    "socket-dir": { type: "string", multiple: true },
    timeout: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  let timeoutMs = 1000;
  if (v.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(v.timeout);
    } catch (e) {
      throw new UsageError(`doctor: --timeout: ${(e as Error).message}`, { cause: e });
    }
  }
  const config = configOf(ctx);
  const state = v.state ?? ctx.global.state;
  const ours = resolve(state) === resolve(ctx.global.state);
  const opts: DoctorOptions = {
    state,
    root: v.root ?? rootFor(state, ctx.global),
    socketDirs: v["socket-dir"] ?? (ours ? [socketDirOf(config)] : []),
    sockets: ours ? [eventsSocketPath(state)] : [],
    resolver: createConfiguredResolver(config, ctx.env),
    timeoutMs,
    concurrency: config.restore.concurrency,
  };
  const report = await doctor(opts);
  if (v.json || ctx.global.json) {
    printJson(ctx, reportJson(report));
  } else {
    ctx.stdout(
      `state ${report.state}${
        report.root ? `, root ${report.root}` : " (root unknown: work dirs not checked)"
      }\n`,
    );
    ctx.stdout(formatTable(report.bundles, BUNDLE_COLUMNS));
    if (report.problems.length > 0) ctx.stdout("\n" + formatTable(report.problems, PROBLEM_COLUMNS));
    ctx.stdout(
      report.ok
        ? "\nno problems found\n"
        : `\n${report.problems.filter((p) => p.severity === "error").length} problem(s) found\n`,
    );
  }
  return report.ok ? EXIT_OK : EXIT_GENERIC;
}
