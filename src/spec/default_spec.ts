/**
 * A default OCI runtime spec generated in-process, the one `ctr run` builds
 * (containerd `oci.WithDefaultSpec` + `WithDefaultUnixDevices`): root user,
 * the default capability set, the standard Linux mounts and namespaces,
 * masked and read-only /proc paths, and a deny-all device cgroup with the
 * usual character devices allowed. Pure: no I/O.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** The OCI runtime spec version we write. */
export const OCI_VERSION = "1.0.2";
/** The PATH every default process gets (containerd's `defaultUnixEnv`). */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The capabilities containerd grants a container by default. */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
]);

/** An OCI mount entry. */
export interface OciMount {
  /** Absolute path inside the container. */
  destination: string;
  /** Filesystem type. */
  type?: string;
  /** Device, directory or pseudo-filesystem name. */
  source?: string;
  /** fstab-style options. */
  options?: string[];
}

/** The OCI `process` object as we generate it (other fields pass through untouched). */
export interface OciProcess {
  /** Whether the process gets a pseudo-terminal. */
  terminal?: boolean;
  /** The user the process runs as. */
  user: { uid: number; gid: number; additionalGids?: number[] };
  /** argv; the first entry is the executable. */
  args: string[];
  /** `KEY=VALUE` entries. */
  env?: string[];
  /** Absolute working directory. */
  cwd: string;
  /** Capability sets. */
  capabilities?: Record<string, string[]>;
  /** Resource limits. */
  rlimits?: Array<{ type: string; hard: number; soft: number }>;
  /** Sets no_new_privs. */
  noNewPrivileges?: boolean;
  /** Other fields are preserved when a spec is read from disk. */
  [key: string]: unknown;
}

/** An OCI runtime spec (Linux), typed for the parts shimkit reads or writes. */
export interface OciSpec {
  /** Spec version. */
  ociVersion: string;
  /** The container's init process. */
  process?: OciProcess;
  /** The root filesystem. */
  root?: { path: string; readonly?: boolean };
  /** Container hostname (needs a UTS namespace). */
  hostname?: string;
  /** Mounts in order. */
  mounts?: OciMount[];
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Linux-specific configuration. */
  linux?: Record<string, unknown>;
  /** Other fields pass through. */
  [key: string]: unknown;
}

/** Inputs to {@link generateDefaultSpec}. */
export interface DefaultSpecOptions {
  /** Container id; used for the cgroup path and as the default hostname. */
  id: string;
  /** Namespace; the cgroup path is `/<namespace>/<id>`. */
  namespace: string;
  /** The command to run; must not be empty. */
  args: readonly string[];
  /** root.path: a bundle-relative dir (default `rootfs`) or an absolute path. */
  rootfs?: string;
  /** Mount the root filesystem read-only. */
  readonlyRootfs?: boolean;
  /** Give the process a terminal (also adds `TERM=xterm`). */
  terminal?: boolean;
  /** Extra `KEY=VALUE` entries; a key given again replaces the earlier value. */
  env?: readonly string[];
  /** Working directory, absolute (default `/`). */
  cwd?: string;
  /** Hostname (default: the id). */
  hostname?: string;
  /** Annotations to set. */
  annotations?: Record<string, string>;
  /** The user the process runs as (default uid 0, gid 0). */
  user?: { uid: number; gid: number };
  /** Mounts added after the default ones (a bind mount from the host, a tmpfs…). */
  mounts?: readonly OciMount[];
}

const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/sys/firmware",
  "/proc/scsi",
];

const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Character devices a default container may use: [major, minor (undefined = any)]. */
const ALLOWED_CHAR_DEVICES: ReadonlyArray<[number, number | undefined]> = [
  [1, 3], // /dev/null
  [1, 8], // /dev/random
  [1, 7], // /dev/full
  [5, 0], // /dev/tty
  [1, 5], // /dev/zero
  [1, 9], // /dev/urandom
  [5, 1], // /dev/console
  [136, undefined], // /dev/pts/*
  [5, 2], // /dev/ptmx
  [10, 200], // /dev/net/tun
];

function defaultMounts(): OciMount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
    },
  ];
}

/**
 * Checks one `KEY=VALUE` environment entry.
 *
 * @param entry the entry
 * @returns its key
 * @throws InvalidArgumentError when there is no `=` or the key is empty
 */
export function parseEnvEntry(entry: string): string {
  const eq = entry.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`invalid env "${entry}": want KEY=VALUE`);
  return entry.slice(0, eq);
}

