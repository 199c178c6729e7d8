/**
 * `shimkit info`: what a runtime's shim says about itself. Runs `<shim> -v`
 * (every shim) and `<shim> -info` (containerd 2.0+ shims; 1.6/1.7 shims do
 * not know the flag, which is reported, not fatal) and prints the binary,
 * name, version, revision, options and features (`--json` for all of it).
 *
 * ```
 * shimkit info [--json] RUNTIME
 * ```
 *
 * @module
 */

import { fromBinary } from "../../api/protobuf.ts";
import { typeRegistry } from "../../api/registry.ts";
import { FAKE_RUNTIME } from "../../config/config.ts";
import { InternalError, isNotImplemented } from "../../errors.ts";
import { encodeRuntimeOptions } from "../../shim/argv.ts";
import { runShimInfo, runShimVersion } from "../../shim/binary.ts";
import { encodeRuntimeOptionsValue } from "../../task/options.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK } from "../exit_codes.ts";
import { formatTable, printJson } from "../output.ts";
import { configOf, exposeFakeShim, runtimeResolver } from "./_task.ts";
import { onlyPositional, parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit info [--json] RUNTIME

Shows what a runtime's shim binary says about itself (-v and -info): binary path,
version, revision, name, options and features. RUNTIME is a name such as
io.containerd.runc.v2 or an absolute path to a shim binary.

Flags:
  --json               print JSON
  -h, --help           show this help
`;
const RUNTIME_INFO_TYPE = "containerd.types.RuntimeInfo";

/** A shim's `-v` output, parsed. */
export interface ShimVersion {
  /** The `Version:` line, if any. */
  version?: string;
  /** The `Revision:` line, if any. */
  revision?: string;
  /** Everything it printed, trimmed. */
  text: string;
}

/** A decoded `-info` answer (`containerd.types.RuntimeInfo`). */
export interface RuntimeInfoView {
  /** Runtime name the shim reports. */
  name: string;
  /** Version and revision. */
  version?: { version: string; revision: string };
  /** The options the shim understood, as a type URL (and JSON for JSON-valued types). */
  options?: { typeUrl: string; value?: unknown };
  /** Features: for runc the OCI `features` JSON document. */
  features?: { typeUrl: string; value?: unknown };
  /** Annotations. */
  annotations: Record<string, string>;
}

/** What `info` reports about a runtime. */
export interface InfoReport {
  /** The runtime as given. */
  runtime: string;
  /** The resolved shim binary. */
  binary: string;
  /** From `-v`. */
  version?: ShimVersion;
  /** Why `-v` failed. */
  versionError?: string;
  /** From `-info`. */
  info?: RuntimeInfoView;
  /** Why `-info` failed (e.g. not supported by 1.6/1.7 shims). */
  infoError?: string;
}

/**
 * Parses a shim's `-v` output (pure): `  Version:  1.6.20` and `  Revision: abc` lines.
 *
 * @param text what `-v` printed
 * @returns version, revision and the trimmed text
 */
export function parseShimVersion(text: string): ShimVersion {
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.+?)\\s*$`, "m").exec(text)?.[1];
  return { version: field("Version"), revision: field("Revision"), text: text.trim() };
}

function anyView(
  any: { typeUrl: string; value: Uint8Array } | undefined,
): { typeUrl: string; value?: unknown } | undefined {
  if (!any) return undefined;
  // Runtime-spec types (features, Process, ...) carry JSON, not protobuf.
  if (any.typeUrl.includes("opencontainers/runtime-spec")) {
    try {
      return { typeUrl: any.typeUrl, value: JSON.parse(new TextDecoder().decode(any.value)) };
    } catch {
      return { typeUrl: any.typeUrl };
    }
  }
  return { typeUrl: any.typeUrl };
}

/**
 * Decodes the protobuf `RuntimeInfo` that `-info` prints.
 *
 * @param bytes stdout of `-info`
 * @returns the plain view
 * @throws InternalError when the bytes are not a RuntimeInfo
 */
