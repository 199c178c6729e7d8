/**
 * Go-style duration strings (`"5s"`, `"1m30s"`, `"250ms"`), the form
 * containerd's config uses for timeouts. Pure.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** Milliseconds per unit; `us`/`µs` and `ns` allow sub-millisecond parts. */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/**
 * Parses a Go-style duration into milliseconds. A sequence of decimal numbers,
 * each with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), as in `"1h2m3.5s"`; `"0"`
 * alone is zero. Negative durations are rejected: a timeout cannot be negative.
 *
 * @param text the duration text
 * @returns the duration in milliseconds (may be fractional below 1 ms)
 * @throws InvalidArgumentError `invalid duration "<text>"`
 * @example
 * ```ts
 * parseDuration("1m30s"); // 90000
 * ```
 */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  let rest = text;
  let total = 0;
  if (rest === "") throw new InvalidArgumentError(`invalid duration "${text}"`);
  while (rest !== "") {
    const m = PART.exec(rest);
    if (!m) throw new InvalidArgumentError(`invalid duration "${text}"`);
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(total)) throw new InvalidArgumentError(`invalid duration "${text}"`);
  return total;
}

/**
 * Formats milliseconds as the shortest Go-style duration (`5000` → `"5s"`,
 * `90000` → `"1m30s"`, `250` → `"250ms"`, `0` → `"0s"`).
 *
 * @param ms a non-negative duration in milliseconds
 * @returns the duration text, which {@link parseDuration} reads back
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1) return `${Math.round(ms * 1e6)}ns`;
  if (ms < 1000) return `${+ms.toFixed(3)}ms`;
  let out = "";
  let rest = ms;
  const h = Math.floor(rest / 3_600_000);
  if (h) out += `${h}h`;
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  if (m) out += `${m}m`;
  rest -= m * 60_000;
  if (rest) out += `${+(rest / 1000).toFixed(3)}s`;
  return out;
}
