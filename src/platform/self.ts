/**
 * The running program's own path, the one place that asks the runtime how
 * it was started (compiled binary or script).
 *
 * @module
 */

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

/**
 * The argv prefix that re-runs this program: `[binary]` when compiled,
 * `[runtime, ...flags, script]` otherwise (Deno gets `run -A`).
 *
 * @returns command and leading arguments
 */
export function selfCommand(): { file: string; args: string[] } {
  const self = selfExecutable();
  if (self === process.execPath) return { file: self, args: [] };
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Deno) return { file: g.Deno.execPath(), args: ["run", "-A", "--no-check", self] };
  return { file: process.execPath, args: [self] };
}
