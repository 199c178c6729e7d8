/**
 * The events journal `<state>/events.jsonl`: one JSON line per event, appended
 * with O_APPEND in a single write, rotated to `events.jsonl.1` at about 4 MiB.
 * Processes that are not the events listener tail it to receive events.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import type { TaskEvent } from "./topics.ts";
import { decodeEventValue } from "./topics.ts";

/** Rotate the journal once it would grow past this many bytes. */
export const JOURNAL_MAX_BYTES = 4 << 20;

/** One event as stored in the journal: the envelope, the raw event bytes and, for people, the decoded event. */
export interface JournalRecord {
  /** Topic, e.g. `/tasks/exit`. */
  topic: string;
  /** Namespace. */
  namespace: string;
  /** Publisher's timestamp. */
  timestamp: Date;
  /** The event `Any` type URL. */
  typeUrl: string;
  /** The event `Any` value (the serialized message). */
  value: Uint8Array;
  /** True for events shimkit synthesized. */
  synthesized?: boolean;
}

/**
 * Formats a record as one journal line (with its trailing newline).
 *
 * @param rec the record
 * @param event the decoded event, stored for readers that grep the file (optional)
 * @returns the line
 */
export function formatJournalLine(rec: JournalRecord, event?: Record<string, unknown>): string {
  const obj: Record<string, unknown> = {
    timestamp: rec.timestamp.toISOString(),
    namespace: rec.namespace,
    topic: rec.topic,
    typeUrl: rec.typeUrl,
    value: Buffer.from(rec.value.buffer, rec.value.byteOffset, rec.value.byteLength).toString("base64"),
  };
  if (rec.synthesized) obj.synthesized = true;
  if (event) obj.event = event;
  return JSON.stringify(obj) + "\n";
}

/**
 * Parses one journal line.
 *
 * @param line the line, without its newline
 * @returns the record, or undefined when the line is not a journal record (torn or foreign)
 */
export function parseJournalLine(line: string): JournalRecord | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object") return undefined;
  const { timestamp, namespace, topic, typeUrl, value } = v;
  if (typeof timestamp !== "string" || typeof namespace !== "string" || typeof topic !== "string") {
    return undefined;
  }
  if (typeof typeUrl !== "string" || typeof value !== "string") return undefined;
  const ts = new Date(timestamp);
  if (Number.isNaN(ts.getTime())) return undefined;
  const rec: JournalRecord = {
    timestamp: ts,
    namespace,
    topic,
    typeUrl,
    value: new Uint8Array(Buffer.from(value, "base64")),
  };
  if (v.synthesized === true) rec.synthesized = true;
  return rec;
}

/**
 * Turns a journal record into the event subscribers receive.
 *
 * @param rec the record
 * @returns the event
 * @throws InvalidArgumentError when the event bytes do not parse
 */
export function journalRecordToEvent(rec: JournalRecord): TaskEvent {
  const event = decodeEventValue(rec.typeUrl, rec.value);
  const ev: TaskEvent = {
    topic: rec.topic,
    namespace: rec.namespace,
    timestamp: rec.timestamp,
    containerId: typeof event.containerId === "string" ? event.containerId : "",
    event,
    typeUrl: rec.typeUrl,
  };
  if (rec.synthesized) ev.synthesized = true;
  return ev;
}

/**
 * Appends one line to the journal in a single O_APPEND write, first rotating
 * the file to `<path>.1` when the line would take it past `maxBytes`.
 *
 * The calls are synchronous on purpose: four syscalls on a small local file
 * take microseconds, while each async step is a thread-pool round trip
 * (0.4 ms per event measured) on the listener's event loop, the one that
 * also serves the shims' RPCs.
 *
 * @param path the journal path
 * @param line the line, newline included
 * @param maxBytes rotation threshold (default {@link JOURNAL_MAX_BYTES})
 * @returns when written
 * @throws the OS error when the file cannot be written
 */
export function appendJournalLine(path: string, line: string, maxBytes = JOURNAL_MAX_BYTES): Promise<void> {
  try {
    const data = Buffer.from(line);
    let fd = openSync(path, "a", 0o600);
    try {
      const st = fstatSync(fd);
      if (st.size > 0 && st.size + data.length > maxBytes) {
        // Rotate only if the path still names the file we opened: a rival writer may have rotated it.
        let cur: { ino: number } | undefined;
        try {
          cur = statSync(path);
        } catch {
          cur = undefined;
        }
        if (cur?.ino === st.ino) renameSync(path, path + ".1");
        closeSync(fd);
        fd = openSync(path, "a", 0o600);
      }
      writeSync(fd, data, 0, data.length);
    } finally {
      closeSync(fd);
    }
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Options for {@link tailJournal}. */
export interface TailOptions {
  /** Stops the tail; the iteration ends. */
  signal?: AbortSignal;
  /** How often to look for new lines, in ms (default 25). */
  pollMs?: number;
  /** Read the existing content too (default: start at the current end). */
  fromStart?: boolean;
  /** Start at this byte offset of the current file (wins over `fromStart`). */
  startAt?: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * Follows the journal, yielding every record appended after the tail began
 * (or from the start). Survives rotation: the old file is read to its end
 * through the open handle before the new one is opened.
 *
 * @param path the journal path
 * @param opts abort signal, poll interval, start position
 * @returns an async iterable of records; ends when `signal` aborts
 */
export async function* tailJournal(path: string, opts: TailOptions = {}): AsyncGenerator<JournalRecord> {
  const pollMs = opts.pollMs ?? 25;
  const buf = Buffer.alloc(64 * 1024);
  let fh: fsp.FileHandle | undefined;
  let pos = 0;
  let ino = -1;
  let partial = "";
  let first = true;
  try {
    while (!opts.signal?.aborted) {
      if (!fh) {
        fh = await fsp.open(path, "r").catch(() => undefined);
        if (fh) {
          const st = await fh.stat();
          ino = st.ino;
          pos = !first
            ? 0
            : opts.startAt !== undefined
            ? Math.min(opts.startAt, st.size)
            : opts.fromStart
            ? 0
            : st.size;
          partial = "";
        }
        first = false;
      }
      let progressed = false;
      if (fh) {
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          progressed = true;
          pos += bytesRead;
          const text = partial + buf.toString("utf8", 0, bytesRead);
          const lines = text.split("\n");
          partial = lines.pop() ?? "";
          for (const line of lines) {
            const rec = line === "" ? undefined : parseJournalLine(line);
            if (rec) yield rec;
          }
        }
        const cur = await fsp.stat(path).catch(() => undefined);
        if (cur?.ino !== ino || cur.size < pos) {
          // Rotated (or truncated): the old file is drained, continue with the new one.
          await fh.close();
          fh = undefined;
          continue;
        }
      }
      if (!progressed) await sleep(pollMs, opts.signal);
    }
  } finally {
    await fh?.close();
  }
}
