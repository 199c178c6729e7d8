/**
 * What `run` and `create` share: their flags, the OCI spec (generated, or
 * read from `--bundle DIR/config.json`), and the TaskManager create request.
 *
 * @module
 */

import type { Stats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, isAbsolute, join, resolve } from "node:path";
import { fromErrno, InvalidArgumentError, NotFoundError } from "../../errors.ts";
import { buildBusyboxRootfsIfMissing, BUSYBOX_PATHS, findStaticBusybox } from "../../rootfs/busybox.ts";
import { classifyRuntime } from "../../runtime/name.ts";
import {
  execProcessSpec,
  generateDefaultSpec,
  mergeEnv,
  type OciMount,
  type OciProcess,
  type OciSpec,
} from "../../spec/default_spec.ts";
import { validateId } from "../../ids.ts";
import { parseLogUri, parseMount, parseUser, type SpecUser } from "../../spec/parse.ts";
import type { CommandContext } from "../context.ts";
import { UsageError } from "../exit_codes.ts";
import { parseFlags, parseKeyValues, parseRuntimeOptions, splitAtPositionals } from "./_args.ts";

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
  /** `--user UID[:GID]`. */
  user?: SpecUser;
  /** `--mount …` (repeatable), parsed. */
  mounts: OciMount[];
  /** `--log-uri`: where the shim sends stdout and stderr instead of FIFOs (file:// or binary://). */
  logUri?: string;
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
  user: { type: "string", short: "u" },
  mount: { type: "string", multiple: true },
  "log-uri": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Usage text for `run` or `create`: synopsis, what it does, every flag, how
 * the root filesystem is chosen, examples.
 *
 * @param command `run` or `create`
 * @returns the text, ending in a newline
 */
export function createUsage(command: "run" | "create"): string {
  const run = command === "run";
  const what = run
    ? `Creates and starts container ID running CMD, streams its output and exits with its
exit status (128+N when signal N killed it).`
    : `Creates container ID (bundle, shim and task) without starting it and prints the id;
"shimkit start -a ID" starts it and attaches to its output.`;
  const runFlags = run
    ? `  --rm                     delete the container once it has exited
  -d, --detach             print the id once started and return; the container keeps running
                           (with the global --json before "${command}": a JSON object with its pid)
`
    : "";
  return `usage: shimkit ${command} [flags] ID [--] CMD [ARG...]
       shimkit ${command} [flags] --bundle DIR ID [[--] CMD [ARG...]]

${what}
Flags come before ID; everything after ID is the container's command.${
    run
      ? ""
      : `\nWith the global --json (shimkit --json create …), it prints a JSON object with the pid instead.`
  }

Flags:
${runFlags}  -t, --tty                allocate a pseudo-terminal
  -i, --interactive        connect stdin to the container (with -t, stdin must be a terminal)
  --runtime NAME|PATH      runtime name (io.containerd.runc.v2) or absolute path of a shim binary;
                           default: the config's default_runtime, or the embedded fake shim
                           (io.containerd.fake.v2) when no containerd-shim-runc-v2 is installed
  --rootfs DIR             the container's root filesystem
  --bundle DIR             use DIR/config.json (and its root) instead of a generated spec
  -e, --env KEY=VALUE      set an environment variable (repeatable)
  --cwd DIR                working directory inside the container (absolute; default /)
  --label KEY=VALUE        label the container (repeatable)
  --runtime-option K=V     shim runtime option, e.g. BinaryName=/usr/bin/crun (repeatable)
  --readonly               mount the root filesystem read-only
  --hostname NAME          the container's hostname (default: ID)
  -u, --user UID[:GID]     run as this user (numbers; GID defaults to 0)
  --mount FIELDS           add a mount, as ctr: type=bind,src=/host/dir,dst=/dir,options=rbind:ro
                           (type defaults to bind; a bind mount gets rbind unless its options
                           say bind or rbind; repeatable)
  --log-uri PATH|URI       send the container's stdout and stderr to a file (PATH or
                           file:///PATH, appended to) or a logging program (binary:///PATH)
                           instead of this terminal; not with -t or -i
  -h, --help               show this help

Root filesystem: without --rootfs or --bundle, a runtime such as runc gets the built-in
busybox rootfs in <root>/.rootfs/busybox (default /var/lib/shimkit/.rootfs/busybox),
built on first use from the host's static busybox (Debian package busybox-static;
${BUSYBOX_ENV}=PATH names another). Containers share it, so it is mounted read-only
with a tmpfs on /tmp. The embedded fake shim runs no real processes and needs no rootfs.

Examples:
  shimkit ${command}${run ? " --rm" : ""} demo -- echo hi
  shimkit ${command} --rootfs /srv/alpine web -- sh -c 'echo hello from $(hostname)'
`;
}

