/**
 * Shared plumbing for the container lifecycle commands (`run`, `create`,
 * `start`, `exec`, `kill`, `wait`, `delete`, `ps`, `state`, `pids`,
 * `events`): opening the TaskManager for this process, picking the runtime,
 * making the embedded fake shim reachable, forwarding signals and the
 * process's own byte streams.
 *
 * Every CLI call is its own process: the manager finds shims from what is on
 * disk (`TaskManager.get`), so `run -d` in one shell and `kill` in another work.
 *
 * @module
 */

import { chmod, mkdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Config, defaultConfig, FAKE_RUNTIME, socketDirOf } from "../../config/config.ts";
import { selfCommand } from "../../platform/self.ts";
import type { RuntimeResolver } from "../../runtime/resolve.ts";
import { checkStateDir, createConfiguredResolver, TaskManager } from "../../task/manager.ts";
import type { CommandContext } from "../context.ts";
import { resolveDefaultRuntime } from "../default_runtime.ts";
import { UsageError } from "../exit_codes.ts";
import { CanceledError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import { shellQuote } from "./_args.ts";
import { processStream } from "../process_output.ts";
import type { AttachStreams, ByteSink } from "../stdio.ts";

/** The fake shim's binary name (`io.containerd.fake.v2` → `containerd-shim-fake-v2`). */
export const FAKE_SHIM_BINARY = "containerd-shim-fake-v2";
/** The dir under the state dir where the CLI puts the fake shim entry point. */
export const STATE_BIN_DIR = "bin";

/**
 * The effective config of a command: the CLI's, else the defaults with the
 * global dirs and namespace.
 *
 * @param ctx the command context
 * @returns the config
 */
export function configOf(ctx: CommandContext): Config {
  if (ctx.config) return ctx.config;
  const c = defaultConfig();
  return { ...c, state: ctx.global.state, root: ctx.global.root, namespace: ctx.global.namespace };
}

/**
 * Opens the TaskManager for this CLI process. It also takes the events
 * listener role while no other process has it: a shim whose events nobody
 * accepts retries each one for about 15 s and only exits after that, so a
 * `run --rm` without a listener would leave its shim behind that long.
 *
 * @param ctx the command context
 * @returns an open manager; the caller must `close()` it (shims keep running)
 * @throws ShimkitError when the state or root dir cannot be used
 */
export async function openManager(ctx: CommandContext): Promise<TaskManager> {
  const config = configOf(ctx);
  return await TaskManager.open({
    state: ctx.global.state,
    root: ctx.global.root,
    logger: ctx.logger,
    config,
    // The documented default (`<state>/s`); without it the fake shim's sockets land in /run/shimkit/fake
    // whatever --state says.
    socketDir: socketDirOf(config),
    // At debug level each lifecycle phase is logged with its duration and the time since process start.
    onPhase: ctx.logger.enabled("debug")
      ? (name, ms) =>
        ctx.logger.debug("phase", {
          phase: name,
          ms: Number(ms.toFixed(2)),
          since_start_ms: Number(performance.now().toFixed(1)),
        })
      : undefined,
  });
}

/**
 * Runs `fn` with an open manager and always closes it.
 *
 * @param ctx the command context
 * @param fn the work
 * @returns what `fn` returns
 */
export async function withManager<T>(ctx: CommandContext, fn: (m: TaskManager) => Promise<T>): Promise<T> {
  const m = await openManager(ctx);
  try {
    return await fn(m);
  } finally {
    await m.close().catch((e) => ctx.logger.debug("close task manager", { error: e }));
  }
}

/**
 * A runtime resolver that searches where the TaskManager's does: the
 * configured runtime paths, `PATH`, then beside this executable.
 *
 * @param ctx the command context (config, `PATH`)
 * @returns a resolver
 */
export function runtimeResolver(ctx: CommandContext): RuntimeResolver {
  return createConfiguredResolver(configOf(ctx), ctx.env);
}

/**
 * Picks the runtime for `run`/`create` and logs which one and why (at info
 * when the default runtime has no shim and the embedded fake shim stands in,
 * else at debug). When it is the
 * embedded fake shim, makes sure a `containerd-shim-fake-v2` entry point
 * exists in `<state>/bin` and is on this process's `PATH`, where the resolver
 * (and a later CLI process restoring the shim) finds it. The shim binary is
 * resolved here, so a bad runtime name or path fails before anything is created.
 *
 * @param ctx the command context
 * @param requested `--runtime`, if given
 * @returns the runtime name or absolute shim path
 * @throws InvalidArgumentError for a malformed runtime name or a relative path, or a state dir whose
 *   events socket path would be too long
 * @throws NotFoundError when no shim binary exists for it
 * @throws ShimkitError of the errno kind when the fake shim entry point cannot be written
 */
export async function pickRuntime(ctx: CommandContext, requested: string | undefined): Promise<string> {
  // The first step of run/create, so it refuses a state dir the task manager would refuse (one that
  // cannot hold the events socket) before the fake shim entry point or the busybox rootfs is written.
  checkStateDir(ctx.global.state);
  const config = configOf(ctx);
  const choice = await resolveDefaultRuntime(requested, config, ctx.env);
  const reason = requested
    ? "named with --runtime"
    : choice.fellBack
    ? `default runtime "${config.defaultRuntime}" has no shim installed; using the embedded fake shim`
    : "default runtime from config";
  if (choice.runtime === FAKE_RUNTIME) await exposeFakeShim(ctx);
  const binary = await runtimeResolver(ctx).resolve(choice.runtime);
  const fields = { runtime: choice.runtime, binary, reason };
  if (choice.fellBack) ctx.logger.info("runtime selected", fields);
  else ctx.logger.debug("runtime selected", fields);
  return choice.runtime;
}

/**
 * Makes the embedded fake shim resolvable: writes `<state>/bin/containerd-shim-fake-v2`
 * (a symlink to this executable when it is a compiled binary, else a tiny
 * `sh` script that runs this CLI's `fake-shim` command) and puts that dir on
 * `PATH` (`ctx.env` and this process's environment, which shims inherit).
 *
 * @param ctx the command context
 * @returns the entry point's path
 * @throws ShimkitError of the errno kind when it cannot be written
 */
export async function exposeFakeShim(ctx: CommandContext): Promise<string> {
  const dir = join(ctx.global.state, STATE_BIN_DIR);
  const path = join(dir, FAKE_SHIM_BINARY);
  const self = selfCommand();
  const cmd = [self.file, ...self.args];
  await mkdir(dir, { recursive: true, mode: 0o711 });
  if (cmd.length === 1) {
    if ((await readlink(path).catch(() => undefined)) !== cmd[0]) {
      const tmp = `${path}.${process.pid}.tmp`;
      await rm(tmp, { force: true });
      await symlink(cmd[0], tmp);
      await rename(tmp, path);
    }
  } else {
    const script = `#!/bin/sh\nexec ${[...cmd, "fake-shim"].map(shellQuote).join(" ")} "$@"\n`;
    if ((await readFile(path, "utf8").catch(() => undefined)) !== script) {
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, script, { mode: 0o755 });
      await chmod(tmp, 0o755);
      await rename(tmp, path);
    }
  }
  for (const env of [ctx.env, process.env]) {
    const parts = (env.PATH ?? "").split(":").filter((p) => p !== "");
    if (!parts.includes(dir)) env.PATH = [...parts, dir].join(":");
  }
  return path;
}

