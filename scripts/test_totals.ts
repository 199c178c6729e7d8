/**
 * Counts leaf tests in JUnit XML written by `deno test --junit-path` and
 * `bun test --reporter=junit`, for `scripts/test.sh`.
 *
 * Deno reports every `describe` as a test case too (steps are named
 * `outer > inner > leaf`), so only leaves are counted: a case whose name is
 * not the prefix of another case's name. Bun reports leaves only.
 *
 * Usage: `bun scripts/test_totals.ts deno|bun FILE...` prints
 * `passed=N failed=M skipped=K` (errors counted as failures).
 *
 * @module
 */

import { readFileSync } from "node:fs";

/** Leaf-test counts. */
export interface Totals {
  /** Tests that passed. */
  passed: number;
  /** Tests that failed, plus errors outside tests. */
  failed: number;
  /** Tests that were skipped or ignored. */
  skipped: number;
}

interface Case {
  name: string;
  failed: boolean;
  skipped: boolean;
}

const CASE_RE = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;

function attr(attrs: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];
}

/**
 * Reads the test cases of a JUnit document.
 *
 * @param xml the JUnit XML text
 * @returns one record per `<testcase>`
 */
export function parseCases(xml: string): Case[] {
  const out: Case[] = [];
  for (const m of xml.matchAll(CASE_RE)) {
    const body = m[3] ?? "";
    out.push({
      name: attr(m[1], "name") ?? "",
      failed: /<(failure|error)\b/.test(body),
      skipped: /<skipped\b/.test(body),
    });
  }
  return out;
}

/**
 * Counts leaf tests: every case for bun; for deno, cases that no other case
 * extends with ` > ` (those are describe blocks).
 *
 * @param runtime which runner wrote the XML
 * @param xml the JUnit XML text
 * @returns the totals, with top-level `errors` added to failures
 */
export function countJunit(runtime: "deno" | "bun", xml: string): Totals {
  const cases = parseCases(xml);
  let leaves = cases;
  if (runtime === "deno") {
    const parents = new Set<string>();
    for (const c of cases) {
      let at = c.name.lastIndexOf(" &gt; ");
      while (at > 0) {
        parents.add(c.name.slice(0, at));
        at = c.name.lastIndexOf(" &gt; ", at - 1);
      }
    }
    leaves = cases.filter((c) => !parents.has(c.name));
  }
  const t: Totals = { passed: 0, failed: 0, skipped: 0 };
  for (const c of leaves) {
    if (c.failed) t.failed++;
    else if (c.skipped) t.skipped++;
    else t.passed++;
  }
  const root = /<testsuites\b([^>]*)>/.exec(xml)?.[1] ?? "";
  t.failed += Number(attr(root, "errors") ?? 0);
  return t;
}

if (import.meta.main) {
  const [runtime, ...files] = process.argv.slice(2);
  if (runtime !== "deno" && runtime !== "bun") {
    process.stderr.write("usage: test_totals.ts deno|bun FILE...\n");
    process.exit(2);
  }
  const sum: Totals = { passed: 0, failed: 0, skipped: 0 };
  for (const f of files) {
    let xml: string;
    try {
      xml = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    const t = countJunit(runtime, xml);
    sum.passed += t.passed;
    sum.failed += t.failed;
    sum.skipped += t.skipped;
  }
  process.stdout.write(`passed=${sum.passed} failed=${sum.failed} skipped=${sum.skipped}\n`);
}
