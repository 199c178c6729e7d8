/**
 * `shimkit kill`: send a signal (default SIGTERM) to a container's init
 * process, to one exec (`--exec`), or to all its processes (`--all`).
 *
 * ```
 * shimkit kill [--signal SIG] [--all] [--exec EXEC_ID] ID
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { parseSignalFlag } from "./_args.ts";
import { withManager } from "./_task.ts";

const USAGE = "usage: shimkit kill [--signal SIG] [--all] [--exec EXEC_ID] ID\n" +
  "  SIG is a name (SIGKILL, KILL, kill) or a number (9); default SIGTERM\n";

/**
 * Runs `shimkit kill`.
 *
 * @param args the arguments after `kill`
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a bad command line
 * @throws InvalidArgumentError for an unknown signal
 * @throws NotFoundError when there is no such container or the process already exited
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        signal: { type: "string", short: "s" },
        all: { type: "boolean", short: "a" },
        exec: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(`kill: ${(e as Error).message}`, { cause: e });
  }
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) throw new UsageError("kill: want exactly one container ID");
  if (v.all && v.exec !== undefined) throw new UsageError("kill: --all and --exec cannot be used together");
  const signal = parseSignalFlag(v.signal);
  const id = parsed.positionals[0];
  await withManager(ctx, async (m) => {
    const task = await m.get(ctx.global.namespace, id);
    await task.kill(signal, { all: v.all ?? false, execId: v.exec });
  });
  return EXIT_OK;
}
