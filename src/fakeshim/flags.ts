/**
 * Command-line parsing for the fake shim, Go `flag` style like the real shims
 * (pure): `-name value`, `-name=value`, `--name`, boolean flags without a
 * value, flags before the first non-flag argument (the action). An unknown
 * flag is an error that the caller reports as `flag provided but not
 * defined: -x` with exit code 2.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/** The two CLI flavours: the v2 binary protocol, or the legacy v1 `containerd-shim`. */
export type Flavour = "v1" | "v2";

/** Parsed flags of either flavour. */
export interface ShimFlags {
  /** Which flavour the flags were parsed for. */
  flavour: Flavour;
  /** `-namespace`. */
  namespace: string;
  /** `-id` (v2). */
  id: string;
  /** `-address`: containerd's gRPC address (hashed into the socket name). */
  address: string;
  /** `-publish-binary` (v2; unused, like runc-v2). */
  publishBinary: string;
  /** `-bundle` (v2 delete). */
  bundle: string;
  /** `-socket`: serve on this address instead of fd 3. */
  socket: string;
  /** `-debug`. */
  debug: boolean;
  /** `-v` / `-version`. */
  version: boolean;
  /** `-info` (v2). */
  info: boolean;
  /** `-workdir` (v1). */
  workdir: string;
  /** `-runtime-root` (v1). */
  runtimeRoot: string;
  /** `-criu` (v1). */
  criu: string;
  /** `-systemd-cgroup` (v1). */
  systemdCgroup: boolean;
  /** `-containerd-binary` (v1): runs `<bin> --address A publish --topic T --namespace N` for events. */
  containerdBinary: string;
  /** The action: `start`, `delete`, or "" (serve as the daemon). */
  action: string;
  /** Arguments after the action. */
  rest: string[];
}

/** A flag the caller asked for help with (`-h`, `-help`, `--help`). */
export class HelpRequested extends Error {
  /** Always "HelpRequested". */
  override name = "HelpRequested";
}

type FlagKind = "string" | "bool";
const V2_FLAGS: Record<string, [keyof ShimFlags, FlagKind]> = {
  namespace: ["namespace", "string"],
  id: ["id", "string"],
  address: ["address", "string"],
  "publish-binary": ["publishBinary", "string"],
  bundle: ["bundle", "string"],
  socket: ["socket", "string"],
  "debug-socket": ["rest", "string"],
  debug: ["debug", "bool"],
  v: ["version", "bool"],
  version: ["version", "bool"],
  info: ["info", "bool"],
};
const V1_FLAGS: Record<string, [keyof ShimFlags, FlagKind]> = {
  namespace: ["namespace", "string"],
  socket: ["socket", "string"],
  address: ["address", "string"],
  workdir: ["workdir", "string"],
  "runtime-root": ["runtimeRoot", "string"],
  criu: ["criu", "string"],
  "systemd-cgroup": ["systemdCgroup", "bool"],
  "containerd-binary": ["containerdBinary", "string"],
  debug: ["debug", "bool"],
  v: ["version", "bool"],
  version: ["version", "bool"],
};

/**
 * Lists the flags a flavour accepts, for usage text.
 *
 * @param flavour v1 or v2
 * @returns flag names without the dash
 */
export function flagNames(flavour: Flavour): string[] {
  return Object.keys(flavour === "v1" ? V1_FLAGS : V2_FLAGS).filter((n) => n !== "debug-socket");
}

/**
 * Parses shim flags.
 *
 * @param argv the arguments after the program name
 * @param flavour which flag set applies
 * @returns the flags and the action
 * @throws InvalidArgumentError `flag provided but not defined: -x` or `flag needs an argument: -x`
 * @throws HelpRequested for -h/-help/--help
 */
export function parseShimFlags(argv: readonly string[], flavour: Flavour): ShimFlags {
  const table = flavour === "v1" ? V1_FLAGS : V2_FLAGS;
  const f: ShimFlags = {
    flavour,
    namespace: "",
    id: "",
    address: "",
    publishBinary: "",
    bundle: "",
    socket: "",
    debug: false,
    version: false,
    info: false,
    workdir: "",
    runtimeRoot: "/run/containerd/runc",
    criu: "",
    systemdCgroup: false,
    containerdBinary: "containerd",
    action: "",
    rest: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === "h" || name === "help") throw new HelpRequested("help requested");
    const def = table[name];
    if (!def) throw new InvalidArgumentError(`flag provided but not defined: -${name}`);
    const [key, kind] = def;
    if (kind === "bool") {
      const v = eq < 0 ? "true" : body.slice(eq + 1);
      if (!["true", "false", "1", "0"].includes(v)) {
        throw new InvalidArgumentError(`invalid boolean value "${v}" for -${name}`);
      }
      (f as unknown as Record<string, boolean>)[key] = v === "true" || v === "1";
      continue;
    }
    let v: string;
    if (eq >= 0) v = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new InvalidArgumentError(`flag needs an argument: -${name}`);
      v = argv[++i];
    }
    if (key !== "rest") (f as unknown as Record<string, string>)[key] = v;
  }
  if (i < argv.length) {
    f.action = argv[i];
    f.rest = argv.slice(i + 1);
  }
  return f;
}

/** What precedes the shim flags when the fake runs as `shimkit fake-shim`. */
export interface FakeShimPrefix {
  /** The flavour chosen by `--flavour`, if given. */
  flavour?: Flavour;
  /** True when `--help`/`-h`/`help` came first. */
  help: boolean;
  /** The remaining arguments (shim flags and action). */
  argv: string[];
}

/**
 * Strips the `fake-shim` command word and `--flavour v1|v2` that may lead the
 * arguments (when re-executed through the shimkit CLI).
 *
 * @param argv arguments as received
 * @returns the flavour override, help request and remaining arguments
 * @throws InvalidArgumentError for an unknown flavour
 */
export function stripFakeShimPrefix(argv: readonly string[]): FakeShimPrefix {
  const out: FakeShimPrefix = { help: false, argv: [...argv] };
  if (out.argv[0] === "fake-shim") out.argv.shift();
  for (;;) {
    const a = out.argv[0];
    if (a === "--flavour" || a === "--flavor") {
      out.flavour = checkFlavour(out.argv[1]);
      out.argv.splice(0, 2);
    } else if (a?.startsWith("--flavour=") || a?.startsWith("--flavor=")) {
      out.flavour = checkFlavour(a.slice(a.indexOf("=") + 1));
      out.argv.shift();
    } else if (a === "--help" || a === "help") {
      out.help = true;
      out.argv.shift();
    } else {
      return out;
    }
  }
}

function checkFlavour(v: string | undefined): Flavour {
  if (v === "v1" || v === "v2") return v;
  throw new InvalidArgumentError(`invalid flavour "${v ?? ""}": want v1 or v2`);
}
