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

import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { onlyPositional, parseFlags, parseSignalFlag } from "./_args.ts";
import { withManager } from "./_task.ts";
import { parseSignal } from "../signals.ts";

const USAGE = `usage: shimkit kill [--signal SIG] [--all] [--exec EXEC_ID] ID

Sends a signal to container ID's init process (or to an exec, or to all its processes).
The init process is pid 1 of the container: the kernel drops signals it has no handler
for, SIGTERM included, so a plain "sleep" ignores kill; use --signal KILL.

Flags:
  -s, --signal SIG     a name (SIGKILL, KILL, kill) or a number (9); default SIGTERM
  -a, --all            signal every process in the container
  --exec EXEC_ID       signal that exec process instead of the init process
  -h, --help           show this help
`;

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
  const dashed = args.find((a) =>
    /^-([0-9]+|SIG[A-Z0-9+-]*|[A-Z][A-Z0-9+-]*)$/.test(a) && looksLikeSignal(a.slice(1))
  );
  if (dashed !== undefined) {
    // kill(1)'s `kill -9 PID`.
    const rest = args.filter((a) => a !== dashed).join(" ");
    throw new UsageError(
      `kill: the signal goes in --signal: shimkit kill --signal ${dashed.slice(1)} ${rest}`.trimEnd(),
    );
  }
  const parsed = parseFlags("kill", args, {
    signal: { type: "string", short: "s" },
    all: { type: "boolean", short: "a" },
    exec: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  const v = parsed.values;
  if (v.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const pos = parsed.positionals;
  if (pos.length === 2 && v.signal === undefined) {
    // `kill ID SIG` or `kill SIG ID`, as kill(1) reads: say how to write it.
    const sig = looksLikeSignal(pos[1]) ? 1 : looksLikeSignal(pos[0]) ? 0 : -1;
    if (sig >= 0) {
      throw new UsageError(
        `kill: the signal goes in --signal: shimkit kill --signal ${pos[sig]} ${pos[1 - sig]}`,
      );
    }
  }
  const id = onlyPositional("kill", pos);
  if (v.all && v.exec !== undefined) throw new UsageError("kill: --all and --exec cannot be used together");
  const signal = parseSignalFlag(v.signal);
  await withManager(ctx, async (m) => {
    const task = await m.get(ctx.global.namespace, id);
    await task.kill(signal, { all: v.all ?? false, execId: v.exec });
  });
  return EXIT_OK;
}

/** True when `word` reads as a signal (SIGKILL, SIGFOO, KILL, 9), not a container id (`kill`, `web`). */
function looksLikeSignal(word: string): boolean {
  if (/^sig/i.test(word) || /^[0-9]+$/.test(word)) return true;
  try {
    parseSignal(word);
    return word === word.toUpperCase();
  } catch {
    return false;
  }
}
