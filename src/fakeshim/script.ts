/**
 * What a simulated process does, decided from its args and the scenario (pure).
 *
 * Without a scenario entry the args are read by a tiny shell:
 * - `echo [-n] WORDS…` prints the words (`>&2` sends them to stderr)
 * - `true` → 0, `false` → 1, `exit N` → N (inside `sh -c`)
 * - `sleep N` (seconds, or `1s`/`500ms`/`2m`, `infinity`) waits
 * - `cat` (or `cat -`) copies stdin to stdout until stdin is closed (CloseIO, or ^D on a terminal)
 * - `sh -c "…"` / `bash -c "…"` runs its script: commands split on `;`, `&&`,
 *   `||` and newlines, with single and double quotes
 * - anything else is "not found": a line on stderr, exit 127 (as a shell says)
 *
 * A scenario entry that sets any of exit_code, duration, stdout or stderr
 * replaces that reading entirely; `traps` and `oom` apply either way.
 *
 * @module
 */

import { parseDuration, type ProcessSpec } from "./faults.ts";

/** One step of a simulated process. */
export type Step =
  | { kind: "write"; stream: "stdout" | "stderr"; text: string }
  | { kind: "sleep"; ms: number }
  | { kind: "copyStdin"; stream: "stdout" | "stderr" }
  | { kind: "exit"; code: number };

/** What a simulated process does, start to exit. */
export interface Program {
  /** Steps run in order; the last is always an exit. */
  steps: Step[];
  /** Signals the process ignores (never SIGKILL). */
  traps: ReadonlySet<number>;
  /** Publish /tasks/oom just before exiting. */
  oom: boolean;
}

const SIGKILL = 9;
const NO_EXIT_SIGNALS = new Set([17, 18, 19, 20, 21, 22, 23, 28]);

/**
 * Splits a shell script into commands and their words: quotes group, `;` and
 * newlines separate, `&&`/`||` are kept as separator tokens.
 *
 * @param script the `sh -c` text
 * @returns a list of commands, each a list of words, with `{op}` entries between
 */
export function tokenizeShell(script: string): Array<{ words: string[]; op: ";" | "&&" | "||" }> {
  const out: Array<{ words: string[]; op: ";" | "&&" | "||" }> = [];
  let words: string[] = [];
  let word = "";
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  const endCmd = (op: ";" | "&&" | "||") => {
    endWord();
    if (words.length > 0 || op !== ";") out.push({ words, op });
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    if (c === "'") {
      const j = script.indexOf("'", i + 1);
      const end = j < 0 ? script.length : j;
      word += script.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; i < script.length && script[i] !== '"'; i++) {
        if (script[i] === "\\" && i + 1 < script.length && '"\\$`'.includes(script[i + 1])) i++;
        word += script[i];
      }
    } else if (c === "\\" && i + 1 < script.length) {
      word += script[++i];
      inWord = true;
    } else if (c === ";" || c === "\n") {
      endCmd(";");
    } else if ((c === "&" || c === "|") && script[i + 1] === c) {
      endCmd(c === "&" ? "&&" : "||");
      i++;
    } else if (c === " " || c === "\t") {
      endWord();
    } else if (c === "#" && !inWord) {
      while (i + 1 < script.length && script[i + 1] !== "\n") i++;
    } else {
      word += c;
      inWord = true;
    }
  }
  endCmd(";");
  return out;
}

function sleepMs(arg: string | undefined): number {
  if (arg === undefined) return 0;
  try {
    return parseDuration(arg);
  } catch {
    return 0;
  }
}

interface ShellState {
  steps: Step[];
  status: number;
  exited: boolean;
}

function basename(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}

