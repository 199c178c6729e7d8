/**
 * The `shimkit` entry point. Invoked as `containerd-shim-fake-v2` or
 * `containerd-shim-fake-v1` (a symlink to the same executable) it runs the
 * embedded fake shim; otherwise it parses global flags, loads the config and
 * dispatches to `./commands/<name>.ts`, imported lazily so `--version` and
 * `--help` load nothing heavy (no protobuf, no ttrpc).
 *
 * @module
 */

import { basename } from "node:path";
import { kindOf, NotImplementedError, ShimkitError } from "../errors.ts";
import { createLogger } from "../log/logger.ts";
import type { CommandContext } from "./context.ts";
import { EXIT_OK, EXIT_USAGE, exitCodeForError, isUsageError, UsageError } from "./exit_codes.ts";
import { configPathOf, liftJsonFlag, parseGlobalArgs, resolveGlobalOptions } from "./global_args.ts";
import { fdWriter, flushProcessOutput } from "./process_output.ts";
import { VERSION } from "./version_info.ts";

/** What a command module exports. */
export interface CommandModule {
  /**
   * Runs the command.
   *
   * @param args the arguments after the command name
   * @param ctx I/O, environment, logger, global options and config
   * @returns the exit code
   */
  main(args: string[], ctx: CommandContext): Promise<number>;
}

/** One entry of the command table. */
export interface CommandEntry {
  /** One-line description for `--help`. */
  summary: string;
  /** Imports the command module; a literal specifier so `bun build --compile` bundles it. */
  load: () => Promise<Partial<CommandModule>>;
  /** The module's file name under `commands/`, to tell "not in this build" from other import failures. */
  file: string;
  /** A command with no container command in its arguments: `--json` is also accepted after its name. */
  listing?: boolean;
}

/**
 * Every command, in help order. Modules that are not written yet fail to
 * import and dispatch reports "command not available in this build".
 */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  run: {
    summary: "create and start a container, wait for it and pass its exit status through",
    file: "run.ts",
    load: () => import("./commands/run.ts"),
  },
  create: {
    summary: "create a container: bundle, shim and task",
    file: "create.ts",
    load: () => import("./commands/create.ts"),
  },
  start: {
    summary: "start a created container",
    file: "start.ts",
    load: () => import("./commands/start.ts"),
  },
  exec: {
    summary: "run another process in a running container",
    file: "exec.ts",
    load: () => import("./commands/exec.ts"),
  },
  kill: {
    summary: "send a signal to a container's processes",
    file: "kill.ts",
    load: () => import("./commands/kill.ts"),
  },
  wait: {
    summary: "wait for a container to exit; exit with its status",
    file: "wait.ts",
    load: () => import("./commands/wait.ts"),
  },
  delete: {
    summary: "delete a container: task, shim and bundle",
    file: "delete.ts",
    listing: true,
    load: () => import("./commands/delete.ts"),
  },
  ps: { summary: "list containers", file: "ps.ts", listing: true, load: () => import("./commands/ps.ts") },
  ls: {
    summary: "list containers (alias of ps)",
    file: "ls.ts",
    listing: true,
    load: () => import("./commands/ls.ts"),
  },
  state: {
    summary: "show a container's task state",
    file: "state.ts",
    listing: true,
    load: () => import("./commands/state.ts"),
  },
  pids: {
    summary: "list the processes of a container",
    file: "pids.ts",
    listing: true,
    load: () => import("./commands/pids.ts"),
  },
  events: {
    summary: "stream task events from shims",
    file: "events.ts",
    listing: true,
    load: () => import("./commands/events.ts"),
  },
  call: {
    summary: "call a shim TTRPC method with a JSON request",
    file: "call.ts",
    load: () => import("./commands/call.ts"),
  },
  info: {
    summary: "show a runtime's info (shim -info)",
    file: "info.ts",
    listing: true,
    load: () => import("./commands/info.ts"),
  },
  load: {
    summary: "reconnect to running shims and clean up dead ones (restore)",
    file: "load.ts",
    listing: true,
    load: () => import("./commands/load.ts"),
  },
  gc: {
    summary: "remove leftover bundles, sockets, work directories, stdio FIFO dirs and half-done deletes",
    file: "gc.ts",
    listing: true,
    load: () => import("./commands/gc.ts"),
  },
  doctor: {
    summary: "check a state dir (ours or containerd's): shims, bundles, sockets, leftovers",
    file: "doctor.ts",
    listing: true,
    load: () => import("./commands/doctor.ts"),
  },
  publish: {
    summary: "forward an event from a shim (used as the shim's -publish-binary)",
    file: "publish.ts",
    load: () => import("./commands/publish.ts"),
  },
  config: {
    summary: "print the default, effective or migrated config",
    file: "config.ts",
    listing: true,
    load: () => import("./commands/config.ts"),
  },
  "fake-shim": {
    summary: "run the embedded fake shim (as containerd-shim-fake-v2 would)",
    file: "",
    load: () => Promise.resolve({}),
  },
  version: {
    summary: "print version information",
    file: "version.ts",
    listing: true,
    load: () => import("./commands/version.ts"),
  },
};

