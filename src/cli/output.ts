/**
 * Command output helpers: aligned tables in ctr's style (upper-case headers,
 * columns padded with spaces) and JSON for `--json`. Formatting is pure; the
 * `print*` functions write through the command context.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { CommandContext } from "./context.ts";

/** One table column: a header and how to read the cell from a row. */
export interface Column<T> {
  /** Header text, printed upper-case (`ID`, `PID`, `STATUS`). */
  header: string;
  /** Reads the cell value: a property name of the row, or a function. */
  value: keyof T | ((row: T) => unknown);
}

/** Spaces between columns, as ctr's tabwriter padding. */
const PADDING = 4;

function cell(v: unknown): string {
  if (v === undefined || v === null || v === "") return "-";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") return JSON.stringify(v, jsonReplacer);
  return String(v);
}

/**
 * Formats rows as an aligned table: one header line, one line per row,
 * columns separated by at least four spaces, empty cells shown as `-`.
 *
 * @param rows the rows
 * @param columns which columns to show, in order
 * @returns the table text, each line ending in a newline (only the header when there are no rows)
 * @example
 * ```ts
 * formatTable([{ id: "c1", pid: 42 }], [{ header: "ID", value: "id" }, { header: "PID", value: "pid" }]);
 * // "ID    PID\nc1    42\n"
 * ```
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const lines: string[][] = [columns.map((c) => c.header.toUpperCase())];
  for (const row of rows) {
    lines.push(columns.map((c) => cell(typeof c.value === "function" ? c.value(row) : row[c.value])));
  }
  const widths = columns.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  let out = "";
  for (const line of lines) {
    let s = "";
    for (let i = 0; i < line.length; i++) {
      s += i === line.length - 1 ? line[i] : line[i].padEnd(widths[i] + PADDING);
    }
    out += s.trimEnd() + "\n";
  }
  return out;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/**
 * Formats a value as indented JSON for `--json` output. BigInts become
 * strings, byte arrays base64, Maps objects, Sets arrays.
 *
 * @param value any JSON-able value
 * @returns the JSON text ending in a newline
 */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2) + "\n";
}

/**
 * Writes a value as JSON to the command's stdout.
 *
 * @param ctx the command context
 * @param value any JSON-able value
 */
export function printJson(ctx: Pick<CommandContext, "stdout">, value: unknown): void {
  ctx.stdout(formatJson(value));
}

/**
 * Writes a listing: JSON (the rows as an array) when `--json` is set, else an
 * aligned table of the given columns. Every listing command goes through this.
 *
 * @param ctx the command context
 * @param rows the rows
 * @param columns the table columns
 */
export function printTable<T>(
  ctx: Pick<CommandContext, "stdout" | "global">,
  rows: readonly T[],
  columns: readonly Column<T>[],
): void {
  if (ctx.global.json) printJson(ctx, rows);
  else ctx.stdout(formatTable(rows, columns));
}
