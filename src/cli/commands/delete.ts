/**
 * `shimkit delete`: delete containers: task (Delete), shim (Shutdown), bundle,
 * record and any stdio FIFOs the CLI made for them. `--force` kills a running
 * container with SIGKILL first. Prints each deleted id; keeps going after a
 * failure and exits with the first failure's code.
 *
 * ```
 * shimkit delete [--force] ID...
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { TaskManager } from "../../task/manager.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, exitCodeForError, UsageError } from "../exit_codes.ts";
import { fifoDirOf, removeFifoDir } from "../stdio.ts";
import { withManager } from "./_task.ts";

const USAGE = "usage: shimkit delete [--force] ID...\n";

async function deleteOne(m: TaskManager, ctx: CommandContext, id: string, force: boolean): Promise<void> {
  const ns = ctx.global.namespace;
  // The FIFO dir `create` made is named in the task's stdio; learn it before the task is gone.
  const stdout = await m.get(ns, id).then((t) => t.state()).then((s) => s.stdout, () => "");
  await m.delete(ns, id, { force });
  const dir = fifoDirOf(ctx.global.state, stdout);
  if (dir) await removeFifoDir(dir);
}

/**
 * Runs `shimkit delete`.
 *
 * @param args the arguments after `delete`
 * @param ctx the command context
 * @returns 0 when every container was deleted, else the exit code of the first failure
 * @throws UsageError for a bad command line
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { force: { type: "boolean", short: "f" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    throw new UsageError(`delete: ${(e as Error).message}`, { cause: e });
  }
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length === 0) throw new UsageError("delete: missing container ID");
  const force = parsed.values.force ?? false;
  let code = EXIT_OK;
  await withManager(ctx, async (m) => {
    for (const id of parsed.positionals) {
      try {
        await deleteOne(m, ctx, id, force);
        ctx.stdout(`${id}\n`);
      } catch (e) {
        ctx.stderr(`shimkit: ${e instanceof Error ? e.message : String(e)}\n`);
        if (code === EXIT_OK) code = exitCodeForError(e);
      }
    }
  });
  return code;
}