/** Program names that run the embedded fake shim instead of the CLI. */
export const FAKE_SHIM_NAMES: readonly string[] = ["containerd-shim-fake-v2", "containerd-shim-fake-v1"];

/** The process-level I/O {@link runCli} works against; {@link main} passes the real process. */
export interface CliIO {
  /** The name the program was invoked as (`process.argv0`). */
  argv0: string;
  /** The resolved path of the running executable (`process.execPath`). */
  execPath?: string;
  /** Writes to standard output. */
  stdout: (s: string) => void;
  /** Writes to standard error. */
  stderr: (s: string) => void;
  /** Reads all of standard input. */
  stdin: () => Promise<Uint8Array>;
  /** The environment. */
  env: Record<string, string | undefined>;
  /** The working directory relative `--state`/`--root` are resolved against (default `process.cwd()`). */
  cwd?: string;
}

/**
 * The `--help` text: usage, global flags and every command.
 *
 * @returns help text ending in a newline
 */
export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 3;
  const commands = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width)}${c.summary}`).join("\n");
  return `shimkit ${VERSION}: run and drive containerd runtime shims without containerd

Usage: shimkit [global flags] <command> [args...]
       shimkit <command> --help       (the flags of one command)

Example: shimkit run --rm demo -- echo hi

Commands:
${commands}

Global flags:
  --state DIR               state directory (env SHIMKIT_STATE; default /run/shimkit)
  --root DIR                root directory (env SHIMKIT_ROOT; default /var/lib/shimkit)
  -n, --namespace NS        namespace (env SHIMKIT_NAMESPACE; default default)
  --config FILE             config file (env SHIMKIT_CONFIG; default /etc/shimkit/config.toml if present)
  --log-level LEVEL         trace, debug, info, warn or error (default info)
  --log-format FORMAT       logfmt or json (default logfmt)
  --json                    JSON output (listings also accept it after the command)
  -a, --address ADDR        event socket address (set by shims calling publish)
  -h, --help                show this help
  -v, --version             print the version

