/**
 * `shimkit call`: a grpcurl for TTRPC. Sends one request, written as protobuf
 * JSON, to any service shimkit knows (task v2/v3, events Forward, the v1 shim)
 * and prints the reply as protobuf JSON.
 *
 * ```
 * shimkit call ADDRESS SERVICE/METHOD [JSON|-] [--namespace NS] [--timeout DUR] [--metadata k=v]... [--json]
 * shimkit call --list
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fromBinary, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { InvalidArgumentError, kindOf, statusCodeOfKind } from "../../errors.ts";
import { messageFromJson, messageToJson } from "../../api/json.ts";
import { KNOWN_SERVICES, type ResolvedMethod, resolveMethod } from "../../api/registry.ts";
import { parseDuration } from "../../config/duration.ts";
import { Client, codeName, TtrpcError } from "../../../vendor/ttrpc-ts/mod.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, exitCodeForError, UsageError } from "../exit_codes.ts";
import { flagError } from "./_args.ts";

/** The metadata key containerd reads the namespace from on every TTRPC request. */
export const NAMESPACE_METADATA_KEY = "containerd-namespace-ttrpc";

/** One-line usage, printed with usage errors and `--help`. */
export const CALL_USAGE =
  "usage: shimkit call ADDRESS SERVICE/METHOD [JSON|-] [--namespace NS] [--timeout DUR] [--metadata k=v]... [--json]\n" +
  "       shimkit call --list";

/** A parsed `shimkit call` command line. */
export interface CallRequest {
  /** The shim's TTRPC address (`unix:///path`, `/path`, `unix://@name`, `\0name`). */
  address: string;
  /** The resolved service and method. */
  target: ResolvedMethod;
  /** The request JSON text, `"-"` for stdin, or undefined for an empty request. */
  json: string | undefined;
  /** Metadata sent with the call; always holds the namespace key. */
  metadata: Record<string, string[]>;
  /** Call timeout in milliseconds, or undefined for none. */
  timeoutMs: number | undefined;
  /** Print compact single-line JSON (and errors as JSON). */
  compact: boolean;
}

/** What {@link parseCallArgs} found: a call, or a request for help or the service list. */
export type CallCommand = { kind: "call"; request: CallRequest } | { kind: "help" } | { kind: "list" };

/**
 * Parses the `call` command line. Pure.
 *
 * @param args the arguments after `call`
 * @param defaults the global namespace and `--json` setting
 * @returns what to do
 * @throws UsageError for unknown flags, missing or extra arguments, a bad
 *   duration or metadata pair, and unknown service or method names (the
 *   message lists what is known)
 */
export function parseCallArgs(args: string[], defaults: { namespace: string; json: boolean }): CallCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        namespace: { type: "string", short: "n" },
        timeout: { type: "string" },
        metadata: { type: "string", multiple: true, short: "H" },
        json: { type: "boolean" },
        list: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw flagError("call", err, false);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (values.list) return { kind: "list" };
  if (positionals.length < 2) throw new UsageError("call: missing ADDRESS or SERVICE/METHOD");
  if (positionals.length > 3) {
    throw new UsageError(`call: unexpected argument "${positionals[3]}" (quote the JSON request)`);
  }
  const [address, spec, json] = positionals;
  let target: ResolvedMethod;
  try {
    target = resolveMethod(spec);
  } catch (err) {
    throw new UsageError(`call: ${(err as Error).message}`, { cause: err });
  }
  const metadata: Record<string, string[]> = Object.create(null);
  for (const pair of values.metadata ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`call: invalid metadata "${pair}": want KEY=VALUE`);
    const key = pair.slice(0, eq).toLowerCase();
    (metadata[key] ??= []).push(pair.slice(eq + 1));
  }
  metadata[NAMESPACE_METADATA_KEY] = [values.namespace ?? defaults.namespace];
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(values.timeout);
    } catch (err) {
      throw new UsageError(`call: --timeout: ${(err as Error).message}`, { cause: err });
    }
    if (timeoutMs === 0) timeoutMs = undefined;
  }
  return {
    kind: "call",
    request: { address, target, json, metadata, timeoutMs, compact: values.json ?? defaults.json },
  };
}

/**
 * Lists every known method as `SERVICE/METHOD(Input) returns (Output)`. Pure.
 *
 * @returns one line per method, each ending in a newline
 */
