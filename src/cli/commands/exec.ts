/**
 * `shimkit exec`: run another process in a running container, with the
 * container's user, capabilities and environment (from its config.json) and
 * the given command; stream its output, forward signals, exit with its exit
 * status and delete the exec afterwards. `-d` starts it and returns.
 *
 * ```
 * shimkit exec [-t] [-i] [-d] [--cwd DIR] [--env K=V]... [--user UID[:GID]] ID EXEC_ID -- CMD...
 * ```
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execProcessSpec, type OciProcess } from "../../spec/default_spec.ts";
import { parseUser, type SpecUser } from "../../spec/parse.ts";
import type { Task } from "../../task/manager.ts";
import { FailedPreconditionError, kindOf } from "../../errors.ts";
import { validateId } from "../../ids.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { createFifoSet } from "../stdio.ts";
import { runForeground } from "./_attach.ts";
import { parseFlags, splitAtPositionals } from "./_args.ts";
import { requireTerminalStdin, withManager } from "./_task.ts";

const USAGE = `usage: shimkit exec [flags] ID EXEC_ID [--] CMD [ARG...]

Runs CMD as another process (named EXEC_ID) in running container ID, with the container's
user, capabilities and environment; streams its output and exits with its exit status.
Flags come before ID; everything after EXEC_ID is the command.

Flags:
  -t, --tty                allocate a pseudo-terminal
  -i, --interactive        connect stdin to the process (with -t, stdin must be a terminal)
  -d, --detach             start the process and return
  -e, --env KEY=VALUE      set an environment variable (repeatable)
  --cwd DIR                working directory (absolute; default: the container's)
  -u, --user UID[:GID]     run as this user (numbers; GID defaults to 0; default: the container's)
  -h, --help               show this help

Example:
  shimkit exec demo e1 -- sh -c 'ps; hostname'
`;

/** The flags `exec` accepts. */
const EXEC_OPTIONS = {
  tty: { type: "boolean", short: "t" },
  interactive: { type: "boolean", short: "i" },
  detach: { type: "boolean", short: "d" },
  cwd: { type: "string" },
  env: { type: "string", multiple: true, short: "e" },
  user: { type: "string", short: "u" },
  help: { type: "boolean", short: "h" },
} as const;

/** `exec` command line, parsed. */
export interface ExecArgs {
  /** Container id. */
  id: string;
  /** Exec id. */
  execId: string;
  /** The command. */
  args: string[];
  /** `-t`. */
  tty: boolean;
  /** `-i`. */
  interactive: boolean;
  /** `-d`. */
  detach: boolean;
  /** `--cwd`. */
  cwd?: string;
  /** `--env`. */
  env: string[];
  /** `--user UID[:GID]`. */
  user?: SpecUser;
}

/**
 * Parses `exec` arguments (pure).
 *
 * @param argv the arguments after `exec`
 * @returns the parsed arguments, or `"help"`
 * @throws UsageError for unknown flags, missing ids or command, conflicting flags
 * @throws InvalidArgumentError for a malformed exec id
 */
export function parseExecArgs(argv: string[]): ExecArgs | "help" {
  const { head, rest } = splitAtPositionals(argv, EXEC_OPTIONS, 2);
  const parsed = parseFlags("exec", head, EXEC_OPTIONS);
  const v = parsed.values;
  if (v.help) return "help";
  const [id, execId] = parsed.positionals;
  const args = rest;
  if (id === undefined || execId === undefined) {
    throw new UsageError('exec: missing container ID or EXEC_ID\nrun "shimkit exec --help" for usage');
  }
  validateId(id, "container id");
  const dash = head.indexOf("--");
  if (dash >= 0 && head.slice(0, dash).includes(id)) {
    // `exec web -- ls /` would otherwise run "/" as a process named "ls".
    throw new UsageError(
      `exec: missing EXEC_ID: "--" comes right after container ID ${JSON.stringify(id)}\n` +
        `usage: shimkit exec [flags] ID EXEC_ID [--] CMD [ARG...] (e.g. shimkit exec ${id} e1 -- ${
          [execId, ...args].join(" ")
        })`,
    );
  }
  if (args.length === 0) throw new UsageError("exec: missing command to run");
  if (v.detach && v.interactive) {
    throw new UsageError("exec: --detach and --interactive cannot be used together");
  }
  validateId(execId, "exec id");
  return {
    id,
    execId,
    args,
    tty: v.tty ?? false,
    interactive: v.interactive ?? false,
    detach: v.detach ?? false,
    cwd: v.cwd,
    env: v.env ?? [],
    user: v.user === undefined ? undefined : parseUser(v.user),
  };
}

