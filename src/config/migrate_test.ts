import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { migrateConfigTable } from "./migrate.ts";
import { InvalidArgumentError } from "../errors.ts";

const OLD = "io.containerd.runtime.v2.task";

describe("migrateConfigTable()", () => {
  const cases: Array<{
    name: string;
    input: Record<string, unknown>;
    table: Record<string, unknown>;
    warnings?: string[];
    sourceVersion: number;
    migrated: boolean;
  }> = [
    {
      name: "moves sched_core = true to shim env",
      input: { version: 2, plugins: { [OLD]: { sched_core: true } } },
      table: { version: 3, shim: { env: ["SCHED_CORE=1"] } },
      sourceVersion: 2,
      migrated: true,
    },
    {
      name: "drops sched_core = false without a warning",
      input: { version: 2, plugins: { [OLD]: { sched_core: false } } },
      table: { version: 3 },
      sourceVersion: 2,
      migrated: true,
    },
    {
      name: "skips a non-boolean sched_core with a warning",
      input: { version: 2, plugins: { [OLD]: { sched_core: "yes" } } },
      table: { version: 3 },
      warnings: [`plugins."${OLD}".sched_core: skipping migration for non-boolean value "yes"`],
      sourceVersion: 2,
      migrated: true,
    },
    {
      name: "appends to an existing shim env once",
      input: { version: 1, shim: { env: ["A=1", "SCHED_CORE=1"] }, plugins: { [OLD]: { sched_core: true } } },
      table: { version: 3, shim: { env: ["A=1", "SCHED_CORE=1"] } },
      sourceVersion: 1,
      migrated: true,
    },
    {
      name: "treats a missing version as 1 and bumps it",
      input: { state: "/run/x" },
      table: { version: 3, state: "/run/x" },
      sourceVersion: 1,
      migrated: true,
    },
    {
      name: "drops other keys of the old table with a warning and keeps other plugins",
      input: { version: 2, plugins: { [OLD]: { platforms: ["linux/amd64"] }, other: { a: 1 } } },
      table: { version: 3, plugins: { other: { a: 1 } } },
      warnings: [`plugins."${OLD}".platforms: no equivalent in version 3, dropped`],
      sourceVersion: 2,
      migrated: true,
    },
    {
      name: "leaves version 3 untouched, even with an old table",
      input: { version: 3, plugins: { [OLD]: { sched_core: true } } },
      table: { version: 3, plugins: { [OLD]: { sched_core: true } } },
      sourceVersion: 3,
      migrated: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const before = structuredClone(tc.input);
      const r = migrateConfigTable(tc.input);
      assert.deepEqual(r.table, tc.table);
      assert.deepEqual(r.warnings, tc.warnings ?? []);
      assert.equal(r.sourceVersion, tc.sourceVersion);
      assert.equal(r.migrated, tc.migrated);
      assert.deepEqual(tc.input, before, "input must not be modified");
    });
  }

  for (const version of ["3", 0, 2.5, true]) {
    it(`rejects version ${JSON.stringify(version)}`, () => {
      assert.throws(() => migrateConfigTable({ version }), InvalidArgumentError);
    });
  }
});
