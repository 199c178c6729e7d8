import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatJson, formatTable, printTable } from "./output.ts";
import type { GlobalOptions } from "./context.ts";

interface Row {
  id: string;
  pid?: number;
  status: string;
}
const columns = [
  { header: "id", value: "id" as const },
  { header: "pid", value: "pid" as const },
  { header: "status", value: (r: Row) => r.status.toUpperCase() },
];

describe("formatTable()", () => {
  it("aligns columns with four spaces and upper-case headers", () => {
    const rows: Row[] = [{ id: "c1", pid: 42, status: "running" }, { id: "longer-id", status: "created" }];
    assert.equal(
      formatTable(rows, columns),
      "ID           PID    STATUS\n" +
        "c1           42     RUNNING\n" +
        "longer-id    -      CREATED\n",
    );
  });
  it("prints only the header for no rows", () => {
    assert.equal(formatTable([], columns), "ID    PID    STATUS\n");
  });
});

describe("formatJson()", () => {
  it("handles bigint, bytes, maps and sets", () => {
    const v = { n: 1n, b: new Uint8Array([1, 2, 3]), m: new Map([["a", 1]]), s: new Set([1]) };
    assert.deepEqual(JSON.parse(formatJson(v)), { n: "1", b: "AQID", m: { a: 1 }, s: [1] });
    assert.ok(formatJson(1).endsWith("\n"));
  });
});

describe("printTable()", () => {
  const rows: Row[] = [{ id: "c1", pid: 1, status: "x" }];
  const run = (json: boolean) => {
    let out = "";
    printTable({ stdout: (s) => (out += s), global: { json } as GlobalOptions }, rows, columns);
    return out;
  };
  it("prints a table by default and JSON with --json", () => {
    assert.match(run(false), /^ID/);
    assert.deepEqual(JSON.parse(run(true)), rows);
  });
});
