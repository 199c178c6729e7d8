/**
 * Enforces the module boundaries of docs/ARCHITECTURE.md ("Boundaries" 1–6)
 * by reading the import specifiers of every .ts file (generated code excluded):
 *
 * 1. `vendor/ttrpc-ts/**` imports only `node:*`, `@bufbuild/protobuf` and its own files.
 * 2. Pure modules import no `node:fs`, `node:net` or `node:child_process`.
 * 3. Only `src/platform/` mentions `Deno`, `Bun` or `process.versions.bun` (comments and strings aside).
 * 4. Imports flow one way: errors/ids → taskapi → runtime, bundle → shim → task/events → cli; `fakeshim`
 *    never imports `shim/manager` or `task/manager`; nothing imports `cli/`.
 * 5. Only api/, taskapi/, task/, events/, fakeshim/, bundle/bootstrap.ts, shim/binary.ts and
 *    cli/commands/call.ts import src/gen/.
 *
 * 6. Values from `@bufbuild/protobuf` (its index) or `@bufbuild/protobuf/wkt` are imported only by the
 *    modules that need JSON or the well-known types (PROTOBUF_INDEX_IMPORTERS) and by the two facades
 *    that load the binary functions without the index (`src/api/protobuf.ts`,
 *    `vendor/ttrpc-ts/src/protobuf.ts`); everyone else imports types from the package, values from a facade.
 *    The index evaluates every well-known type, booting `descriptor.proto`: +6–13 MB on any import.
 *
 * Test files (`*_test.ts`, `tests/`) may import across layers (rules 4 and 5) and the index (rule 6), but
 * not break 1–3.
 * Prints one line per violation and exits 1 if there is any.
 *
 * Usage: `bun scripts/check_imports.ts`
 *
 * @module
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const SCAN = ["mod.ts", "src", "vendor/ttrpc-ts", "tests", "scripts"];
const GENERATED = ["src/gen/", "vendor/ttrpc-ts/src/gen/", "vendor/ttrpc-ts/tests/gen/"];
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".tmp"]);

/** Rule 2: modules that must stay free of file, socket and process I/O. */
const PURE = [
  "src/ids.ts",
  "src/runtime/name.ts",
  "src/bundle/layout.ts",
  "src/taskapi/types.ts",
  "src/taskapi/timestamp.ts",
  "src/shim/argv.ts",
  "src/shim/socket.ts",
  "src/shim/failure_text.ts",
  "src/fakeshim/faults.ts",
  "src/config/config.ts",
  "src/config/migrate.ts",
  "src/config/duration.ts",
];
const IO_MODULES = /^node:(fs|fs\/promises|net|child_process)$/;

/** Rule 4: layer of each module path prefix; a module may import only its own layer or lower ones. */
const LAYERS: Array<[string, number]> = [
  ["src/errors.ts", 0],
  ["src/ids.ts", 0],
  ["src/log/", 0],
  ["src/platform/", 0],
  ["src/config/", 0],
  ["src/gen/", 0],
  ["src/api/", 0],
  ["src/spec/", 0],
  ["src/rootfs/", 1],
  ["src/taskapi/", 1],
  ["src/runtime/", 2],
  ["src/bundle/", 2],
  ["src/shim/", 3],
  ["src/task/", 4],
  ["src/events/", 4],
  ["src/doctor/", 5],
  ["src/cli/", 5],
  ["src/conformance/", 5],
];

/** Rule 5: the only importers of src/gen/ (besides generated code itself and tests). */
const GEN_IMPORTERS = [
  "src/api/",
  "src/taskapi/",
  "src/task/",
  "src/events/",
  "src/fakeshim/",
  "src/bundle/bootstrap.ts",
  "src/shim/binary.ts",
  "src/cli/commands/call.ts",
  "src/gen/",
];

