/**
 * Extracts what a failed shim subcommand said went wrong from what it
 * printed.
 *
 * A Go shim prints its fatal error without a trailing newline
 * (`io.containerd.runc.v2: open …/runtime: no such file or directory`), while
 * goroutines it started may still be writing logrus lines
 * (`time="…" level=info msg="starting signal loop" …`) to the same stderr.
 * Those lines land before, after, or glued to the end of the error, so the
 * raw stream is a poor error message. This module separates them: the error
 * text comes first, log lines that warn or worse follow in brackets, and
 * informational chatter is dropped.
 *
 * @module
 */

/** A logfmt record (logrus's text formatter, or ours): `time="…" level=<name> …` up to the end of its line. */
const LOGRUS_RECORD = /time=(?:"[^"\n]*"|[^\s"]+) level=([a-z]+)\b[^\n]*/g;
/** logrus levels that say nothing about a failure. */
const CHATTER = new Set(["trace", "debug", "info"]);

/** What a shim printed, split into its error text and the log records worth keeping. */
export interface ShimFailureText {
  /** Everything that is not a logrus record, whitespace-trimmed ("" when the shim only logged). */
  error: string;
  /** logrus records at warning level or above, in the order printed. */
  logs: string[];
}

/**
 * Splits a shim's stderr (or stdout) into its error text and its logrus
 * records at warning level or above.
 *
 * @param output what the shim printed, decoded
 * @returns the error text and the kept log records
 */
export function splitShimOutput(output: string): ShimFailureText {
  const logs: string[] = [];
  const error = output.replace(LOGRUS_RECORD, (record, level: string) => {
    if (!CHATTER.has(level)) logs.push(record.trim());
    return "\n";
  });
  return { error: error.split("\n").map((l) => l.trim()).filter(Boolean).join("\n"), logs };
}

/**
 * Renders what a failed shim printed as the tail of an error message: the
 * error text, then its warning-or-worse log records in brackets; only the log
 * records when there is no other text, and "" when it printed nothing useful.
 *
 * @param output what the shim printed, decoded
 * @returns the text to put after `exited with status N: `
 */
export function describeShimOutput(output: string): string {
  const { error, logs } = splitShimOutput(output);
  if (!error) return logs.join("\n");
  return logs.length ? `${error} [shim log: ${logs.join("; ")}]` : error;
}
