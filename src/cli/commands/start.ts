/**
 * `shimkit start`: start a created container. With `-a` it attaches to the
 * FIFOs `create` made, streams the output, forwards signals and exits with
 * the container's exit status, like `run`.
 *
 * ```
 * shimkit start [-a] ID
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FailedPreconditionError } from "../../errors.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { existingFifoSet } from "../stdio.ts";
import { runForeground } from "./_attach.ts";
import { withManager } from "./_task.ts";

const USAGE = "usage: shimkit start [-a] ID\n";

/**
 * Runs `shimkit start`.
 *
 * @param args the arguments after `start`
 * @param ctx the command context
 * @returns 0, or with `-a` the container's exit status
 * @throws UsageError for a bad command line
 * @throws NotFoundError when there is no such container
 * @throws FailedPreconditionError with `-a` when the container has no CLI FIFOs to attach to
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { attach: { type: "boolean", short: "a" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    throw new UsageError(`start: ${(e as Error).message}`, { cause: e });
  }
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) throw new UsageError("start: want exactly one container ID");
  const id = parsed.positionals[0];

  return await withManager(ctx, async (m) => {
    const task = await m.get(ctx.global.namespace, id);
    if (!parsed.values.attach) {
      await task.start();
      return EXIT_OK;
    }
    const st = await task.state();
    const fifos = existingFifoSet(ctx.global.state, st);
    if (!fifos) {
      throw new FailedPreconditionError(
        `start "${id}": no stdio to attach to (not created by shimkit create)`,
      );
    }
    try {
      const exit = await runForeground(task, fifos, {
        interactive: st.stdin !== "",
        tty: st.terminal,
        logger: ctx.logger,
      });
      return exit.exitStatus;
    } finally {
      await fifos.close();
    }
  });
}
