/**
 * `shimkit --address ADDR publish --topic TOPIC --namespace NS`: what shims
 * run as their `-publish-binary` (containerd's `publish` command). The event
 * `Any` arrives on stdin and is appended to the events journal of the state
 * dir `ADDR` belongs to, where every subscriber sees it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { decodePublishInput, journalPathForAddress, publishEvent } from "../../events/publish.ts";
import { eventsJournalPath } from "../../events/server.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";

/** One-line usage. */
export const PUBLISH_USAGE = "usage: shimkit --address ADDR publish --topic TOPIC [--namespace NS] < event.any";

/**
 * Runs `shimkit publish`.
 *
 * @param args the arguments after `publish`
 * @param ctx the command context (`--address` comes from the global flags)
 * @returns 0 once the event is journaled
 * @throws UsageError without `--topic`; InvalidArgumentError for a stdin that is not an `Any`
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let values: { topic?: string; namespace?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: { topic: { type: "string" }, namespace: { type: "string" } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${PUBLISH_USAGE}`, { cause: err });
  }
  if (!values.topic) throw new UsageError(`publish: --topic is required\n${PUBLISH_USAGE}`);
  const address = ctx.global.address;
  const journal = address ? journalPathForAddress(address) : eventsJournalPath(ctx.global.state);
  const event = decodePublishInput(await ctx.stdin());
  await publishEvent(journal, {
    topic: values.topic,
    namespace: values.namespace ?? ctx.global.namespace,
    event,
  });
  return EXIT_OK;
}
