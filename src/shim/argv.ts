/**
 * The shim binary's command line, environment and stdin (protocol-facts
 * §2.2, §2.6). Pure.
 *
 * @module
 */

import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { InvalidArgumentError } from "../errors.ts";
import { validateId, validateNamespace } from "../ids.ts";

/** Flags every shim subcommand gets. */
export interface ShimArgs {
  /** Namespace (`-namespace`). */
  namespace: string;
  /** Manager's gRPC address (`-address`); the runc shim hashes it into its socket name. */
  grpcAddress: string;
  /** Path of the manager executable (`-publish-binary`). */
  publishBinary: string;
  /** Container / shim id (`-id`). */
  id: string;
  /** Bundle path (`-bundle`), required by `delete`. */
  bundle?: string;
  /** Pass `-debug`. */
  debug?: boolean;
}

/** The shim subcommands run as a one-shot process. */
export type ShimSubcommand = "start" | "delete";

/**
 * Builds the argv (without argv0) for a shim subcommand. Go's `flag`
 * package stops at the first non-flag, so every flag precedes the
 * subcommand: `-namespace NS -address A -publish-binary P -id ID [-bundle B] [-debug] start`.
 *
 * @param args flag values
 * @param subcommand `start` or `delete`
 * @returns the argument list
 * @throws InvalidArgumentError for a bad id or namespace, or `delete` without a bundle
 */
export function shimArgv(args: ShimArgs, subcommand: ShimSubcommand): string[] {
  validateNamespace(args.namespace);
  validateId(args.id);
  const argv = [
    "-namespace",
    args.namespace,
    "-address",
    args.grpcAddress,
    "-publish-binary",
    args.publishBinary,
    "-id",
    args.id,
  ];
  if (args.bundle !== undefined) argv.push("-bundle", args.bundle);
  else if (subcommand === "delete") {
    throw new InvalidArgumentError(`shim delete for ${JSON.stringify(args.id)}: bundle path is required`);
  }
  if (args.debug) argv.push("-debug");
  argv.push(subcommand);
  return argv;
}

/** Inputs of {@link shimEnv}. */
export interface ShimEnvOptions {
  /** The manager's own environment, inherited first. */
  base?: Record<string, string | undefined>;
  /** Where the shim publishes events (`TTRPC_ADDRESS`, a plain path). */
  ttrpcAddress: string;
  /** Manager's gRPC address (`GRPC_ADDRESS`). */
  grpcAddress: string;
  /** Namespace (`NAMESPACE`). */
  namespace: string;
  /** Configured extra variables, `KEY=value` each, applied last (e.g. `SCHED_CORE=1`); omitted for `delete`. */
  extra?: readonly string[];
}

/**
 * Builds the shim's environment: ours, then `TTRPC_ADDRESS`, `GRPC_ADDRESS`,
 * `NAMESPACE`, `MAX_SHIM_VERSION=2`, `GOMAXPROCS=2`, then the configured extra
 * variables, later entries overriding earlier ones.
 *
 * @param options base environment, addresses, namespace, extra variables
 * @returns the complete environment
 * @throws InvalidArgumentError for an extra entry that is not `KEY=value`
 */
export function shimEnv(options: ShimEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  const set = (k: string, v: string) => {
    // Re-insert so iteration order (and thus the child's environ order) puts overrides last, as Go's append does.
    delete env[k];
    env[k] = v;
  };
  for (const [k, v] of Object.entries(options.base ?? {})) if (v !== undefined) env[k] = v;
  set("TTRPC_ADDRESS", options.ttrpcAddress);
  set("GRPC_ADDRESS", options.grpcAddress);
  set("NAMESPACE", options.namespace);
  // A constant containerd 1.7+ sends; no shim reads it (protocol-facts §2.2).
  set("MAX_SHIM_VERSION", "2");
  set("GOMAXPROCS", "2");
  for (const entry of options.extra ?? []) {
    const eq = entry.indexOf("=");
    if (eq <= 0 || entry.includes("\0")) {
      throw new InvalidArgumentError(`invalid shim env entry ${JSON.stringify(entry)}: want KEY=value`);
    }
    set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

const GOOGLEAPIS_PREFIX = "type.googleapis.com/";

/**
 * Encodes runtime options as the protobuf `google.protobuf.Any` a shim
 * reads on stdin (field 1 type_url, field 2 value). The type URL is made
 * bare (`containerd.runc.v1.Options`): 1.6 shims reject the
 * `type.googleapis.com/` form with "type with url …: not found", and 2.x
 * shims accept both.
 *
 * @param typeUrl message type, e.g. `containerd.runc.v1.Options`
 * @param value the serialized options message
 * @returns the encoded Any
 * @throws InvalidArgumentError for an empty type URL
 * @example
 * ```ts
 * encodeRuntimeOptions("containerd.runc.v1.Options", optionsBytes);
 * ```
 */
export function encodeRuntimeOptions(typeUrl: string, value: Uint8Array): Uint8Array {
  const bare = typeUrl.startsWith(GOOGLEAPIS_PREFIX) ? typeUrl.slice(GOOGLEAPIS_PREFIX.length) : typeUrl;
  if (bare === "") throw new InvalidArgumentError("runtime options: empty type url");
  const w = new BinaryWriter();
  w.tag(1, WireType.LengthDelimited).string(bare);
  if (value.length > 0) w.tag(2, WireType.LengthDelimited).bytes(value);
  return w.finish();
}
