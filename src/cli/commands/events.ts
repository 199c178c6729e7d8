/**
 * `shimkit events`: follow task events from every shim of the state dir until
 * interrupted (SIGINT/SIGTERM end it with exit 0). Plain output is one line
 * per event, `time topic namespace container details`; `--json` prints one
 * JSON object per line.
 *
 * ```
 * shimkit events [--topic T]... [--all-namespaces] [--json]
 * ```
 *
 * @module
 */

import type { TaskEvent } from "../../events/topics.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { openManager } from "./_task.ts";
import { parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit events [--topic TOPIC]... [--all-namespaces] [--json]

Streams task events (/tasks/create, /tasks/start, /tasks/exit, ...) from the shims of
this state dir until interrupted (Ctrl-C).

Flags:
  --topic TOPIC         only events with this topic (repeatable)
  -A, --all-namespaces  events of every namespace
  --json                one JSON object per line
  -h, --help            show this help
`;

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * Formats one event as a plain line (pure): time, topic, namespace, container
 * ("-" when none) and the remaining fields as compact JSON.
 *
 * @param ev the event
 * @returns the line, ending in a newline
 */
export function formatEventLine(ev: TaskEvent): string {
  const { containerId: _c, ...rest } = ev.event;
  const details = Object.keys(rest).length > 0 ? JSON.stringify(rest, jsonReplacer) : "";
  const parts = [ev.timestamp.toISOString(), ev.topic, ev.namespace, ev.containerId || "-"];
  if (ev.synthesized) parts.push("(synthesized)");
  if (details) parts.push(details);
  return parts.join(" ") + "\n";
}

/**
 * Formats one event as a JSON line (pure).
 *
 * @param ev the event
 * @returns compact JSON ending in a newline
 */
export function formatEventJson(ev: TaskEvent): string {
  return JSON.stringify({
    timestamp: ev.timestamp,
    topic: ev.topic,
    namespace: ev.namespace,
    containerId: ev.containerId,
    typeUrl: ev.typeUrl,
    event: ev.event,
    ...(ev.synthesized ? { synthesized: true } : {}),
  }, jsonReplacer) + "\n";
}

/**
 * Runs `shimkit events`.
 *
 * @param args the arguments after `events`
 * @param ctx the command context
 * @returns 0 once interrupted
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("events", args, {
    topic: { type: "string", multiple: true },
    "all-namespaces": { type: "boolean", short: "A" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, false);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const json = v.json || ctx.global.json;
  const m = await openManager(ctx);
  const sub = m.subscribe({
    namespace: v["all-namespaces"] ? undefined : ctx.global.namespace,
    topics: v.topic && v.topic.length > 0 ? v.topic : undefined,
  });
  const stop = () => sub.close();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    ctx.logger.info("watching events", {
      namespace: v["all-namespaces"] ? "*" : ctx.global.namespace,
      topics: v.topic?.join(","),
    });
    for await (const ev of sub) ctx.stdout(json ? formatEventJson(ev) : formatEventLine(ev));
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    sub.close();
    await m.close().catch(() => {});
  }
  return EXIT_OK;
}