/** Signals a foreground `run`/`exec`/`start -a` forwards to the container. */
export const FORWARDED_SIGNALS: ReadonlyArray<[NodeJS.Signals, number]> = [
  ["SIGINT", 2],
  ["SIGTERM", 15],
  ["SIGHUP", 1],
  ["SIGQUIT", 3],
  ["SIGUSR1", 10],
  ["SIGUSR2", 12],
];

/**
 * Forwards the signals this process receives to `onSignal` instead of dying
 * from them, as ctr's signal proxy does.
 *
 * @param onSignal called with the Linux signal number
 * @returns a function that stops forwarding
 */
export function forwardSignals(onSignal: (signal: number) => void): () => void {
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  for (const [name, num] of FORWARDED_SIGNALS) {
    const h = () => onSignal(num);
    try {
      process.on(name, h);
      handlers.push([name, h]);
    } catch {
      // This runtime cannot listen for that signal; it keeps its default action.
    }
  }
  return () => {
    for (const [name, h] of handlers) process.off(name, h);
  };
}

/** The signals that would end the CLI while it sets a container up (the forwarded ones but the USRs). */
const SETUP_INTERRUPTS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/**
 * Holds off the signals that would kill the CLI (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT) while `run` or `create` sets a container up: the shim runs in its
 * own process group, so dying there would leave the shim and the bundle
 * behind. The first signal is noted (see {@link SetupInterrupts.signal}) and
 * the command deletes what it made once the call in flight returns; a second
 * one exits at once with 128+N, leaving the rest to `shimkit gc`. Once the
 * container starts, {@link SetupInterrupts.handOver} gives the signals to
 * {@link forwardSignals}.
 */
export class SetupInterrupts {
  #signal: NodeJS.Signals | undefined;
  #handedOver = false;
  readonly #handlers: Array<[NodeJS.Signals, () => void]> = [];