/**
 * Merges environment entries: later entries replace earlier ones with the
 * same key, in the earlier one's position (containerd `WithEnv` semantics).
 *
 * @param base existing `KEY=VALUE` entries
 * @param extra entries to add or replace
 * @returns a new list
 * @throws InvalidArgumentError for a malformed entry in `extra`
 */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  const index = new Map<string, number>();
  out.forEach((e, i) => {
    const eq = e.indexOf("=");
    index.set(eq < 0 ? e : e.slice(0, eq), i);
  });
  for (const e of extra) {
    const key = parseEnvEntry(e);
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, out.length);
      out.push(e);
    } else {
      out[at] = e;
    }
  }
  return out;
}

function validateCwd(cwd: string): string {
  if (!cwd.startsWith("/")) throw new InvalidArgumentError(`invalid cwd "${cwd}": must be an absolute path`);
  return cwd;
}

/**
 * Generates the default OCI runtime spec for a container, as `ctr run` does.
 *
 * @param opts id, namespace, command and overrides
 * @returns a fresh spec object (safe to mutate), ready to be written as config.json
 * @throws InvalidArgumentError for an empty command, a relative cwd or a malformed env entry
 * @example
 * ```ts
 * const spec = generateDefaultSpec({ id: "c1", namespace: "default", args: ["sh"] });
 * // spec.linux.cgroupsPath === "/default/c1"
 * ```
 */
export function generateDefaultSpec(opts: DefaultSpecOptions): OciSpec {
  if (opts.args.length === 0 || opts.args[0] === "") {
    throw new InvalidArgumentError(`generate spec for "${opts.id}": no command given`);
  }
  const env = mergeEnv(opts.terminal ? [DEFAULT_PATH_ENV, "TERM=xterm"] : [DEFAULT_PATH_ENV], opts.env ?? []);
  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: opts.user?.uid ?? 0, gid: opts.user?.gid ?? 0 },
      args: [...opts.args],
      env,
      cwd: validateCwd(opts.cwd ?? "/"),
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs ?? "rootfs", readonly: opts.readonlyRootfs ?? false },
    hostname: opts.hostname ?? opts.id,
    mounts: [...defaultMounts(), ...(opts.mounts ?? []).map((m) => structuredClone(m))],
    linux: {
      resources: {
        devices: [
          { allow: false, access: "rwm" },
          ...ALLOWED_CHAR_DEVICES.map(([major, minor]) =>
            minor === undefined
              ? { allow: true, type: "c", major, access: "rwm" }
              : { allow: true, type: "c", major, minor, access: "rwm" }
          ),
        ],
      },
      cgroupsPath: `/${opts.namespace}/${opts.id}`,
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, { type: "network" }],
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) {
    spec.annotations = { ...opts.annotations };
  }
  return spec;
}

/** Overrides for {@link execProcessSpec}. */
export interface ExecProcessOptions {
  /** The command to run; must not be empty. */
  args: readonly string[];
  /** Give the process a terminal (adds `TERM=xterm` when the base has no TERM). */
  terminal?: boolean;
  /** Extra `KEY=VALUE` entries. */
  env?: readonly string[];
  /** Working directory (default: the base process's). */
  cwd?: string;
  /** The user (default: the base process's); additional groups are dropped when it is given. */
  user?: { uid: number; gid: number };
}

/**
 * Builds the process spec for an exec from the container's own process, as
 * `ctr task exec` does: same user, capabilities and env, new args, terminal
 * and optional cwd/env overrides.
 *
 * @param base the container's `process` (from its config.json), or undefined for defaults
 * @param opts the exec's command and overrides
 * @returns a new process object
 * @throws InvalidArgumentError for an empty command, a relative cwd or a malformed env entry
 */
export function execProcessSpec(base: OciProcess | undefined, opts: ExecProcessOptions): OciProcess {
  if (opts.args.length === 0 || opts.args[0] === "") throw new InvalidArgumentError("exec: no command given");
  const from: OciProcess = base ?? {
    user: { uid: 0, gid: 0 },
    args: [],
    env: [DEFAULT_PATH_ENV],
    cwd: "/",
    capabilities: {
      bounding: [...DEFAULT_CAPABILITIES],
      effective: [...DEFAULT_CAPABILITIES],
      permitted: [...DEFAULT_CAPABILITIES],
    },
    noNewPrivileges: true,
  };
  let env = mergeEnv(from.env ?? [], opts.env ?? []);
  if (opts.terminal && !env.some((e) => e.startsWith("TERM="))) env = [...env, "TERM=xterm"];
  return {
    ...structuredClone(from),
    terminal: opts.terminal ?? false,
    args: [...opts.args],
    env,
    cwd: validateCwd(opts.cwd ?? from.cwd ?? "/"),
    user: opts.user ? { ...opts.user } : structuredClone(from.user),
  };
}
