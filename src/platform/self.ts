/**
 * The running program's own path, the one place that asks the runtime how
 * it was started (compiled binary or script).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";

interface RuntimeGlobals {
  Deno?: { execPath(): string; mainModule: string; build?: { standalone?: boolean } };
  Bun?: { main: string };
}

/**
 * The path of the running program, used as the shim's `-publish-binary`
 * and for "beside the running executable" lookups: the compiled binary
 * when shimkit was built with `bun build --compile` / `deno compile`, else
 * the script path (`bun src/cli/main.ts`, `deno run src/cli/main.ts`).
 *
 * @returns absolute path
 */
export function selfExecutable(): string {
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Bun) {
    // Compiled Bun binaries run their entry from the embedded "/$bunfs/" (Windows "B:/~BUN/") filesystem.
    const main = g.Bun.main;
    return main.startsWith("/$bunfs/") || main.includes("~BUN") ? process.execPath : main;
  }
  if (g.Deno) {
    if (g.Deno.build?.standalone) return g.Deno.execPath();
    const main = g.Deno.mainModule;
    return main.startsWith("file://") ? decodeURIComponent(new URL(main).pathname) : g.Deno.execPath();
  }
  return process.argv[1] ?? process.execPath;
}

/** Deno flags that change how imports resolve; a re-run must repeat them. Value-taking ones map to true. */
const DENO_RESOLUTION_FLAGS: ReadonlyMap<string, boolean> = new Map([
  ["--config", true],
  ["-c", true],
  ["--import-map", true],
  ["--no-config", false],
]);

/**
 * Picks the flags that change module resolution (`--config`/`-c`,
 * `--import-map`, `--no-config`) out of a Deno command line, up to the main
 * script (shimkit's own `--config` comes after it and is not Deno's). Paths
 * are made absolute, since the re-run may start in another directory (a
 * shim runs in its bundle). Pure.
 *
 * @param argv the full command line: deno, subcommand, flags, script, script arguments
 * @param script the main script's absolute path
 * @param cwd the directory relative paths are resolved against
 * @returns the flags, each with its value as `--flag=value`; [] when the script is not on the line
 * @example
 * ```ts
 * denoResolutionFlags(["deno", "run", "-A", "-c", "x.json", "/m.ts", "--config", "/c.toml"], "/m.ts", "/w");
 * // ["--config=/w/x.json"]
 * ```
 */
export function denoResolutionFlags(argv: readonly string[], script: string, cwd: string): string[] {
  const out: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === script || arg === `file://${script}` || resolve(cwd, arg) === script) return out;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const takesValue = DENO_RESOLUTION_FLAGS.get(name);
    if (takesValue === undefined) continue;
    if (!takesValue) {
      out.push(name);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) break;
    const long = name === "-c" ? "--config" : name;
    out.push(`${long}=${/^[a-z][a-z0-9+.-]*:/i.test(value) ? value : resolve(cwd, value)}`);
  }
  return [];
}

/** This process's command line from /proc (Linux), or [] when it cannot be read. */
function ownCommandLine(): string[] {
  try {
    const raw = readFileSync("/proc/self/cmdline", "utf8");
    return raw.split("\0").filter((a, i, all) => a !== "" || i < all.length - 1);
  } catch {
    return [];
  }
}

/** The Deno resolution flags of this process, computed once. */
let denoFlags: string[] | undefined;

/**
 * The argv prefix that re-runs this program: `[binary]` when compiled,
 * `[runtime, ...flags, script]` otherwise. Deno gets `run -A --no-check`
 * plus the resolution flags it was started with (`--config`, `--import-map`),
 * so a script run with an explicit config re-runs with the same one.
 *
 * @returns command and leading arguments; the script, when there is one, is the last argument
 */
export function selfCommand(): { file: string; args: string[] } {
  const self = selfExecutable();
  if (self === process.execPath) return { file: self, args: [] };
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Deno) {
    denoFlags ??= denoResolutionFlags(ownCommandLine(), self, process.cwd());
    return { file: g.Deno.execPath(), args: ["run", "-A", "--no-check", ...denoFlags, self] };
  }
  return { file: process.execPath, args: [self] };
}
