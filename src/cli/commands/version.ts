/**
 * `shimkit version`: the shimkit version, the JavaScript runtime and the
 * platform, as text or `--json`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { runtimeVersion, VERSION } from "../version_info.ts";

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
 * @param args no arguments are accepted
 * @param ctx the command context
 * @returns 0
 * @throws UsageError (via parseArgs) for any argument
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  parseArgs({ args, options: {}, allowPositionals: false, strict: true });
  const info = versionInfo();
  if (ctx.global.json) printJson(ctx, info);
  else {ctx.stdout(
      `shimkit:\n  Version:  ${info.version}\n  Runtime:  ${info.runtime}\n  Platform: ${info.platform}\n`,
    );}
  return await Promise.resolve(EXIT_OK);
}