export function decodeRuntimeInfo(bytes: Uint8Array): RuntimeInfoView {
  const schema = typeRegistry.getMessage(RUNTIME_INFO_TYPE);
  if (!schema) throw new InternalError(`decode runtime info: type "${RUNTIME_INFO_TYPE}" not registered`);
  let msg: Record<string, unknown>;
  try {
    msg = fromBinary(schema, bytes) as unknown as Record<string, unknown>;
  } catch (e) {
    throw new InternalError(`decode runtime info: ${(e as Error).message}`, { cause: e });
  }
  const version = msg.version as { version: string; revision: string } | undefined;
  return {
    name: msg.name as string,
    version: version ? { version: version.version, revision: version.revision } : undefined,
    options: anyView(msg.options as { typeUrl: string; value: Uint8Array } | undefined),
    features: anyView(msg.features as { typeUrl: string; value: Uint8Array } | undefined),
    annotations: { ...(msg.annotations as Record<string, string> | undefined) },
  };
}

/**
 * Formats a report as `FIELD  VALUE` lines (pure).
 *
 * @param r the report
 * @returns the text
 */
export function formatInfo(r: InfoReport): string {
  const features = r.info?.features?.value as Record<string, unknown> | undefined;
  const rows: Array<[string, unknown]> = [
    ["runtime", r.runtime],
    ["binary", r.binary],
    ["version", r.info?.version?.version || r.version?.version || r.versionError],
    ["revision", r.info?.version?.revision || r.version?.revision],
    ["name", r.info?.name ?? (r.infoError ? `(-info: ${r.infoError})` : undefined)],
    ["options", r.info?.options?.typeUrl],
    ["features", r.info?.features?.typeUrl],
  ];
  if (features && typeof features === "object") {
    for (const [k, v] of Object.entries(features)) {
      rows.push([`  ${k}`, Array.isArray(v) ? v.join(",") : typeof v === "object" ? JSON.stringify(v) : v]);
    }
  }
  for (const [k, v] of Object.entries(r.info?.annotations ?? {})) rows.push([`annotation ${k}`, v]);
  return formatTable(rows.map(([field, value]) => ({ field, value })), [
    { header: "FIELD", value: "field" },
    { header: "VALUE", value: "value" },
  ]);
}

/**
 * Runs `shimkit info`.
 *
 * @param args the arguments after `info`
 * @param ctx the command context
 * @returns 0 (also when the shim does not support `-info`)
 * @throws UsageError for a bad command line
 * @throws NotFoundError when the runtime's shim cannot be found
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseFlags("info", args, {
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (parsed.values.help) {
    ctx.stdout(USAGE);
    return EXIT_OK;
  }
  const runtime = onlyPositional("info", parsed.positionals, "RUNTIME");
  const config = configOf(ctx);
  if (runtime === FAKE_RUNTIME) await exposeFakeShim(ctx);
  const binary = await runtimeResolver(ctx).resolve(runtime);
  const report: InfoReport = { runtime, binary };
  const options = encodeRuntimeOptionsValue(config.runtimes[runtime]?.options);
  const stdin = options ? encodeRuntimeOptions(options.typeUrl, options.value) : undefined;
  const [version, info] = await Promise.allSettled([runShimVersion(binary), runShimInfo(binary, stdin)]);
  if (version.status === "fulfilled") report.version = parseShimVersion(version.value);
  else report.versionError = (version.reason as Error).message;
  if (info.status === "fulfilled") {
    try {
      report.info = decodeRuntimeInfo(info.value);
    } catch (e) {
      report.infoError = (e as Error).message;
    }
  } else {
    const err = info.reason as Error;
    report.infoError = isNotImplemented(err)
      ? "not supported by this shim (containerd 2.0+ shims only)"
      : err.message;
  }
  if (parsed.values.json || ctx.global.json) printJson(ctx, report);
  else ctx.stdout(formatInfo(report));
  return EXIT_OK;
}
