import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeTaskEvent } from "./topics.ts";
import {
  appendJournalLine,
  formatJournalLine,
  type JournalRecord,
  journalRecordToEvent,
  parseJournalLine,
  tailJournal,
} from "./journal.ts";

const any = encodeTaskEvent("/tasks/exit", { containerId: "c1", id: "c1", pid: 5, exitStatus: 3 });
const rec = (topic = "/tasks/exit"): JournalRecord => ({
  timestamp: new Date(1_700_000_000_000),
  namespace: "default",
  topic,
  typeUrl: any.typeUrl,
  value: any.value,
});

describe("parseJournalLine()", () => {
  it("round-trips formatJournalLine()", () => {
    const line = formatJournalLine({ ...rec(), synthesized: true }, { exitStatus: 3 });
    assert.ok(line.endsWith("\n"));
    const back = parseJournalLine(line.trimEnd());
    assert.deepEqual(back, { ...rec(), synthesized: true });
    const ev = journalRecordToEvent(back!);
    assert.equal(ev.containerId, "c1");
    assert.equal(ev.event.exitStatus, 3);
  });
  const bad: [string, string][] = [
    ["torn JSON", '{"timestamp":"2024'],
    ["not an object", "42"],
    ["missing value", '{"timestamp":"2024-01-01T00:00:00Z","namespace":"a","topic":"/t","typeUrl":"x"}'],
    ["bad timestamp", '{"timestamp":"nope","namespace":"a","topic":"/t","typeUrl":"x","value":""}'],
  ];
  for (const [name, line] of bad) {
    it(`parseJournalLine() ignores ${name}`, () => assert.equal(parseJournalLine(line), undefined));
  }
});

describe("tailJournal()", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });

  it("yields lines appended after it began, across a rotation", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-journal-"));
    dirs.push(dir);
    const path = join(dir, "events.jsonl");
    await appendJournalLine(path, formatJournalLine(rec("/old")));
    // Where "now" is, fixed before the tail's asynchronous open, as TaskManager.subscribe() does.
    const startAt = (await fsp.stat(path)).size;
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const r of tailJournal(path, { signal: ac.signal, pollMs: 5, startAt })) {
        seen.push(r.topic);
        if (seen.length === 3) ac.abort();
      }
    })();
    const line = formatJournalLine(rec("/a"));
    await appendJournalLine(path, line);
    // Once "/a" is seen the tail holds the first file open; then rotate under it.
    const deadline = Date.now() + 3000;
    while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    // A tiny threshold forces the next append to rotate.
    await appendJournalLine(path, formatJournalLine(rec("/b")), line.length + 1);
    await appendJournalLine(path, formatJournalLine(rec("/c")));
    const timer = setTimeout(() => ac.abort(), 3000);
    await done;
    clearTimeout(timer);
    assert.deepEqual(seen, ["/a", "/b", "/c"]);
    assert.ok((await fsp.readFile(path + ".1", "utf8")).includes('"/a"'));
  });
});
