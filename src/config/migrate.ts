/**
 * Config migration from versions before 3, following containerd's shim
 * manager rule: `sched_core = true` under the old runtime-v2 task plugin table
 * becomes `env = ["SCHED_CORE=1"]` for the shim manager (`[shim]` here).
 * Pure: works on parsed TOML tables.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** The config version migrations bring a file up to. */
export const MIGRATED_VERSION = 3;

/** The old runtime-v2 task plugin's table name, under `[plugins]`. */
export const OLD_TASK_PLUGIN = "io.containerd.runtime.v2.task";

/** Result of {@link migrateConfigTable}. */
export interface MigrationResult {
  /** The migrated table (a copy when anything changed; the input when nothing did). */
  table: Record<string, unknown>;
  /** Values that could not be migrated and were skipped, for the caller to show. */
  warnings: string[];
  /** The version the input declared (1 when it had no `version`, as containerd counts). */
  sourceVersion: number;
  /** True when the input was older than {@link MIGRATED_VERSION} and was rewritten. */
  migrated: boolean;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Reads a table's `version`: absent counts as 1 (containerd's rule).
 *
 * @param table parsed TOML
 * @returns the version number
 * @throws InvalidArgumentError `version: want a positive integer, got <value>`
 */
export function configVersionOf(table: Record<string, unknown>): number {
  const v = table.version;
  if (v === undefined) return 1;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new InvalidArgumentError(
      `version: want a positive integer, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`,
    );
  }
  return v;
}

/**
 * Migrates a parsed config table to version 3. For versions below 3:
 * `plugins."io.containerd.runtime.v2.task".sched_core = true` appends
 * `"SCHED_CORE=1"` to `shim.env`; `false` is dropped; a non-boolean value is
 * skipped with a warning. Other keys of that old table have no equivalent and
 * are dropped with a warning; the old table (and `plugins`, if then empty) is
 * removed; `version` becomes 3. Version 3 and newer tables are returned as is.
 *
 * @param table parsed TOML (not modified)
 * @returns the migrated table, warnings and the original version
 * @throws InvalidArgumentError when `version` is not a positive integer
 * @example
 * ```ts
 * const r = migrateConfigTable({ version: 2, plugins: { "io.containerd.runtime.v2.task": { sched_core: true } } });
 * // r.table: { version: 3, shim: { env: ["SCHED_CORE=1"] } }
 * ```
 */
export function migrateConfigTable(table: Record<string, unknown>): MigrationResult {
  const sourceVersion = configVersionOf(table);
  if (sourceVersion >= MIGRATED_VERSION) return { table, warnings: [], sourceVersion, migrated: false };

  const out = structuredClone(table);
  const warnings: string[] = [];
  const plugins = out.plugins;
  const oldKey = `plugins.${JSON.stringify(OLD_TASK_PLUGIN)}`;
  if (isTable(plugins) && isTable(plugins[OLD_TASK_PLUGIN])) {
    const src = plugins[OLD_TASK_PLUGIN];
    for (const [key, value] of Object.entries(src)) {
      if (key === "sched_core") {
        if (value === true) appendShimEnv(out, "SCHED_CORE=1");
        else if (typeof value !== "boolean") {
          warnings.push(`${oldKey}.sched_core: skipping migration for non-boolean value ${describe(value)}`);
        }
      } else {
        warnings.push(`${oldKey}.${key}: no equivalent in version ${MIGRATED_VERSION}, dropped`);
      }
    }
    delete plugins[OLD_TASK_PLUGIN];
    if (Object.keys(plugins).length === 0) delete out.plugins;
  }
  out.version = MIGRATED_VERSION;
  return { table: out, warnings, sourceVersion, migrated: true };
}

function appendShimEnv(table: Record<string, unknown>, entry: string): void {
  const shim = isTable(table.shim) ? table.shim : (table.shim = {});
  const env = Array.isArray(shim.env) ? shim.env : (shim.env = []);
  if (!env.includes(entry)) env.push(entry);
}

function describe(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : isTable(v)
    ? "a table"
    : Array.isArray(v)
    ? "an array"
    : String(v);
}