/**
 * Parses `run`/`create` arguments (pure). Flags come before the id;
 * everything after the id is the command, untouched (a `--` right after the
 * id is dropped), so `run c1 sh -c "echo hi"` needs no `--`.
 *
 * @param command `run` or `create`
 * @param argv the arguments after the command name
 * @param cwd the directory relative `--rootfs`/`--bundle` are resolved against
 * @returns the parsed arguments, or `"help"`
 * @throws UsageError for unknown flags, a missing id or command, bad k=v pairs, conflicting flags
 * @throws InvalidArgumentError for a malformed id
 */
export function parseCreateArgs(command: "run" | "create", argv: string[], cwd: string): CreateArgs | "help" {
  const { head, rest } = splitAtPositionals(argv, OPTIONS, 1);
  const parsed = parseFlags(command, head, OPTIONS);
  const v = parsed.values;
  if (v.help) return "help";
  const [id] = parsed.positionals;
  const args = rest;
  if (id === undefined) {
    throw new UsageError(`${command}: missing container ID\nrun "shimkit ${command} --help" for usage`);
  }
  validateId(id, "container id");
  if (command === "create" && v.rm) throw new UsageError(`create: --rm is a run flag`);
  if (command === "create" && v.detach) {
    throw new UsageError(`create: --detach is a run flag (create never starts the container)`);
  }
  if (v.rm && v.detach) throw new UsageError(`${command}: --rm and --detach cannot be used together`);
  if (v.rootfs !== undefined && v.bundle !== undefined) {
    throw new UsageError(`${command}: --rootfs and --bundle cannot be used together`);
  }
  if (v.bundle === undefined && args.length === 0) {
    throw new UsageError(`${command}: missing command to run after container ID "${id}"`);
  }
  if (v["log-uri"] !== undefined && (v.tty || v.interactive)) {
    throw new UsageError(`${command}: --log-uri cannot be used with --tty or --interactive`);
  }
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
    user: v.user === undefined ? undefined : parseUser(v.user),
    mounts: (v.mount ?? []).map((m) => parseMount(m, cwd)),
    logUri: v["log-uri"] === undefined ? undefined : parseLogUri(v["log-uri"], cwd),
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
  if (a.mounts.length > 0) out.mounts = [...(out.mounts ?? []), ...structuredClone(a.mounts)];
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
  if (a.user !== undefined) out.process = { ...out.process!, user: { ...out.process!.user, ...a.user } };
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
      user: a.user,
      mounts: a.mounts,
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

/**
 * Checks that a `--rootfs` the user gave names an existing directory, before
 * a shim is started for it (runc would only say so from inside Create).
 *
 * @param dir the absolute `--rootfs`
 * @throws NotFoundError when it does not exist
 * @throws InvalidArgumentError when it is not a directory
 * @throws ShimkitError of the errno kind when it cannot be examined
 */
export async function checkRootfsDir(dir: string): Promise<void> {
  const st = await statNaming(dir, "rootfs", "no such directory");
  if (!st.isDirectory()) throw new InvalidArgumentError(`rootfs ${JSON.stringify(dir)}: not a directory`);
}

/** `stat`, with errors that name what the path is for: NotFound `<what> "<path>": <missing>`, else errno-kind. */
async function statNaming(path: string, what: string, missing: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (e) {
    const at = `${what} ${JSON.stringify(path)}`;
    if ((e as { code?: string }).code === "ENOENT") {
      throw new NotFoundError(`${at}: ${missing}`, { cause: e });
    }
    throw fromErrno(e, at);
  }
}

/**
 * Checks that every bind mount's source exists, so a typo fails before a shim
 * starts, naming the path (runc would fail inside Create with less context).
 *
 * @param mounts the `--mount` values, parsed
 * @returns resolves when all exist
 * @throws NotFoundError naming the first missing source; errno-kind errors when one cannot be checked
 */
export async function checkBindSources(mounts: readonly OciMount[]): Promise<void> {
  for (const m of mounts) {
    if (m.type === "bind" && m.source !== undefined) {
      await statNaming(m.source, "--mount source", "no such file or directory");
    }
  }
}

/**
 * Tells whether a runtime is the embedded fake shim, which simulates
 * processes on the host and needs no root filesystem (pure).
 *
 * @param runtime a runtime name (`io.containerd.fake.v2`) or an absolute shim path
 * @returns true for `io.containerd.fake.v1`/`v2` and paths to `containerd-shim-fake-v1`/`v2`
 */
export function isFakeRuntime(runtime: string): boolean {
  const name = runtime.startsWith("/") ? basename(runtime) : binaryNameOrEmpty(runtime);
  return /^containerd-shim-fake-v[12]$/.test(name);
}

function binaryNameOrEmpty(runtime: string): string {
  try {
    const ref = classifyRuntime(runtime);
    return ref.kind === "name" ? ref.binary : basename(ref.path);
  } catch {
    return "";
  }
}

/**
 * Decides where the container's root filesystem comes from (pure): the
 * `--rootfs` or `--bundle` given, nothing for the fake shim, else the
 * built-in busybox rootfs in `<root>/.rootfs/busybox`.
 *
 * @param a the parsed `--rootfs` and `--bundle`
 * @param runtime the chosen runtime
 * @param root the root dir
 * @returns the built-in rootfs dir when it is needed, else undefined
 */
export function builtinRootfsFor(
  a: Pick<CreateArgs, "rootfs" | "bundle">,
  runtime: string,
  root: string,
): string | undefined {
  if (a.rootfs !== undefined || a.bundle !== undefined || isFakeRuntime(runtime)) return undefined;
  return join(root, BUILTIN_ROOTFS_DIR);
}

/**
 * Adapts a generated spec to the shared built-in rootfs (pure): the root is
 * mounted read-only, since every container that uses it sees the same
 * directory, and `/tmp` becomes a private tmpfs so the container still has
 * somewhere to write.
 *
 * @param spec a spec from {@link generateDefaultSpec} whose root is the built-in rootfs
 * @returns the same spec, changed in place
 */
export function withBuiltinRootfs(spec: OciSpec): OciSpec {
  spec.root = { path: spec.root?.path ?? "rootfs", readonly: true };
  spec.mounts = [
    ...(spec.mounts ?? []),
    { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
  ];
  return spec;
}

/**
 * Builds the spec for `run`/`create` ({@link buildSpec}) and, when neither
 * `--rootfs` nor `--bundle` is given and the runtime is not the fake shim,
 * points it at the built-in busybox rootfs, building that on first use and
 * logging at info that it is used. Fails before anything is created when no
 * static busybox is installed.
 *
 * @param ctx the command context (root dir, environment for `SHIMKIT_BUSYBOX`, logger)
 * @param a the parsed arguments
 * @param runtime the chosen runtime
 * @returns the spec to write as config.json
 * @throws InvalidArgumentError when the runtime needs a rootfs and there is no static busybox to build one
 * @throws ShimkitError from {@link checkRootfsDir} and {@link buildSpec}, or of the errno kind when the
 *   rootfs cannot be written
 */
export async function prepareSpec(ctx: CommandContext, a: CreateArgs, runtime: string): Promise<OciSpec> {
  if (a.rootfs !== undefined) await checkRootfsDir(a.rootfs);
  await checkBindSources(a.mounts);
  const dir = builtinRootfsFor(a, runtime, ctx.global.root);
  if (dir === undefined) return await buildSpec(ctx, a);
  const override = ctx.env[BUSYBOX_ENV] || undefined;
  const found = await findStaticBusybox(override ? [override] : BUSYBOX_PATHS);
  if (!found.path) {
    const why = override && found.problems.length === 0
      ? [`${BUSYBOX_ENV} "${override}" does not exist`]
      : [];
    why.push(...found.problems);
    throw new InvalidArgumentError(
      `runtime "${runtime}" needs a root filesystem: pass --rootfs DIR or --bundle DIR, ` +
        `or install busybox-static for the built-in busybox rootfs` +
        (why.length > 0 ? ` (${why.join("; ")})` : ""),
    );
  }
  const spec = withBuiltinRootfs(await buildSpec(ctx, { ...a, rootfs: dir }));
  // Said once, at info, when the rootfs is built; every later container that uses it logs at debug.
  const built = await buildBusyboxRootfsIfMissing(dir, { busybox: found.path });
  const fields = { rootfs: dir, busybox: found.path, runtime };
  if (built) ctx.logger.info("built the busybox rootfs (read-only; pass --rootfs DIR for your own)", fields);
  else ctx.logger.debug("using the built-in busybox rootfs", fields);
  return spec;
}
