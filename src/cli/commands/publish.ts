/**
 * `shimkit --address ADDR publish --topic TOPIC --namespace NS`: what shims
 * run as their `-publish-binary` (containerd's `publish` command). The event
 * `Any` arrives on stdin and is appended to the events journal of the state
 * dir `ADDR` belongs to, where every subscriber sees it.
 *
 * @module
 */

import { decodePublishInput, journalPathForAddress, publishEvent } from "../../events/publish.ts";
import { eventsJournalPath } from "../../bundle/layout.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { parseFlags } from "./_args.ts";

/** One-line usage. */
export const PUBLISH_USAGE =
  "usage: shimkit --address ADDR publish --topic TOPIC [--namespace NS] < event.any";

/**
 * Runs `shimkit publish`.
 *
 * @param args the arguments after `publish`
 * @param ctx the command context (`--address` comes from the global flags)
 * @returns 0 once the event is journaled
 * @throws UsageError without `--topic`; InvalidArgumentError for a stdin that is not an `Any`
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const { values } = parseFlags("publish", args, {
    topic: { type: "string" },
    namespace: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, false);
  if (values.help) {
    ctx.stdout(
      `${PUBLISH_USAGE}\n\nShims run this as their -publish-binary: it appends the event (a protobuf Any\n` +
        `read from stdin) to the events journal of the state dir ADDR belongs to.\n`,
    );
    return EXIT_OK;
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