export function formatServiceList(): string {
  let out = "";
  for (const svc of KNOWN_SERVICES.values()) {
    for (const m of svc.methods) {
      out += `${svc.typeName}/${m.name}(${m.input.typeName}) returns (${m.output.typeName})\n`;
    }
  }
  return out;
}

/**
 * Returns the status code an error is reported with: a TTRPC error's own code,
 * else the code of its kind.
 *
 * @param err any thrown value
 * @returns a gRPC status code
 */
export function statusCodeOfError(err: unknown): number {
  return err instanceof TtrpcError ? err.code : statusCodeOfKind(kindOf(err));
}

/**
 * Formats an error line as `shimkit call` prints it: `<CodeName>: <message>`,
 * or a JSON object `{"code","codeName","message"}` in compact mode.
 *
 * @param err any thrown value
 * @param compact print JSON
 * @returns the line, ending in a newline
 */
export function formatCallError(err: unknown, compact: boolean): string {
  const code = statusCodeOfError(err);
  const message = err instanceof Error ? err.message : String(err);
  if (compact) return JSON.stringify({ code, codeName: codeName(code), message }) + "\n";
  return `${codeName(code)}: ${message}\n`;
}

async function readRequestJson(
  text: string | undefined,
  ctx: CommandContext,
): Promise<JsonValue | undefined> {
  if (text === undefined) return undefined;
  const source = text === "-" ? new TextDecoder().decode(await ctx.stdin()) : text;
  if (source.trim() === "") return undefined;
  try {
    return JSON.parse(source) as JsonValue;
  } catch (err) {
    throw new InvalidArgumentError(`parse request JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Sends the call and returns the response as protobuf JSON.
 *
 * @param req the parsed command line
 * @param ctx the command context (stdin for `-`)
 * @returns the response JSON
 * @throws InvalidArgumentError for a bad request JSON or address; TtrpcError
 *   from the server or transport; a dial error from ttrpc-ts
 */
export async function call(req: CallRequest, ctx: CommandContext): Promise<JsonValue> {
  const { service, method } = req.target;
  let payload: Uint8Array;
  try {
    const input = messageFromJson(method.input, await readRequestJson(req.json, ctx));
    payload = toBinary(method.input, input);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(
      `request for ${service.typeName}/${method.name}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let client: Client;
  try {
    client = await Client.dial(req.address, { dialTimeoutMs: req.timeoutMs });
  } catch (err) {
    // A malformed address is the caller's mistake; dial errors keep their errno code (and kind).
    if (err instanceof TypeError) throw new InvalidArgumentError(err.message, { cause: err });
    throw err;
  }
  try {
    ctx.logger.debug("ttrpc call", { address: req.address, service: service.typeName, method: method.name });
    const reply = await client.call(service.typeName, method.name, payload, {
      timeoutMs: req.timeoutMs,
      metadata: req.metadata,
    });
    return messageToJson(method.output, fromBinary(method.output, reply));
  } finally {
    client.close();
  }
}

/**
 * Runs `shimkit call`.
 *
 * @param args the arguments after `call`
 * @param ctx the command context
 * @returns the exit code: 0, 2 for usage errors, else the code of the error's
 *   kind (`src/cli/exit_codes.ts`; e.g. NotFound → 3)
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const defaults = { namespace: ctx.global?.namespace ?? "default", json: ctx.global?.json ?? false };
  let cmd: CallCommand;
  try {
    cmd = parseCallArgs(args, defaults);
  } catch (err) {
    ctx.stderr(`shimkit: ${(err as Error).message}\n${CALL_USAGE}\n`);
    return exitCodeForError(err);
  }
  if (cmd.kind === "help") {
    ctx.stdout(`${CALL_USAGE}\n\nknown methods:\n${formatServiceList()}`);
    return EXIT_OK;
  }
  if (cmd.kind === "list") {
    ctx.stdout(formatServiceList());
    return EXIT_OK;
  }
  const { request } = cmd;
  try {
    const json = await call(request, ctx);
    ctx.stdout((request.compact ? JSON.stringify(json) : JSON.stringify(json, null, 2)) + "\n");
    return EXIT_OK;
  } catch (err) {
    ctx.stderr(request.compact ? formatCallError(err, true) : `shimkit: ${formatCallError(err, false)}`);
    return exitCodeForError(err);
  }
}
