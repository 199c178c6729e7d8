/**
 * Runs the shimkit CLI as a child process, the way a user would: the
 * compiled `dist/shimkit` when `SHIMKIT_BIN` is set, else
 * `bun src/cli/main.ts`. The environment is pinned: the caller's `SHIMKIT_*`
 * variables are dropped so only what the test passes counts.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Options for {@link runCli}. */
export interface RunCliOptions {
  /** Extra environment variables (added to the pinned base). */
  env?: Record<string, string>;
  /** Bytes or text written to stdin (stdin is closed either way). */
  stdin?: string | Uint8Array;
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Kill the CLI after this long (default 60 s). */
  timeoutMs?: number;
  /** Run under this program name (`argv0`), e.g. `containerd-shim-fake-v2`. */
  argv0?: string;
  /**
   * Feed stdin from this file through a `cat` process and a pipe, as `cat FILE | shimkit …` in a
   * shell does (instead of `stdin`): the writer closes the pipe on its own schedule.
   */
  stdinPipedFrom?: string;
}

/** What {@link runCli} returns. */
export interface CliResult {
  /** Exit code; 128+N when killed by signal N. */
  code: number;
  /** Everything written to stdout. */
  stdout: string;
  /** Everything written to stderr. */
  stderr: string;
}

/**
 * The command that runs the CLI: `[SHIMKIT_BIN]`, or `[bun, src/cli/main.ts]`.
 *
 * @returns argv prefix; the first element is the executable
 */
export function cliCommand(): string[] {
  const bin = process.env.SHIMKIT_BIN;
  if (bin) return [isAbsolute(bin) ? bin : join(REPO_ROOT, bin)];
  const localBun = join(REPO_ROOT, "node_modules", ".bin", "bun");
  return [existsSync(localBun) ? localBun : "bun", join(REPO_ROOT, "src", "cli", "main.ts")];
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/**
 * Spawns the CLI with `args` and collects its output.
 *
 * @param args arguments after the program name
 * @param options environment, stdin, cwd, timeout
 * @returns exit code, stdout and stderr
 * @example
 * ```ts
 * const r = await runCli(["--version"]);
 * // r.code === 0, r.stdout starts with "shimkit version"
 * ```
 */
export function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const [exe, ...pre] = cliCommand();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("SHIMKIT_")) env[k] = v;
  }
  Object.assign(env, { NO_COLOR: "1" }, options.env);
  // `exec` makes the CLI take the shell's pid, so the timeout's kill reaches it.
  const argv = options.stdinPipedFrom === undefined
    ? [exe, ...pre, ...args]
    : ["/bin/sh", "-c", 'cat "$0" | exec "$@"', options.stdinPipedFrom, exe, ...pre, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd ?? REPO_ROOT,
      env,
      stdio: ["pipe", "pipe", "pipe"],
      argv0: options.argv0,
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout.on("data", (c: Uint8Array) => out.push(c));
    child.stderr.on("data", (c: Uint8Array) => err.push(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const decode = (chunks: Uint8Array[]) => Buffer.concat(chunks).toString("utf8");
      resolvePromise({
        code: code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0),
        stdout: decode(out),
        stderr: decode(err),
      });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(options.stdin ?? "");
  });
}