function runCommand(words: string[], st: ShellState, depth: number): void {
  let stream: "stdout" | "stderr" = "stdout";
  const args = words.filter((w) => {
    if (w === ">&2" || w === "1>&2") {
      stream = "stderr";
      return false;
    }
    return w !== ">&1" && w !== "2>&1";
  });
  if (args.length === 0) return;
  const cmd = basename(args[0]);
  switch (cmd) {
    case "echo": {
      let rest = args.slice(1);
      let nl = "\n";
      if (rest[0] === "-n") {
        nl = "";
        rest = rest.slice(1);
      }
      st.steps.push({ kind: "write", stream, text: rest.join(" ") + nl });
      st.status = 0;
      return;
    }
    case "true":
    case ":":
      st.status = 0;
      return;
    case "false":
      st.status = 1;
      return;
    case "exit": {
      const n = Number(args[1] ?? st.status);
      st.status = Number.isInteger(n) ? ((n % 256) + 256) % 256 : 2;
      st.exited = true;
      return;
    }
    case "sleep":
      st.steps.push({ kind: "sleep", ms: sleepMs(args[1]) });
      st.status = 0;
      return;
    case "cat":
      // Files do not exist in the simulation: only `cat` and `cat -` do something (copy stdin).
      if (args.slice(1).every((a) => a === "-")) st.steps.push({ kind: "copyStdin", stream });
      st.status = 0;
      return;
    case "sh":
    case "bash":
    case "ash":
    case "dash":
      if (args[1] === "-c" && args[2] !== undefined && depth < 8) {
        const inner: ShellState = { steps: st.steps, status: 0, exited: false };
        runScript(args[2], inner, depth + 1);
        st.status = inner.status;
        return;
      }
      st.status = 0;
      return;
    default:
      // As a shell that finds no such program (the simulation runs none): say so, exit 127.
      st.steps.push({
        kind: "write",
        stream: "stderr",
        text: `${depth > 0 ? "sh: " : ""}${args[0]}: not found (the fake shim runs no programs; it knows ` +
          "echo, true, false, exit, sleep, cat and sh -c)\n",
      });
      st.status = 127;
  }
}

function runScript(script: string, st: ShellState, depth: number): void {
  let skip = false;
  for (const { words, op } of tokenizeShell(script)) {
    if (!skip) runCommand(words, st, depth);
    if (st.exited) return;
    // `a && b` runs b only after success, `a || b` only after failure.
    skip = op === "&&" ? st.status !== 0 : op === "||" ? st.status === 0 : false;
  }
}

/**
 * Runs the tiny shell over a process's args.
 *
 * @param args the process args (`config.json` process.args or the exec spec's args)
 * @returns the steps, ending with an exit
 */
export function shellProgram(args: readonly string[]): Step[] {
  const st: ShellState = { steps: [], status: 0, exited: false };
  if (args.length > 0) runCommand([...args], st, 0);
  st.steps.push({ kind: "exit", code: st.status });
  return st.steps;
}

/**
 * True when a scenario entry scripts the behaviour itself (any of exit_code,
 * duration, stdout, stderr), replacing the tiny shell.
 *
 * @param spec the scenario entry
 * @returns boolean
 */
export function isScripted(spec: ProcessSpec | undefined): boolean {
  return !!spec &&
    (spec.exitCode !== undefined || spec.durationMs !== undefined || spec.stdout !== undefined ||
      spec.stderr !== undefined);
}

/**
 * Decides what a process does.
 *
 * @param args its args
 * @param spec the scenario entry that applies (init, the exec's own, or the exec default)
 * @returns the program
 * @example
 * ```ts
 * programFor(["echo", "hi"], undefined).steps;
 * // [{ kind: "write", stream: "stdout", text: "hi\n" }, { kind: "exit", code: 0 }]
 * ```
 */
export function programFor(args: readonly string[], spec: ProcessSpec | undefined): Program {
  let steps: Step[];
  if (spec && isScripted(spec)) {
    steps = [];
    if (spec.stdout) steps.push({ kind: "write", stream: "stdout", text: spec.stdout });
    if (spec.stderr) steps.push({ kind: "write", stream: "stderr", text: spec.stderr });
    if (spec.durationMs) steps.push({ kind: "sleep", ms: spec.durationMs });
    steps.push({ kind: "exit", code: spec.exitCode ?? 0 });
  } else {
    steps = shellProgram(args);
  }
  const traps = new Set((spec?.traps ?? []).filter((s) => s !== SIGKILL));
  return { steps, traps, oom: spec?.oom ?? false };
}

/**
 * Picks the scenario entry for a process: init's for the init process, else the exec's own, else the exec default.
 *
 * @param scenario the relevant parts of the scenario
 * @param execId the exec id, or "" for init
 * @returns the entry
 */
export function specFor(
  scenario: { init: ProcessSpec; exec: ProcessSpec; execs: Record<string, ProcessSpec> },
  execId: string,
): ProcessSpec {
  if (execId === "") return scenario.init;
  return scenario.execs[execId] ?? scenario.exec;
}

/**
 * The exit status a signal gives a process that does not trap it, or null when it is ignored.
 *
 * @param signal the signal number
 * @param traps signals the process ignores
 * @returns 128+signal, or null
 */
export function signalOutcome(signal: number, traps: ReadonlySet<number>): number | null {
  if (signal === 0) return null;
  if (signal !== SIGKILL && traps.has(signal)) return null;
  // SIGCHLD, SIGCONT, SIGURG and SIGWINCH are ignored by default; the stop signals stop, not end.
  if (NO_EXIT_SIGNALS.has(signal)) return null;
  return 128 + signal;
}
