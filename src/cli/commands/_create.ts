/**
 * What `run` and `create` share: their flags, the OCI spec (generated, or
 * read from `--bundle DIR/config.json`), and the TaskManager create request.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fromErrno, InvalidArgumentError } from "../../errors.ts";
import { BUSYBOX_PATHS, ensureBusyboxRootfs, findStaticBusybox } from "../../rootfs/busybox.ts";
import { classifyRuntime } from "../../runtime/name.ts";
import {
  execProcessSpec,
  generateDefaultSpec,
  mergeEnv,
  type OciProcess,
  type OciSpec,
} from "../../spec/default_spec.ts";
import { validateId } from "../../ids.ts";
import type { CommandContext } from "../context.ts";
import { UsageError } from "../exit_codes.ts";
import { parseKeyValues, parseRuntimeOptions } from "./_args.ts";

/** The built-in rootfs's dir under the root dir; hidden, so restore and gc never take it for a namespace. */
export const BUILTIN_ROOTFS_DIR = ".rootfs/busybox";
/** Environment variable naming the static busybox the built-in rootfs is built from. */
export const BUSYBOX_ENV = "SHIMKIT_BUSYBOX";

/** `run`/`create` command line, parsed. */
export interface CreateArgs {
  /** Container id. */
  id: string;
  /** The command (may be empty with `--bundle`: the bundle's own args are used). */
  args: string[];
  /** `--rm`: delete after exit (run only). */
  rm: boolean;
  /** `-d`: print the id and return once started (run only). */
  detach: boolean;
  /** `-t`: allocate a pty. */
  tty: boolean;
  /** `-i`: forward stdin. */
  interactive: boolean;
  /** `--runtime NAME|PATH`. */
  runtime?: string;
  /** `--rootfs DIR`, absolute. */
  rootfs?: string;
  /** `--bundle DIR`, absolute. */
  bundle?: string;
  /** `--env K=V` entries. */
  env: string[];
  /** `--cwd DIR`. */
  cwd?: string;
  /** `--label k=v`. */
  labels: Record<string, string>;
  /** `--runtime-option k=v`. */
  runtimeOptions?: Record<string, unknown>;
  /** `--readonly`: read-only root filesystem. */
  readonly: boolean;
  /** `--hostname NAME`. */
  hostname?: string;
}

