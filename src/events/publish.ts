/**
 * Publishing an event without a shim connection: the `publish` command
 * (shims that exec their `-publish-binary`) and the events shimkit
 * synthesizes write straight into the state dir's events journal, which is
 * what every subscriber reads.
 *
 * @module
 */

import { fromBinary } from "../api/protobuf.ts";
import { AnySchema } from "../gen/google/protobuf/any_pb.ts";
import { dirname, join } from "node:path";
import { EVENTS_JOURNAL_NAME } from "../bundle/layout.ts";
import { InvalidArgumentError, quoteValue, withContext } from "../errors.ts";
import { validateNamespace } from "../ids.ts";
import type { ShimEventPublisher } from "../shim/manager.ts";
import { dateToTimestamp } from "../taskapi/timestamp.ts";
import type { AnyValue } from "../taskapi/types.ts";
import { appendJournalLine, formatJournalLine } from "./journal.ts";
import { decodeEventValue, encodeTaskEvent } from "./topics.ts";

/** One event to publish. */
export interface PublishedEvent {
  /** Topic, e.g. `/tasks/exit`; must start with `/`. */
  topic: string;
  /** Namespace. */
  namespace: string;
  /** The event `Any`. */
  event: AnyValue;
  /** Publish time (default now). */
  timestamp?: Date;
  /** True for events shimkit makes up itself. */
  synthesized?: boolean;
}

/**
 * Decodes what a shim writes on the publish binary's stdin: a protobuf
 * `google.protobuf.Any` holding the event (not an Envelope).
 *
 * @param bytes stdin
 * @returns type URL and value
 * @throws InvalidArgumentError when the bytes are empty or not an `Any`
 */
export function decodePublishInput(bytes: Uint8Array): AnyValue {
  if (bytes.length === 0) throw new InvalidArgumentError("publish: no event on stdin");
  let any;
  try {
    any = fromBinary(AnySchema, bytes);
  } catch (err) {
    throw new InvalidArgumentError(`publish: stdin is not a protobuf Any: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (any.typeUrl === "") throw new InvalidArgumentError("publish: the event has no type url");
  return { typeUrl: any.typeUrl, value: any.value };
}

/**
 * The journal that goes with an events address: the shims' `-address` is
 * the state dir's events socket, and the journal sits beside it.
 *
 * @param address the events socket path, optionally `unix://`-prefixed
 * @returns the journal path
 * @throws InvalidArgumentError for an empty or relative address
 */
export function journalPathForAddress(address: string): string {
  const path = address.startsWith("unix://") ? address.slice("unix://".length) : address;
  if (!path.startsWith("/")) {
    throw new InvalidArgumentError(
      `publish: address ${JSON.stringify(address)} is not an absolute socket path`,
    );
  }
  return join(dirname(path), EVENTS_JOURNAL_NAME);
}

/**
 * Appends an event to a journal, where every subscriber of the state dir sees it.
 *
 * @param journalPath the events journal
 * @param ev topic, namespace, event and flags
 * @returns when written
 * @throws InvalidArgumentError for a bad topic or namespace; the OS error when the journal cannot be written
 */
export async function publishEvent(journalPath: string, ev: PublishedEvent): Promise<void> {
  if (!ev.topic.startsWith("/")) {
    throw new InvalidArgumentError(`publish: invalid topic ${quoteValue(ev.topic)}`);
  }
  try {
    validateNamespace(ev.namespace);
  } catch (err) {
    throw withContext(err, "publish");
  }
  let decoded: Record<string, unknown> | undefined;
  try {
    decoded = decodeEventValue(ev.event.typeUrl, ev.event.value);
  } catch {
    // Journal the raw bytes anyway; readers report what they cannot decode.
  }
  const rec = {
    timestamp: ev.timestamp ?? new Date(),
    namespace: ev.namespace,
    topic: ev.topic,
    typeUrl: ev.event.typeUrl,
    value: ev.event.value,
    synthesized: ev.synthesized,
  };
  await appendJournalLine(journalPath, formatJournalLine(rec, decoded));
}

/**
 * The publisher the shim manager gets for the events it synthesizes after a
 * dead shim: each event is encoded as a shim would and appended to the
 * journal, marked synthesized.
 *
 * @param journalPath the state dir's events journal
 * @returns a publisher for {@link ShimEventPublisher} users
 * @example
 * ```ts
 * new ShimManager({ ...opts, publisher: journalEventPublisher(eventsJournalPath(state)) });
 * ```
 */
export function journalEventPublisher(journalPath: string): ShimEventPublisher {
  return {
    publish: (namespace, topic, ev) =>
      publishEvent(journalPath, {
        topic,
        namespace,
        event: encodeTaskEvent(topic, { ...ev, exitedAt: dateToTimestamp(ev.exitedAt) }),
        synthesized: true,
      }),
  };
}