  /**
   * Starts holding the signals off.
   *
   * @param what the command, for the messages (e.g. `run "c1"`)
   * @param log where the notes go
   * @param exit how to exit at a second signal (default `process.exit`)
   */
  constructor(what: string, log: Logger, exit: (code: number) => void = (code) => process.exit(code)) {
    for (const name of SETUP_INTERRUPTS) {
      const h = () => {
        if (this.#handedOver) return;
        if (this.#signal === undefined) {
          this.#signal = name;
          log.warn(
            `${what}: ${name} received while the container is set up; it is deleted once the shim answers ` +
              "(a second signal exits at once, leaving it to shimkit gc)",
          );
          return;
        }
        log.warn(`${what}: ${name} again: exiting now; shimkit gc removes what is left`);
        exit(128 + (SIGNAL_NUMBERS[name] ?? 0));
      };
      try {
        process.on(name, h);
        this.#handlers.push([name, h]);
      } catch {
        // This runtime cannot listen for that signal; it keeps its default action.
      }
    }
  }

  /** The first signal received during the setup, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.#signal;
  }

  /**
   * Ends the setup: from now on the signals are {@link forwardSignals}'s
   * (install it first, so no signal falls between the two).
   *
   * @throws CanceledError when a signal arrived during the setup (the caller deletes the container)
   */
  handOver(): void {
    if (this.#signal !== undefined) throw this.canceled();
    this.#handedOver = true;
  }

  /**
   * The error a command ends with after a signal during the setup.
   *
   * @returns a CanceledError naming the signal
   */
  canceled(): CanceledError {
    return new CanceledError(`interrupted by ${this.#signal} while the container was set up; it was deleted`);
  }

  /** Stops holding the signals off; idempotent. */
  dispose(): void {
    for (const [name, h] of this.#handlers.splice(0)) process.off(name, h);
  }
}

/** Linux numbers of the signals {@link SetupInterrupts} holds off. */
const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
};

/**
 * The CLI process's own byte streams for a container's stdio. Container
 * output is copied byte for byte (not through the string-based
 * `ctx.stdout`, which would mangle binary output).
 *
 * @param interactive connect our stdin (`-i`)
 * @returns streams for {@link FifoSet.attach}
 */
export function processStreams(interactive: boolean): AttachStreams {
  return {
    stdout: guardedSink(processStream("stdout")),
    stderr: guardedSink(processStream("stderr")),
    stdin: interactive ? process.stdin : undefined,
  };
}

/**
 * Wraps one of our output streams so that once it fails (EPIPE: `run ... |
 * head -1`) the container's output is dropped instead of waiting forever for
 * a `drain` that never comes; the container itself must not block on a full FIFO.
 *
 * @param stream process.stdout or process.stderr
 * @returns a sink that never stalls after an error
 */
export function guardedSink(stream: NodeJS.WriteStream): ByteSink {
  let broken = false;
  stream.on("error", () => {
    broken = true;
  });
  return {
    write: (chunk) => broken || stream.write(chunk),
    once: (_event, cb) => {
      if (broken) return cb();
      let called = false;
      const once = () => {
        if (called) return;
        called = true;
        stream.off("drain", once);
        stream.off("error", once);
        cb();
      };
      stream.on("drain", once);
      stream.on("error", once);
    },
  };
}

/**
 * Refuses `-i` with `-t` when our stdin is not a terminal (a pipe or a file), as docker and ctr
 * do. With a pty the runc shim closes the terminal when the stdin FIFO ends, which hangs the
 * process up: piped input would kill it, often before it starts ("cannot start a container that
 * has stopped").
 *
 * @param what the command and flags, for the message (e.g. `run`)
 * @param isTty whether stdin is a terminal (default: this process's stdin)
 * @throws UsageError when it is not
 */
export function requireTerminalStdin(
  what: string,
  isTty: boolean = (process.stdin as { isTTY?: boolean }).isTTY === true,
): void {
  if (isTty) return;
  throw new UsageError(
    `${what}: -i with -t needs a terminal on stdin, and stdin is a pipe or a file (its end would hang ` +
      "up the process's terminal); drop -t to pipe input to the process",
  );
}

/**
 * Puts our terminal in raw mode for `-t` when stdin is a TTY.
 *
 * @returns a function that restores it (a no-op when nothing was changed)
 */
export function enterRawMode(): () => void {
  const stdin = process.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") return () => {};
  stdin.setRawMode(true);
  return () => {
    try {
      stdin.setRawMode(false);
    } catch {
      // stdin already closed
    }
  };
}

/**
 * Reports our terminal's size, and changes to it, for `-t`.
 *
 * @param onResize called with columns and rows now and on every change
 * @returns a function that stops watching
 */
export function watchTerminalSize(onResize: (cols: number, rows: number) => void): () => void {
  const out = processStream("stdout");
  if (!out.isTTY) return () => {};
  const report = () => {
    if (out.columns && out.rows) onResize(out.columns, out.rows);
  };
  report();
  out.on("resize", report);
  return () => void out.off("resize", report);
}
