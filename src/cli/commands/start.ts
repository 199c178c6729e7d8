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

import { FailedPreconditionError } from "../../errors.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { existingFifoSet } from "../stdio.ts";
import { runForeground } from "./_attach.ts";
import { requireTerminalStdin, withManager } from "./_task.ts";
import { onlyPositional, parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit start [-a] ID

Starts a container made by "shimkit create".

Flags:
  -a, --attach   stream its output (and stdin, if created with -i) and exit with its status
  -h, --help     show this help
`;

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
  const parsed = parseFlags("start", args, {
    attach: { type: "boolean", short: "a" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const id = onlyPositional("start", parsed.positionals);

  return await withManager(ctx, async (m) => {
    const task = await m.get(ctx.global.namespace, id);
    const st = await task.state();
    if (st.status !== "created") {
      throw new FailedPreconditionError(
        `start "${id}": container is ${st.status}: only a created container can be started`,
      );
    }
    if (!parsed.values.attach) {
      await task.start();
      return EXIT_OK;
    }
    if (st.stdin !== "" && st.terminal) requireTerminalStdin(`start -a "${id}" (created with -i and -t)`);
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
