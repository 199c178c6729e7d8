import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  EXIT_GENERIC,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeForError,
  exitCodeForKind,
  exitCodeForStatusCode,
  exitCodeTable,
  UsageError,
} from "./exit_codes.ts";
import { type ErrorKind, newError, NotFoundError, withContext } from "../errors.ts";

const KINDS: ErrorKind[] = [
  "unknown",
  "not_found",
  "already_exists",
  "invalid_argument",
  "failed_precondition",
  "unavailable",
  "deadline_exceeded",
  "canceled",
  "not_implemented",
  "resource_exhausted",
  "permission_denied",
  "aborted",
  "internal",
];

describe("exitCodeForKind()", () => {
  it("gives every kind a distinct code of 1 or 3..125", () => {
    const codes = KINDS.map(exitCodeForKind);
    assert.equal(new Set(codes).size, KINDS.length);
    for (const c of codes) assert.ok(c === EXIT_GENERIC || (c >= 3 && c < 126), `code ${c}`);
  });
  const pinned: Array<[ErrorKind, number]> = [
    ["unknown", 1],
    ["not_found", 3],
    ["already_exists", 4],
    ["invalid_argument", 5],
    ["failed_precondition", 6],
    ["unavailable", 7],
    ["deadline_exceeded", 8],
    ["canceled", 9],
    ["not_implemented", 10],
    ["resource_exhausted", 11],
    ["permission_denied", 12],
    ["internal", 13],
    ["aborted", 14],
  ];
  for (const [kind, code] of pinned) {
    it(`maps ${kind} to ${code}`, () => assert.equal(exitCodeForKind(kind), code));
  }
});

describe("exitCodeForStatusCode()", () => {
  const cases: Array<[number, number]> = [[0, EXIT_OK], [2, 1], [5, 3], [6, 4], [12, 10], [14, 7], [16, 12], [
    99,
    1,
  ]];
  for (const [status, code] of cases) {
    it(`maps status ${status} to ${code}`, () => assert.equal(exitCodeForStatusCode(status), code));
  }
});

describe("exitCodeForError()", () => {
  it("gives 2 for usage errors, ours and parseArgs'", () => {
    assert.equal(exitCodeForError(new UsageError("bad")), EXIT_USAGE);
    let thrown: unknown;
    try {
      parseArgs({ args: ["--nope"], options: {}, strict: true });
    } catch (e) {
      thrown = e;
    }
    assert.equal(exitCodeForError(thrown), EXIT_USAGE);
  });
  it("keeps the kind through withContext", () => {
    assert.equal(exitCodeForError(withContext(new NotFoundError("x"), "load")), 3);
  });
  it("maps errno errors and plain errors", () => {
    assert.equal(exitCodeForError(Object.assign(new Error("no"), { code: "EACCES" })), 12);
    assert.equal(exitCodeForError(new Error("boom")), 1);
    assert.equal(exitCodeForError("string"), 1);
  });
  it("maps every kind's class", () => {
    for (const kind of KINDS) assert.equal(exitCodeForError(newError(kind, "x")), exitCodeForKind(kind));
  });
});

describe("docs/exit-codes.md", () => {
  it("documents exactly the codes of exitCodeTable()", () => {
    const doc = readFileSync(new URL("../../docs/exit-codes.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\|\s*(\d+)\s*\|\s*([a-z ]+?)\s*\|/gm)].map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(rows, exitCodeTable());
  });
});
