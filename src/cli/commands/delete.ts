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

import { FailedPreconditionError } from "../../errors.ts";
import type { TaskManager } from "../../task/manager.ts";
import type { ExitInfo } from "../../taskapi/types.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, exitCodeForError, UsageError } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { fifoDirOf, removeFifoDir } from "../stdio.ts";
import { withManager } from "./_task.ts";
import { parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit delete [--force] [--json] ID...

Deletes containers: task, shim, bundle and work dir. A running container must be
stopped first (shimkit kill ID), unless --force is given, which kills it. Prints each
deleted id; with --json, one array of {namespace, id, exitStatus, exitedAt}.

Flags:
  -f, --force    kill a running container, then delete it
  --json         print JSON
  -h, --help     show this help
`;

/**
 * Why a container in `status` cannot be deleted without `--force` (pure):
 * a live process would be killed, which `delete` only does when told to.
 *
 * @param id the container id
 * @param status its task status
 * @param force `--force` was given
 * @returns the error to throw, or undefined when the delete may go ahead
 */
export function deletePrecondition(
  id: string,
  status: string,
  force: boolean,
): FailedPreconditionError | undefined {
  if (force || (status !== "running" && status !== "paused" && status !== "pausing")) return undefined;
  return new FailedPreconditionError(
    `delete "${id}": container is ${status}: stop it first (shimkit kill ${id}) or use --force`,
  );
}

async function deleteOne(m: TaskManager, ctx: CommandContext, id: string, force: boolean): Promise<ExitInfo> {
  const ns = ctx.global.namespace;
  // The FIFO dir `create` made is named in the task's stdio; learn it before the task is gone.
  const st = await m.get(ns, id).then((t) => t.state()).catch(() => undefined);
  const refused = st && deletePrecondition(id, st.status, force);
  if (refused) throw refused;
  const exit = await m.delete(ns, id, { force });
  const dir = fifoDirOf(ctx.global.state, st?.stdout ?? "");
  if (dir) await removeFifoDir(dir);
  return exit;
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
  const parsed = parseFlags("delete", args, {
    force: { type: "boolean", short: "f" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (parsed.positionals.length === 0) {
    throw new UsageError('delete: missing container ID\nrun "shimkit delete --help" for usage');
  }
  const force = parsed.values.force ?? false;
  let code = EXIT_OK;
  const deleted: Array<{ namespace: string; id: string; exitStatus: number; exitedAt?: Date }> = [];
  await withManager(ctx, async (m) => {
    for (const id of parsed.positionals) {
      try {
        const exit = await deleteOne(m, ctx, id, force);
        if (ctx.global.json) {
          deleted.push({
            namespace: ctx.global.namespace,
            id,
            exitStatus: exit.exitStatus,
            exitedAt: exit.exitedAt,
          });
        } else ctx.stdout(`${id}\n`);
      } catch (e) {
        ctx.stderr(`shimkit: ${e instanceof Error ? e.message : String(e)}\n`);
        if (code === EXIT_OK) code = exitCodeForError(e);
      }
    }
  });
  // With --json: one array of what was deleted, with how each container ended (failures go to stderr).
  if (ctx.global.json) printJson(ctx, deleted);
  return code;
}
