/**
 * Builds the single `dist/shimkit` executable with Bun
 * (`bun build --compile --minify src/cli/main.ts --outfile dist/shimkit`), links
 * `dist/containerd-shim-fake-v2` and `dist/containerd-shim-fake-v1` to it, and
 * prints the size.
 *
 * Command modules that are not written yet are replaced by a stub, so the
 * build succeeds and the command answers "not available in this build".
 *
 * Usage: `bun scripts/build.ts [--outfile dist/shimkit] [--no-bytecode] [--only-commands version,config]`
 * (`--only-commands` leaves every other command and the fake shim out, for a minimal binary).
 *
 * @module
 */

import { existsSync, lstatSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const ENTRY = join(ROOT, "src/cli/main.ts");
/** `@bufbuild/protobuf` without its JSON functions, for every importer but these (see the file's header). */
const PROTOBUF_CORE = join(ROOT, "scripts/build_protobuf_core.ts");
const PROTOBUF_JSON_USERS = [join(ROOT, "src/api/json.ts")];
/**
 * Modules that load protobuf-es's files by computed URL when run from source (see their headers): in
 * the bundle each becomes a static re-export of the core above, which the bundler can follow.
 */
const PROTOBUF_FACADES = [join(ROOT, "src/api/protobuf.ts"), join(ROOT, "vendor/ttrpc-ts/src/protobuf.ts")];
/** Names the fake shim answers to; both are symlinks to the binary. */
const FAKE_SHIM_LINKS = ["containerd-shim-fake-v2", "containerd-shim-fake-v1"];

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    outfile: { type: "string", default: "dist/shimkit" },
    "no-bytecode": { type: "boolean" },
    "only-commands": { type: "string" },
  },
  strict: true,
});
const outfile = resolve(ROOT, values.outfile!);
const only = values["only-commands"]?.split(",").map((c) => `./commands/${c.trim()}.ts`);
await mkdir(dirname(outfile), { recursive: true });

const stubbed: string[] = [];
const started = performance.now();
const result = await Bun.build({
  entrypoints: [ENTRY],
  compile: { outfile },
  minify: true,
  bytecode: !values["no-bytecode"],
  sourcemap: "none",
  plugins: [{
    name: "missing-lazy-modules",
    setup(build) {
      // Only the lazily imported command and fake-shim modules may be missing; anything else fails the build.
      build.onResolve({ filter: /^\.\.?\/(commands\/[\w-]+|\.\.\/fakeshim\/main)\.ts$/ }, (args) => {
        const path = resolve(dirname(args.importer), args.path);
        if (args.importer !== ENTRY) return undefined;
        if (existsSync(path) && (!only || only.includes(args.path))) return undefined;
        stubbed.push(args.path);
        return { path, namespace: "shimkit-missing" };
      });
      build.onResolve({ filter: /^@bufbuild\/protobuf$/ }, (args) =>
        PROTOBUF_JSON_USERS.includes(args.importer) ? undefined : { path: PROTOBUF_CORE });
      build.onLoad({ filter: /\/protobuf\.ts$/ }, (args) =>
        PROTOBUF_FACADES.includes(args.path)
          ? { contents: `export * from "@bufbuild/protobuf";`, loader: "ts" }
          : undefined);
      build.onLoad({ filter: /.*/, namespace: "shimkit-missing" }, () => ({
        contents: "export const NOT_AVAILABLE = true;",
        loader: "ts",
      }));
    },
  }],
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}

for (const name of FAKE_SHIM_LINKS) {
  const link = join(dirname(outfile), name);
  try {
    if (lstatSync(link)) unlinkSync(link);
  } catch {
    // no old link
  }
  symlinkSync(basename(outfile), link);
}

const mib = (statSync(outfile).size / 1048576).toFixed(1);
const secs = ((performance.now() - started) / 1000).toFixed(1);
console.log(`built ${values.outfile} (${mib} MiB) in ${secs}s; links: ${FAKE_SHIM_LINKS.join(", ")}`);
if (stubbed.length > 0) {
  console.log(`left out of this build (missing or not selected): ${stubbed.join(", ")}`);
}
