/**
 * Checks that every exported symbol of the public API has a JSDoc comment
 * directly above it. The files checked are those reachable through relative
 * imports from `mod.ts` and `vendor/ttrpc-ts/mod.ts` (generated code
 * excluded). Prints each miss as `file:line: name` and exits 1 if any.
 *
 * Usage: `bun scripts/check_docs.ts`
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { importSpecifiers } from "./check_imports.ts";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const ENTRIES = ["mod.ts", "vendor/ttrpc-ts/mod.ts"];
const GENERATED = ["src/gen/", "vendor/ttrpc-ts/src/gen/", "vendor/ttrpc-ts/tests/gen/"];

const EXPORT_RE =
  /^export\s+(?:default\s+)?(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(function\*?|class|interface|type|const|let|var|enum|namespace)\s+([A-Za-z_$][\w$]*)/;

/**
 * Finds exported declarations that lack a JSDoc block directly above them.
 * Re-export lists (`export { a } from`) are not declarations and are skipped;
 * for overloads only the first signature needs the comment.
 *
 * @param src TypeScript source
 * @returns the misses as `[line, name]`
 */
export function undocumentedExports(src: string): Array<[number, string]> {
  const lines = src.split("\n");
  const misses: Array<[number, string]> = [];
  let lastName: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const m = EXPORT_RE.exec(lines[i]);
    if (!m) continue;
    const name = m[2];
    if (name === lastName && m[1] === "function") continue;
    lastName = name;
    if (!hasDocAbove(lines, i)) misses.push([i + 1, name]);
  }
  return misses;
}

function hasDocAbove(lines: string[], i: number): boolean {
  let j = i - 1;
  while (j >= 0 && /^\s*@\w/.test(lines[j])) j--; // decorators
  if (j < 0 || !lines[j].trimEnd().endsWith("*/")) return false;
  for (; j >= 0; j--) {
    const t = lines[j].trimStart();
    if (t.startsWith("/**")) return true;
    if (t.startsWith("/*")) return false;
  }
  return false;
}

function reachable(): string[] {
  const seen = new Set<string>();
  const queue = ENTRIES.filter((e) => existsSync(join(ROOT, e)));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(join(ROOT, file), "utf8");
    for (const spec of importSpecifiers(src)) {
      if (!spec.startsWith(".") || !spec.endsWith(".ts")) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      if (GENERATED.some((g) => target.startsWith(g)) || !existsSync(join(ROOT, target))) continue;
      queue.push(target);
    }
  }
  return [...seen].sort();
}

if (import.meta.main) {
  const files = reachable();
  let misses = 0;
  for (const f of files) {
    for (const [line, name] of undocumentedExports(readFileSync(join(ROOT, f), "utf8"))) {
      console.log(`${f}:${line}: ${name} has no JSDoc comment`);
      misses++;
    }
  }
  console.log(`check_docs: ${files.length} files, ${misses} undocumented export(s)`);
  if (misses > 0) process.exit(1);
}
