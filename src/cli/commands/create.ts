/**
 * `shimkit create`: bundle, shim and task for a container, without starting
 * it. Its stdio are FIFOs kept under `<state>/.fifo/` so that `start -a` can
 * attach to them later; `delete` removes them. Prints the id. Output written
 * before anyone attaches stays in the pipes (64 KiB each); beyond that the
 * process blocks until `start -a` reads, as with ctr's FIFOs.
 *
 * ```
 * shimkit create [-t] [-i] [--runtime NAME|PATH] [--rootfs DIR | --bundle DIR]
 *                [--env K=V]... [--cwd DIR] [--label K=V]... [--runtime-option K=V]... ID -- CMD...
 * ```
 *
 * @module
 */

import type { OciSpec } from "../../spec/default_spec.ts";
import type { Task, TaskManager } from "../../task/manager.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { createFifoSet, type StdioPaths } from "../stdio.ts";
import { type CreateArgs, createUsage, parseCreateArgs, prepareSpec } from "./_create.ts";
import { configOf, pickRuntime, SetupInterrupts, withManager } from "./_task.ts";

/**
 * Reports a container that `create` or `run -d` left behind: its id, or with
 * `--json` an object scripts can read (namespace, id, pid, runtime, bundle, status).
 *
 * @param ctx the command context
 * @param task the task
 * @param status what it is now (`created`, `running`)
 */
export function printCreated(ctx: CommandContext, task: Task, status: "created" | "running"): void {
  if (!ctx.global.json) {
    ctx.stdout(`${task.id}\n`);
    return;
  }
  const { namespace, id, pid, runtime, bundle } = task;
  printJson(ctx, { namespace, id, pid, runtime, bundle, status });
}

/**
 * Creates the task through the manager (bundle → shim → Create; the manager
 * undoes everything when a step fails).
 *
 * @param ctx the command context
 * @param m the manager
 * @param a the parsed arguments
 * @param spec the OCI spec
 * @param runtime the runtime name or path
 * @param stdio the stdio paths to give the shim
 * @returns the created task
 * @throws ShimkitError from the manager
 */
export async function createTask(
  ctx: CommandContext,
  m: TaskManager,
  a: CreateArgs,
  spec: OciSpec,
  runtime: string,
  stdio: StdioPaths,
): Promise<Task> {
  const configured = configOf(ctx).runtimes[runtime]?.options;
  const runtimeOptions = a.runtimeOptions ? { ...configured, ...a.runtimeOptions } : undefined;
  return await m.create({
    namespace: ctx.global.namespace,
    id: a.id,
    runtime,
    runtimeOptions,
    spec,
    stdin: stdio.stdin,
    stdout: stdio.stdout,
    stderr: stdio.stderr,
    terminal: stdio.terminal,
    labels: a.labels,
  });
}

/**
 * The stdio of a process whose output goes to a `--log-uri`: no stdin, stdout
 * and stderr both to the URI (the shim opens it), no terminal.
 *
 * @param uri a `file://` or `binary://` URI (see `parseLogUri`)
 * @returns the stdio to pass to Create
 */
export function logUriStdio(uri: string): StdioPaths {
  return { stdin: "", stdout: uri, stderr: uri, terminal: false };
}

/**
 * Deletes a container after a failure, logging instead of throwing.
 *
 * @param ctx the command context
 * @param m the manager
 * @param id the container id
 */
export async function deleteQuietly(ctx: CommandContext, m: TaskManager, id: string): Promise<void> {
  try {
    await m.delete(ctx.global.namespace, id, { force: true });
  } catch (e) {
    ctx.logger.warn("clean up after failure", { id, error: e });
  }
}

/**
 * Runs `shimkit create`.
 *
 * @param args the arguments after `create`
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a bad command line
 * @throws ShimkitError when the container cannot be created
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const a = parseCreateArgs("create", args, process.cwd());
  if (a === "help") {
    ctx.stdout(createUsage("create"));
    return EXIT_OK;
  }
  const runtime = await pickRuntime(ctx, a.runtime);
  const spec = await prepareSpec(ctx, a, runtime);
  // A signal now would leave the shim and the bundle behind: it is held off until the create returns.
  const setup = new SetupInterrupts(`create ${JSON.stringify(a.id)}`, ctx.logger);
  try {
    return await withManager(ctx, async (m) => {
      const created = async (task: Task) => {
        if (setup.signal !== undefined) {
          await deleteQuietly(ctx, m, a.id);
          throw setup.canceled();
        }
        printCreated(ctx, task, "created");
        return EXIT_OK;
      };
      if (a.logUri !== undefined) {
        return await created(await createTask(ctx, m, a, spec, runtime, logUriStdio(a.logUri)));
      }
      const fifos = await createFifoSet({
        state: ctx.global.state,
        namespace: ctx.global.namespace,
        id: a.id,
        stdin: a.interactive,
        terminal: a.tty,
      });
      let task: Task;
      try {
        // Nobody reads yet: hold the FIFOs open so the shim's opens complete; it keeps its ends after that.
        task = await fifos.holdOpen(() => createTask(ctx, m, a, spec, runtime, fifos.paths));
      } catch (e) {
        await fifos.close();
        throw e;
      }
      if (setup.signal !== undefined) await fifos.close();
      return await created(task);
    });
  } finally {
    setup.dispose();
  }
}
