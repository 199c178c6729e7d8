/**
 * Event topics and their messages (protocol-facts.md §5): the topic ↔ schema
 * table, decoding an event `Any` into a plain object, and the
 * {@link TaskEvent} shape subscribers receive. Pure: no I/O.
 *
 * @module
 */

import type { DescMessage, Message, MessageInitShape } from "@bufbuild/protobuf";
import { create, fromBinary, toBinary } from "../api/protobuf.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "../gen/google/protobuf/any_pb.ts";
import { typeNameOfUrl } from "../api/type_url.ts";
import { InvalidArgumentError } from "../errors.ts";
import {
  TaskCheckpointedSchema,
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "../gen/containerd/events/task_pb.ts";
import type { Envelope } from "../gen/containerd/types/event_pb.ts";
import { timestampToDate } from "../taskapi/timestamp.ts";

/** One event as subscribers see it: the envelope's fields plus the decoded message. */
export interface TaskEvent {
  /** The topic, e.g. `/tasks/exit`. */
  topic: string;
  /** The namespace the event belongs to. */
  namespace: string;
  /** When the publisher stamped the event. */
  timestamp: Date;
  /** The container the event is about ("" when the message has no `containerId`). */
  containerId: string;
  /** The decoded message as a plain object, e.g. `{containerId, id, pid, exitStatus, exitedAt}`. */
  event: Record<string, unknown>;
  /** The event `Any`'s type URL, e.g. `containerd.events.TaskExit`. */
  typeUrl: string;
  /** True for events shimkit made up itself (dead-shim cleanup), not sent by a shim. */
  synthesized?: boolean;
}

/** Topic → message schema, identical in containerd 1.6 and 2.x (protocol-facts.md §5). */
export const TOPIC_SCHEMAS: ReadonlyMap<string, DescMessage> = new Map<string, DescMessage>([
  ["/tasks/create", TaskCreateSchema],
  ["/tasks/start", TaskStartSchema],
  ["/tasks/exit", TaskExitSchema],
  ["/tasks/delete", TaskDeleteSchema],
  ["/tasks/oom", TaskOOMSchema],
  ["/tasks/exec-added", TaskExecAddedSchema],
  ["/tasks/exec-started", TaskExecStartedSchema],
  ["/tasks/paused", TaskPausedSchema],
  ["/tasks/resumed", TaskResumedSchema],
  ["/tasks/checkpointed", TaskCheckpointedSchema],
]);

/** Type name → topic, the inverse of {@link TOPIC_SCHEMAS}. */
const TOPIC_OF_TYPE: ReadonlyMap<string, string> = new Map(
  [...TOPIC_SCHEMAS].map(([topic, schema]) => [schema.typeName, topic]),
);

/** Type name → schema of the task events (only these are decoded: no full type registry on this path). */
const SCHEMA_OF_TYPE: ReadonlyMap<string, DescMessage> = new Map(
  [...TOPIC_SCHEMAS.values()].map((schema) => [schema.typeName, schema]),
);

/**
 * Returns the topic a shim uses for an event type.
 *
 * @param typeUrl the event `Any` type URL, bare or prefixed
 * @returns the topic, or undefined for types that are not task events
 */
export function topicOfTypeUrl(typeUrl: string): string | undefined {
  return TOPIC_OF_TYPE.get(typeNameOfUrl(typeUrl));
}

/**
 * Converts a protobuf-es message into a plain object: `$typeName` dropped,
 * timestamps as `Date` (undefined when not set), 64-bit integers as numbers,
 * nested messages and lists converted the same way.
 *
 * @param msg a message
 * @returns a fresh plain object
 */
export function toPlainObject(msg: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in msg) {
    if (key === "$typeName" || key === "$unknown") continue;
    out[key] = plainValue((msg as unknown as Record<string, unknown>)[key]);
  }
  return out;
}

function plainValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(plainValue);
  const typeName = (v as { $typeName?: string }).$typeName;
  if (typeName === "google.protobuf.Timestamp") {
    return timestampToDate(v as { seconds: bigint; nanos: number });
  }
  if (typeName !== undefined) return toPlainObject(v as Message);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
  return out;
}

/**
 * Decodes an event `Any` into a plain object. Types other than the task events
 * decode to `{}` (the envelope still carries topic and type URL).
 *
 * @param typeUrl the `Any` type URL, bare or prefixed
 * @param value the serialized message
 * @returns the plain object
 * @throws InvalidArgumentError when the bytes do not parse as the named type
 */
export function decodeEventValue(typeUrl: string, value: Uint8Array): Record<string, unknown> {
  const schema = SCHEMA_OF_TYPE.get(typeNameOfUrl(typeUrl));
  if (!schema) return {};
  try {
    return toPlainObject(fromBinary(schema, value));
  } catch (err) {
    throw new InvalidArgumentError(`decode event "${typeUrl}": ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Turns a forwarded envelope into a {@link TaskEvent}.
 *
 * @param env the envelope from `Events/Forward`
 * @param synthesized true for events shimkit made up itself
 * @returns the event
 * @throws InvalidArgumentError when the event bytes do not parse
 */
export function decodeEnvelope(env: Envelope, synthesized = false): TaskEvent {
  const typeUrl = env.event?.typeUrl ?? "";
  const event = env.event ? decodeEventValue(typeUrl, env.event.value) : {};
  const ev: TaskEvent = {
    topic: env.topic,
    namespace: env.namespace,
    timestamp: timestampToDate(env.timestamp) ?? new Date(0),
    containerId: typeof event.containerId === "string" ? event.containerId : "",
    event,
    typeUrl,
  };
  if (synthesized) ev.synthesized = true;
  return ev;
}

/**
 * Encodes a task event for a topic into an `Any` with a bare type URL, as a shim would.
 *
 * @param topic a topic in {@link TOPIC_SCHEMAS}, e.g. `/tasks/exit`
 * @param fields the message fields (protobuf-es init shape)
 * @returns the event `Any`
 * @throws InvalidArgumentError for an unknown topic
 */
export function encodeTaskEvent(topic: string, fields: Record<string, unknown>): Any {
  const schema = TOPIC_SCHEMAS.get(topic);
  if (!schema) throw new InvalidArgumentError(`encode event: unknown topic "${topic}"`);
  const msg = create(schema, fields as MessageInitShape<DescMessage>);
  return create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, msg) });
}

/** Which events a subscriber wants. */
export interface EventFilter {
  /** Only events of this namespace. */
  namespace?: string;
  /** Only these topics; an entry ending in `*` matches every topic with that prefix (`/tasks/*`). */
  topics?: readonly string[];
}

/**
 * Tests an event against a filter.
 *
 * @param ev the event
 * @param filter namespace and topic patterns; an empty filter matches everything
 * @returns true when the event passes
 */
export function matchesEventFilter(ev: Pick<TaskEvent, "namespace" | "topic">, filter: EventFilter): boolean {
  if (filter.namespace !== undefined && ev.namespace !== filter.namespace) return false;
  if (!filter.topics || filter.topics.length === 0) return true;
  for (const t of filter.topics) {
    if (t.endsWith("*") ? ev.topic.startsWith(t.slice(0, -1)) : ev.topic === t) return true;
  }
  return false;
}
