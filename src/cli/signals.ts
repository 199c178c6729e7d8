/**
 * Signal names and numbers for the CLI (`kill --signal`, exit statuses), with
 * the Linux numbering of x86, arm and the generic syscall ABI (not mips,
 * alpha or sparc). Pure: no I/O.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** Real-time signal range on Linux as glibc exposes it (SIGRTMIN..SIGRTMAX). */
export const SIGRTMIN = 34;
/** The highest signal number on Linux. */
export const SIGRTMAX = 64;

/** Standard signal name (without `SIG`) → Linux number. Aliases share a number. */
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};

/** Number → canonical name (first name listed wins over its aliases). */
const NAMES: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, num] of Object.entries(SIGNALS)) if (!m.has(num)) m.set(num, `SIG${name}`);
  return m;
})();

/**
 * Parses a signal given by name or number: `SIGTERM`, `TERM`, `term`, `15`,
 * `SIGRTMIN+3`, `RTMAX-1`.
 *
 * @param value user input
 * @returns the Linux signal number (1–64)
 * @throws InvalidArgumentError for an unknown name or a number out of range
 * @example
 * ```ts
 * parseSignal("SIGKILL"); // 9
 * parseSignal("hup"); // 1
 * ```
 */
export function parseSignal(value: string): number {
  const v = value.trim().toUpperCase();
  if (/^[0-9]+$/.test(v)) {
    const n = Number(v);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new InvalidArgumentError(`invalid signal "${value}": want a number from 1 to ${SIGRTMAX}`);
  }
  const name = v.startsWith("SIG") ? v.slice(3) : v;
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])([0-9]+))?$/.exec(name);
  if (rt) {
    const off = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === "-" ? -1 : 1);
    const n = (rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + off;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw new InvalidArgumentError(`invalid signal "${value}": unknown signal name`);
}

/**
 * Names a signal number: `SIGTERM` for 15, `SIGRTMIN+2` for 36.
 *
 * @param signal Linux signal number
 * @returns the canonical name, or the number as text when it has none
 */
export function formatSignal(signal: number): string {
  const name = NAMES.get(signal);
  if (name) return name;
  if (signal === SIGRTMIN) return "SIGRTMIN";
  if (signal === SIGRTMAX) return "SIGRTMAX";
  if (signal > SIGRTMIN && signal < SIGRTMAX) return `SIGRTMIN+${signal - SIGRTMIN}`;
  return String(signal);
}

/**
 * Returns the signal a shell-style exit status reports (128+N), if any: 137 → 9.
 *
 * @param exitStatus the exit status the shim reported
 * @returns the signal number, or undefined when the status is an ordinary exit code
 */
export function signalOfExitStatus(exitStatus: number): number | undefined {
  const n = exitStatus - 128;
  return n >= 1 && n <= SIGRTMAX ? n : undefined;
}

/** How many SIGINTs within {@link INTERRUPT_WINDOW_MS} make a foreground command kill its container. */
export const INTERRUPTS_TO_KILL = 3;
/** The window in which repeated SIGINTs count together. */
export const INTERRUPT_WINDOW_MS = 5000;

/** What to do with one signal a foreground `run`/`exec`/`start -a` received. */
export interface ForwardDecision {
  /** The signal to send to the process: the one received, or SIGKILL. */
  send: number;
  /** `warn`: tell the user one more Ctrl-C kills; `kill`: SIGKILL is sent instead of SIGINT. */
  stage: "forward" | "warn" | "kill";
}

/**
 * Decides how a received signal is forwarded (pure; `recent` is the caller's
 * state). Every signal is forwarded as it came, like `ctr run`; but a
 * container's init ignores the signals it has no handler for, so Ctrl-C alone
 * cannot stop `sleep`. The second SIGINT within the window is a warning, and
 * the third is sent as SIGKILL.
 *
 * @param recent times of earlier SIGINTs (ms); updated in place
 * @param signal the signal received
 * @param now the current time (ms)
 * @returns what to send, and at which stage
 * @example
 * ```ts
 * const recent: number[] = [];
 * nextForward(recent, 2, 0);    // { send: 2, stage: "forward" }
 * nextForward(recent, 2, 100);  // { send: 2, stage: "warn" }
 * nextForward(recent, 2, 200);  // { send: 9, stage: "kill" }
 * ```
 */
export function nextForward(recent: number[], signal: number, now: number): ForwardDecision {
  if (signal !== SIGNALS.INT) return { send: signal, stage: "forward" };
  while (recent.length > 0 && now - recent[0] > INTERRUPT_WINDOW_MS) recent.shift();
  recent.push(now);
  if (recent.length >= INTERRUPTS_TO_KILL) {
    recent.length = 0;
    return { send: SIGNALS.KILL, stage: "kill" };
  }
  return { send: signal, stage: recent.length === INTERRUPTS_TO_KILL - 1 ? "warn" : "forward" };
}