async function containerProcess(task: Task, ctx: CommandContext): Promise<OciProcess | undefined> {
  try {
    const spec = JSON.parse(await readFile(join(task.bundle, "config.json"), "utf8"));
    return spec?.process;
  } catch (e) {
    ctx.logger.warn("container spec unreadable; exec uses the default process settings", {
      id: task.id,
      error: e,
    });
    return undefined;
  }
}

/**
 * Exec, with a shim's bare refusal explained: the runc shim answers an exec
 * into a stopped or paused container with status Unknown ("cannot exec in a
 * stopped state"), which would exit 1. When Exec fails that way, the
 * container's state is asked, and a container that is not running becomes a
 * FailedPrecondition (exit 6) that says so.
 *
 * @param task the container's task
 * @param execId the exec id
 * @param req the Exec request
 * @returns when the exec process is created
 * @throws FailedPreconditionError when the container is stopped or paused; the Exec error otherwise
 */
export async function execExplained(
  task: Task,
  execId: string,
  req: Parameters<Task["exec"]>[1],
): Promise<void> {
  try {
    await task.exec(execId, req);
  } catch (err) {
    if (kindOf(err) !== "unknown") throw err;
    const status = await task.state().then((st) => st.status, () => undefined);
    if (status === "stopped" || status === "paused") {
      throw new FailedPreconditionError(
        `exec "${task.id}" exec "${execId}": container is ${status}: exec needs a running container`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Runs `shimkit exec`.
 *
 * @param args the arguments after `exec`
 * @param ctx the command context
 * @returns the exec's exit status, or 0 with `-d`
 * @throws UsageError for a bad command line
 * @throws NotFoundError when there is no such container
 * @throws AlreadyExistsError when the exec id is taken
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const a = parseExecArgs(args);
  if (a === "help") {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  if (a.interactive && a.tty) requireTerminalStdin("exec");
  return await withManager(ctx, async (m) => {
    const task = await m.get(ctx.global.namespace, a.id);
    const process = execProcessSpec(await containerProcess(task, ctx), {
      args: a.args,
      terminal: a.tty,
      env: a.env,
      cwd: a.cwd,
      user: a.user,
    });
    const spec = process as unknown as Record<string, unknown>;
    if (a.detach) {
      await execExplained(task, a.execId, {
        process: spec,
        stdin: "",
        stdout: "",
        stderr: "",
        terminal: a.tty,
      });
      await task.start(a.execId);
      return EXIT_OK;
    }
    const fifos = await createFifoSet({
      state: ctx.global.state,
      namespace: ctx.global.namespace,
      id: a.id,
      execId: a.execId,
      stdin: a.interactive,
      terminal: a.tty,
    });
    try {
      // Our ends must be open before Exec: the runc shim's open of its write end waits for a reader.
      await fifos.open();
      await execExplained(task, a.execId, { process: spec, ...fifos.paths });
      try {
        const exit = await runForeground(task, fifos, {
          execId: a.execId,
          interactive: a.interactive,
          tty: a.tty,
          logger: ctx.logger,
        });
        return exit.exitStatus;
      } finally {
        await task.deleteProcess(a.execId).catch((e) =>
          ctx.logger.warn("delete exec", { id: a.id, exec: a.execId, error: e })
        );
      }
    } finally {
      await fifos.close();
    }
  });
}