function listTs(path: string, out: string[]): void {
  let entries;
  try {
    entries = readdirSync(join(ROOT, path), { withFileTypes: true });
  } catch {
    if (path.endsWith(".ts") && existsSync(join(ROOT, path))) out.push(path);
    return;
  }
  for (const e of entries) {
    if (SKIP_DIRS.has(e.name)) continue;
    const p = posix.join(path, e.name);
    if (e.isDirectory()) listTs(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
}

/**
 * Removes comments and, optionally, the contents of string literals, keeping line structure.
 *
 * @param src TypeScript source
 * @param blankStrings also blank string and template literal contents
 * @returns the source with those parts replaced by spaces
 */
export function stripComments(src: string, blankStrings = false): string {
  let out = "";
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    const d = src[i + 1];
    if (c === "/" && d === "/") {
      while (i < n && src[i] !== "\n") i++;
    } else if (c === "/" && d === "*") {
      i += 2;
      while (i < n && !(src[i] === "*" && src[i + 1] === "/")) out += src[i++] === "\n" ? "\n" : "";
      i += 2;
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < n && src[i] !== c) {
        if (src[i] === "\\") {
          out += blankStrings ? "  " : src.slice(i, i + 2);
          i += 2;
          continue;
        }
        if (src[i] === "\n" && c !== "`") break;
        out += blankStrings && src[i] !== "\n" ? " " : src[i];
        i++;
      }
      if (i < n) out += src[i++];
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const SPECIFIER_RES = [
  /\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  /(?:^|;)\s*import\s+["']([^"']+)["']/gm,
];

/**
 * Finds the import and re-export specifiers of a file (comments ignored).
 *
 * @param src TypeScript source
 * @returns the specifiers in order of appearance
 */
export function importSpecifiers(src: string): string[] {
  const code = stripComments(src);
  const found: Array<[number, string]> = [];
  for (const re of SPECIFIER_RES) for (const m of code.matchAll(re)) found.push([m.index ?? 0, m[1]]);
  return found.sort((a, b) => a[0] - b[0]).map(([, s]) => s);
}

function layerOf(path: string): number | undefined {
  for (const [prefix, layer] of LAYERS) if (path === prefix || path.startsWith(prefix)) return layer;
  return undefined;
}

/** Who may import values from the protobuf-es index or its well-known types (rule 6). */
const PROTOBUF_INDEX_IMPORTERS = [
  "src/api/protobuf.ts",
  "vendor/ttrpc-ts/src/protobuf.ts",
  "src/api/json.ts",
  "src/api/registry.ts",
  "src/cli/commands/call.ts",
  "scripts/",
  "vendor/ttrpc-ts/bench/",
];

/** `import`/`export … from` statements of the protobuf-es index or wkt: [what is imported, specifier]. */
const PROTOBUF_INDEX_IMPORT_RE =
  /(?:^|[;\n])\s*(?:import|export)\s+((?:type\s+)?(?:\*\s+as\s+\w+|\{[^}]*\}|\w+(?:\s*,\s*\{[^}]*\})?))\s*from\s*["'](@bufbuild\/protobuf(?:\/wkt)?)["']/g;

/**
 * Whether an import clause brings in values (not only types): `type { … }`, `type X` and `{ type A, type B }`
 * are erased when compiled, so they load nothing.
 *
 * @param clause what stands between `import` and `from`
 * @returns true when the import loads the module
 */
export function importsValues(clause: string): boolean {
  const c = clause.trim();
  if (c.startsWith("type ")) return false;
  const braces = /\{([^}]*)\}/.exec(c);
  const outside = c.replace(/\{[^}]*\}/, "").replace(/,/g, "").trim();
  if (outside !== "") return true;
  const names = (braces?.[1] ?? "").split(",").map((n) => n.trim()).filter((n) => n !== "");
  return names.some((n) => !n.startsWith("type "));
}

const isTest = (p: string) => p.endsWith("_test.ts") || p.startsWith("tests/") || p.includes("/tests/");
const under = (p: string, prefixes: string[]) => prefixes.some((x) => p === x || p.startsWith(x));

/**
 * Checks one file against the boundaries.
 *
 * @param path repo-relative path
 * @param src its source
 * @returns violation messages
 */
export function checkFile(path: string, src: string): string[] {
  const problems: string[] = [];
  const test = isTest(path);
  for (const spec of importSpecifiers(src)) {
    const target = spec.startsWith(".") ? posix.normalize(posix.join(posix.dirname(path), spec)) : undefined;
    if (path.startsWith("vendor/ttrpc-ts/")) {
      const ok = spec.startsWith("node:") || spec === "@bufbuild/protobuf" ||
        spec.startsWith("@bufbuild/protobuf/") ||
        (target !== undefined && target.startsWith("vendor/ttrpc-ts/"));
      if (!ok) problems.push(`${path}: rule 1: vendor/ttrpc-ts imports "${spec}"`);
      continue;
    }
    if (PURE.includes(path) && IO_MODULES.test(spec)) {
      problems.push(`${path}: rule 2: pure module imports "${spec}"`);
    }
    if (target === undefined || (!path.startsWith("src/") && path !== "mod.ts") || test) continue;
    if (target.startsWith("src/cli/") && !path.startsWith("src/cli/")) {
      problems.push(`${path}: rule 4: imports "${spec}": nothing outside cli/ imports cli/`);
    }
    if (
      path.startsWith("src/fakeshim/") &&
      (target === "src/shim/manager.ts" || target === "src/task/manager.ts")
    ) {
      problems.push(`${path}: rule 4: fakeshim imports "${spec}"`);
    }
    const from = layerOf(path);
    const to = layerOf(target);
    if (from !== undefined && to !== undefined && to > from) {
      problems.push(`${path}: rule 4: imports "${spec}" from a higher layer (${from} → ${to})`);
    }
    if (target.startsWith("src/gen/") && !under(path, GEN_IMPORTERS)) {
      problems.push(`${path}: rule 5: imports generated code "${spec}"`);
    }
  }
  if (!test && !under(path, PROTOBUF_INDEX_IMPORTERS)) {
    for (const m of stripComments(src).matchAll(PROTOBUF_INDEX_IMPORT_RE)) {
      if (importsValues(m[1])) {
        problems.push(
          `${path}: rule 6: imports values from "${m[2]}" (types only; values from ${
            path.startsWith("vendor/") ? "vendor/ttrpc-ts/src/protobuf.ts" : "src/api/protobuf.ts"
          })`,
        );
      }
    }
  }
  if ((path.startsWith("src/") || path.startsWith("vendor/ttrpc-ts/")) && !path.startsWith("src/platform/")) {
    const code = stripComments(src, true);
    const m = /\b(Deno|Bun)\b|process\.versions\.bun/.exec(code);
    if (m) {
      const line = code.slice(0, m.index).split("\n").length;
      problems.push(`${path}:${line}: rule 3: mentions "${m[0]}" outside src/platform/`);
    }
  }
  return problems;
}

if (import.meta.main) {
  const files: string[] = [];
  for (const p of SCAN) listTs(p, files);
  const problems: string[] = [];
  let checked = 0;
  for (const f of files) {
    if (GENERATED.some((g) => f.startsWith(g))) continue;
    checked++;
    problems.push(...checkFile(f, readFileSync(join(ROOT, f), "utf8")));
  }
  for (const p of problems) console.log(p);
  console.log(`check_imports: ${checked} files, ${problems.length} violation(s)`);
  if (problems.length > 0) process.exit(1);
}
