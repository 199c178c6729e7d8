/**
 * `shimkit run`: create and start a container, stream its output, forward
 * signals to it and exit with its exit status (128+N when signal N killed
 * it), as `ctr run` does. With `-d` it prints the id once the container has
 * started and leaves the shim running; with `--rm` it deletes the container
 * after it exits. Without `--rootfs` or `--bundle`, a real runtime gets the
 * built-in busybox rootfs (see `prepareSpec` in `_create.ts`).
 *
 * ```
 * shimkit run [--rm] [-d] [-t] [-i] [--runtime NAME|PATH] [--rootfs DIR | --bundle DIR]
 *             [--env K=V]... [--cwd DIR] [--label K=V]... [--runtime-option K=V]... ID -- CMD...
 * ```
 *
 * @module
 */

import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { createFifoSet } from "../stdio.ts";
import { runForeground } from "./_attach.ts";
import { type CreateArgs, createUsage, parseCreateArgs, prepareSpec } from "./_create.ts";
import { createTask, deleteQuietly, logUriStdio, printCreated } from "./create.ts";
import type { OciSpec } from "../../spec/default_spec.ts";
import type { TaskManager } from "../../task/manager.ts";
import { pickRuntime, requireTerminalStdin, SetupInterrupts, withManager } from "./_task.ts";

/**
 * Runs `shimkit run`.
 *
 * @param args the arguments after `run`
 * @param ctx the command context
 * @returns the container's exit status, or 0 with `-d`
 * @throws UsageError for a bad command line
 * @throws ShimkitError when the container cannot be created, started or waited for
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const a = parseCreateArgs("run", args, process.cwd());
  if (a === "help") {
    ctx.stdout(createUsage("run"));
    return EXIT_OK;
  }
  if (a.detach && a.interactive) {
    throw new UsageError("run: --detach and --interactive cannot be used together");
  }
  if (a.interactive && a.tty) requireTerminalStdin("run");
  const runtime = await pickRuntime(ctx, a.runtime);
  const spec = await prepareSpec(ctx, a, runtime);

  // A signal now would leave the shim and the bundle behind: it is held off until the container starts.
  const setup = new SetupInterrupts(`run ${JSON.stringify(a.id)}`, ctx.logger);
  try {
    return await withManager(ctx, (m) => runWith(ctx, m, a, spec, runtime, setup));
  } finally {
    setup.dispose();
  }
}

async function runWith(
  ctx: CommandContext,
  m: TaskManager,
  a: CreateArgs,
  spec: OciSpec,
  runtime: string,
  setup: SetupInterrupts,
): Promise<number> {
  const ns = ctx.global.namespace;
  if (a.detach) {
    const stdio = a.logUri !== undefined
      ? logUriStdio(a.logUri)
      : { stdin: "", stdout: "", stderr: "", terminal: a.tty };
    const task = await createTask(ctx, m, a, spec, runtime, stdio);
    try {
      setup.handOver();
      await task.start();
    } catch (e) {
      await deleteQuietly(ctx, m, a.id);
      throw e;
    }
    ctx.logger.debug("container started", { id: a.id, pid: task.pid });
    printCreated(ctx, task, "running");
    return EXIT_OK;
  }

  // With --log-uri the shim writes the output itself: no FIFOs to copy from.
  const fifos = a.logUri !== undefined ? undefined : await createFifoSet({
    state: ctx.global.state,
    namespace: ns,
    id: a.id,
    stdin: a.interactive,
    terminal: a.tty,
  });
  try {
    // Our ends must be open before Create: the runc shim's open of its write end waits for a reader.
    await fifos?.open();
    const task = await createTask(ctx, m, a, spec, runtime, fifos?.paths ?? logUriStdio(a.logUri!));
    let exit;
    try {
      exit = await runForeground(task, fifos, {
        interactive: a.interactive,
        tty: a.tty,
        logger: ctx.logger,
        beforeStart: () => setup.handOver(),
      });
    } catch (e) {
      // A container that never ran (or that we lost) is of no use to anyone: don't leave it behind.
      const status = await task.state().then((s) => s.status, () => "unknown");
      if (a.rm || status === "created") await deleteQuietly(ctx, m, a.id);
      throw e;
    }
    ctx.logger.debug("container exited", { id: a.id, status: exit.exitStatus });
    // The output is copied: the FIFO dir goes while the container is deleted (finally waits for it).
    void fifos?.close();
    if (a.rm) await m.delete(ns, a.id);
    return exit.exitStatus;
  } finally {
    await fifos?.close();
  }
}