Exit codes: 0 ok, 1 failure, 2 usage, 3-14 one per error kind (docs/exit-codes.md);
run and wait exit with the container's own status.
`;
}

function isFakeShimName(path: string | undefined): boolean {
  return path !== undefined && FAKE_SHIM_NAMES.includes(basename(path));
}

async function runFakeShim(argv: string[], argv0: string): Promise<number> {
  let mod: { main?: (argv: string[], argv0: string) => Promise<number> };
  try {
    mod = await import("../fakeshim/main.ts");
  } catch (e) {
    if (isMissingModule(e, "fakeshim/main.ts")) {
      throw new NotImplementedError("fake shim not available in this build", { cause: e });
    }
    throw e;
  }
  if (typeof mod.main !== "function") throw new NotImplementedError("fake shim not available in this build");
  return await mod.main(argv, argv0);
}

function isMissingModule(err: unknown, file: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === "ERR_MODULE_NOT_FOUND" && typeof e.message === "string" && e.message.includes(file);
}

function usage(message: string): UsageError {
  return new UsageError(
    `${message}\ncommands: ${Object.keys(COMMANDS).join(", ")}\nrun "shimkit --help" for usage`,
  );
}

/**
 * Runs the CLI against the given I/O and returns the exit code; never throws.
 * Errors are printed as `shimkit: <message>` and mapped to exit codes by
 * `exit_codes.ts`.
 *
 * @param argv the arguments after the program name
 * @param io process I/O
 * @returns the exit code
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  // With --log-format json, the final error is a JSON log line too, so stderr stays parseable.
  let jsonErrors = false;
  try {
    if (isFakeShimName(io.argv0) || isFakeShimName(io.execPath)) {
      const name = isFakeShimName(io.argv0) ? basename(io.argv0) : basename(io.execPath!);
      return await runFakeShim(argv, name);
    }
    const parsed = parseGlobalArgs(argv);
    jsonErrors = parsed.flags.logFormat === "json";
    if (parsed.flags.version) {
      io.stdout(`shimkit version ${VERSION}\n`);
      return EXIT_OK;
    }
    if (parsed.flags.help || parsed.command === "help") {
      io.stdout(helpText());
      return EXIT_OK;
    }
    if (parsed.command === undefined) {
      io.stderr(helpText());
      return EXIT_USAGE;
    }
    if (parsed.command === "fake-shim") return await runFakeShim(parsed.args, FAKE_SHIM_NAMES[0]);
    const entry = Object.hasOwn(COMMANDS, parsed.command) ? COMMANDS[parsed.command] : undefined;
    if (!entry) throw usage(`unknown command "${parsed.command}"`);

    let args = parsed.args;
    if (entry.listing) {
      const lifted = liftJsonFlag(args);
      args = lifted.args;
      if (lifted.json) parsed.flags.json = true;
    }
    const { loadConfigOrDefault } = await import("../config/load.ts");
    const loaded = await loadConfigOrDefault(configPathOf(parsed.flags, io.env));
    const global = resolveGlobalOptions(
      parsed.flags,
      io.env,
      loaded.config,
      loaded.path,
      io.cwd ?? process.cwd(),
    );
    const logger = createLogger({
      level: global.logLevel,
      format: global.logFormat,
      write: (line) => io.stderr(line + "\n"),
    });
    for (const w of loaded.warnings) logger.warn(w, { config: loaded.path });
    const config = { ...loaded.config, state: global.state, root: global.root, namespace: global.namespace };
    const ctx: CommandContext = {
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin,
      env: io.env,
      logger,
      global,
      config,
    };

    let mod: Partial<CommandModule>;
    try {
      mod = await entry.load();
    } catch (e) {
      if (isMissingModule(e, `commands/${entry.file}`)) {
        throw new NotImplementedError(`command "${parsed.command}" not available in this build`, {
          cause: e,
        });
      }
      throw e;
    }
    if (typeof mod.main !== "function") {
      throw new NotImplementedError(`command "${parsed.command}" not available in this build`);
    }
    return await mod.main(args, ctx);
  } catch (err) {
    const code = exitCodeForError(err);
    // Not one of ours: a bug, so show where it came from.
    const stack = !(err instanceof ShimkitError) && !isUsageError(err) && err instanceof Error
      ? err.stack
      : undefined;
    if (jsonErrors) {
      const line = (l: string) => io.stderr(l + "\n");
      createLogger({ level: "error", format: "json", write: line }).error(errorMessage(err), {
        kind: isUsageError(err) ? "usage" : kindOf(err),
        exit_code: code,
        ...(stack ? { stack } : {}),
      });
      return code;
    }
    io.stderr(`shimkit: ${errorMessage(err)}\n`);
    if (stack) io.stderr(stack + "\n");
    return code;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
    chunks.push(bytes);
    size += bytes.length;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Runs shimkit as the current process: real argv, stdio and environment;
 * flushes output and exits with the command's code.
 *
 * @returns never resolves normally; the process exits
 */
export async function main(): Promise<never> {
  const code = await runCli(process.argv.slice(2), {
    argv0: process.argv0,
    execPath: process.execPath,
    stdout: fdWriter("stdout"),
    stderr: fdWriter("stderr"),
    stdin: () => readAll(process.stdin),
    env: process.env,
  });
  await flushProcessOutput();
  process.exit(code);
}

if (import.meta.main) void main();
