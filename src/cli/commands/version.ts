/**
 * `shimkit version`: the shimkit version, the JavaScript runtime and the
 * platform, as text or `--json`.
 *
 * @module
 */

import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { runtimeVersion, VERSION } from "../version_info.ts";
import { parseFlags } from "./_args.ts";

const USAGE =
  "usage: shimkit version [--json]\n\nPrints the shimkit version, the JavaScript runtime and the platform.\n";

/** What `shimkit version --json` prints. */
export interface VersionInfo {
  /** shimkit's version. */
  version: string;
  /** The JavaScript runtime, e.g. `Bun/1.4.5`. */
  runtime: string;
  /** `<os>/<arch>`, e.g. `linux/x64`. */
  platform: string;
}

/**
 * Collects the version information.
 *
 * @returns version, runtime and platform
 */
export function versionInfo(): VersionInfo {
  return { version: VERSION, runtime: runtimeVersion(), platform: `${process.platform}/${process.arch}` };
}

/**
 * Runs `shimkit version`.
 *
 * @param args `--help` only (`--json` is lifted out by the CLI)
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for any other argument
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("version", args, { help: { type: "boolean", short: "h" } }, false);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const info = versionInfo();
  if (ctx.global.json) printJson(ctx, info);
  else {
    ctx.stdout(
      `shimkit:\n  Version:  ${info.version}\n  Runtime:  ${info.runtime}\n  Platform: ${info.platform}\n`,
    );
  }
  return await Promise.resolve(EXIT_OK);
}