/** The flags `run` and `create` accept, for `node:util` parseArgs. */
const OPTIONS = {
  rm: { type: "boolean" },
  detach: { type: "boolean", short: "d" },
  tty: { type: "boolean", short: "t" },
  interactive: { type: "boolean", short: "i" },
  runtime: { type: "string" },
  rootfs: { type: "string" },
  bundle: { type: "string" },
  env: { type: "string", multiple: true, short: "e" },
  cwd: { type: "string" },
  label: { type: "string", multiple: true },
  "runtime-option": { type: "string", multiple: true },
  readonly: { type: "boolean" },
  hostname: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Usage text for `run` or `create`.
 *
 * @param command `run` or `create`
 * @returns the text, ending in a newline
 */
export function createUsage(command: "run" | "create"): string {
  const runOnly = command === "run" ? "[--rm] [-d] " : "";
  return `usage: shimkit ${command} ${runOnly}[-t] [-i] [--runtime NAME|PATH] [--rootfs DIR | --bundle DIR]
       [--env K=V]... [--cwd DIR] [--label K=V]... [--runtime-option K=V]... [--readonly] [--hostname NAME]
       ID [--] [CMD [ARG...]]
`;
}

/**
 * Parses `run`/`create` arguments (pure). Everything after the id is the
 * command; `--` ends the flags so the command may have its own.
 *
 * @param command `run` or `create`
 * @param argv the arguments after the command name
 * @param cwd the directory relative `--rootfs`/`--bundle` are resolved against
 * @returns the parsed arguments, or `"help"`
 * @throws UsageError for unknown flags, a missing id or command, bad k=v pairs, conflicting flags
 * @throws InvalidArgumentError for a malformed id
 */
export function parseCreateArgs(command: "run" | "create", argv: string[], cwd: string): CreateArgs | "help" {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message}`, { cause: e });
  }
  const v = parsed.values;
  if (v.help) return "help";
  const [id, ...args] = parsed.positionals;
  if (id === undefined) throw new UsageError(`${command}: missing container ID`);
  validateId(id, "container id");
  if (command === "create" && (v.rm || v.detach)) {
    throw new UsageError(`create: --rm and --detach are run flags`);
  }
  if (v.rm && v.detach) throw new UsageError(`${command}: --rm and --detach cannot be used together`);
  if (v.rootfs !== undefined && v.bundle !== undefined) {
    throw new UsageError(`${command}: --rootfs and --bundle cannot be used together`);
  }
  if (v.bundle === undefined && args.length === 0) throw new UsageError(`${command}: missing command to run`);
  if (v.cwd !== undefined && !isAbsolute(v.cwd)) {
    throw new InvalidArgumentError(`invalid cwd "${v.cwd}": must be an absolute path`);
  }
  return {
    id,
    args,
    rm: v.rm ?? false,
    detach: v.detach ?? false,
    tty: v.tty ?? false,
    interactive: v.interactive ?? false,
    runtime: v.runtime,
    rootfs: v.rootfs === undefined ? undefined : resolve(cwd, v.rootfs),
    bundle: v.bundle === undefined ? undefined : resolve(cwd, v.bundle),
    env: v.env ?? [],
    cwd: v.cwd,
    labels: parseKeyValues("--label", v.label),
    runtimeOptions: parseRuntimeOptions(v["runtime-option"]),
    readonly: v.readonly ?? false,
    hostname: v.hostname,
  };
}

/**
 * Applies the command-line overrides to a spec read from a bundle (pure):
 * root.path made absolute against the bundle dir (our bundle is another dir),
 * args, terminal, env, cwd, hostname, read-only root.
 *
 * @param spec the bundle's config.json
 * @param bundleDir the bundle dir it came from
 * @param a the parsed arguments
 * @returns a new spec
 * @throws InvalidArgumentError when the spec has no process and no command was given
 */
export function overrideBundleSpec(spec: OciSpec, bundleDir: string, a: CreateArgs): OciSpec {
  const out: OciSpec = structuredClone(spec);
  const rootPath = out.root?.path ?? "rootfs";
  out.root = { ...out.root, path: resolve(bundleDir, rootPath) };
  if (a.readonly) out.root.readonly = true;
  if (a.hostname !== undefined) out.hostname = a.hostname;
  const base = out.process as OciProcess | undefined;
  if (!base && a.args.length === 0) {
    throw new InvalidArgumentError(
      `bundle "${bundleDir}": config.json has no process and no command was given`,
    );
  }
  if (base && a.args.length === 0) {
    let env = mergeEnv(base.env ?? [], a.env);
    if (a.tty && !env.some((e) => e.startsWith("TERM="))) env = [...env, "TERM=xterm"];
    out.process = { ...base, terminal: a.tty || base.terminal === true, env, cwd: a.cwd ?? base.cwd };
  } else {
    out.process = execProcessSpec(base, { args: a.args, terminal: a.tty, env: a.env, cwd: a.cwd });
  }
  return out;
}

/**
 * Builds the container's spec: generated like `ctr run`, or read from
 * `--bundle DIR/config.json` with the overrides applied.
 *
 * @param ctx the command context (namespace)
 * @param a the parsed arguments
 * @returns the spec to write as config.json
 * @throws NotFoundError when the bundle has no config.json
 * @throws InvalidArgumentError when it is not valid JSON or the arguments are bad
 */
export async function buildSpec(ctx: CommandContext, a: CreateArgs): Promise<OciSpec> {
  if (a.bundle === undefined) {
    return generateDefaultSpec({
      id: a.id,
      namespace: ctx.global.namespace,
      args: a.args,
      rootfs: a.rootfs,
      readonlyRootfs: a.readonly,
      terminal: a.tty,
      env: a.env,
      cwd: a.cwd,
      hostname: a.hostname,
    });
  }
  const path = resolve(a.bundle, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw fromErrno(e, `read bundle spec "${path}"`);
  }
  let spec: OciSpec;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`parse bundle spec "${path}": ${(e as Error).message}`, { cause: e });
  }
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
    throw new InvalidArgumentError(`parse bundle spec "${path}": not a JSON object`);
  }
  return overrideBundleSpec(spec, a.bundle, a);
}
