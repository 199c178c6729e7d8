/**
 * The fake shim's entry point: the v2 shim binary protocol (`start`,
 * `delete`, `-v`, `-info`, and the daemon mode `start` re-executes), or the
 * legacy v1 `containerd-shim` command line. Chosen by the program name
 * (`containerd-shim-fake-v2` / `-v1`) or `shimkit fake-shim [--flavour v1]`.
 *
 * @module
 */

import { create, toBinary } from "../api/protobuf.ts";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, rename, stat, unlink } from "node:fs/promises";
import { writeSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { basename } from "node:path";
import { DeleteResponseSchema } from "../gen/containerd/task/v2/task_pb.ts";
import { RuntimeInfoSchema } from "../gen/containerd/types/introspection_pb.ts";
import { dateToTimestamp } from "../taskapi/timestamp.ts";
import { defaultSocketDir, formatStartOutput, groupIdOf, socketPath } from "./address.ts";
import { FAKE_VERSION, runDaemon, SOCKET_PATH_ENV } from "./daemon.ts";
import { formatFaultCatalogue, phaseFault, type Scenario, SOCKET_DIR_ENV } from "./faults.ts";
import {
  flagNames,
  type Flavour,
  HelpRequested,
  parseShimFlags,
  type ShimFlags,
  stripFakeShimPrefix,
} from "./flags.ts";
import { loadScenario, readBundleConfig } from "./loader.ts";
import { selfCommand } from "../platform/process.ts";
import { FAKE_STATE_FILE, readFakeState, updateFakeState } from "./state_file.ts";

/** Runtime names the fake answers to. */
export const FAKE_RUNTIME_V2 = "io.containerd.fake.v2";
/** Runtime name of the legacy flavour. */
export const FAKE_RUNTIME_V1 = "io.containerd.fake.v1";
/** Type URL of the features `-info` reports (runc's, with JSON content). */
const FEATURES_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? new TextEncoder().encode(data) : data;
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as { code?: string }).code !== "EAGAIN") throw err;
    }
  }
}

const out = (data: string | Uint8Array) => writeAll(1, data);
const err = (data: string) => writeAll(2, data);
const sleep = (ms: number) =>
  new Promise<void>((r) => {
    if (Number.isFinite(ms)) setTimeout(r, ms);
    // "forever": keep the event loop alive until the process is killed.
    else setInterval(() => undefined, 1 << 30);
  });

/**
 * The `--help` text: usage, the scenario format and the fault catalogue.
 *
 * @param name the program name
 * @returns the text
 */
export function helpText(name: string): string {
  return `usage:
  ${name} [flags] start|delete        (v2 binary protocol; no action = daemon)
  ${name} -v | -info
  containerd-shim-fake-v1 [flags]     (legacy v1 shim; serves fd 3 or -socket)
  shimkit fake-shim [--flavour v1|v2] [flags] [action]

v2 flags: ${flagNames("v2").map((f) => "-" + f).join(" ")}
v1 flags: ${flagNames("v1").map((f) => "-" + f).join(" ")}

Runtime name io.containerd.fake.v2. Processes are simulated, pids are synthetic
(>= 4194304). Without a scenario a process's args are read by a tiny shell:
echo [-n] WORDS (>&2 for stderr), true, false, sleep N, exit N, cat (copies
stdin until CloseIO, or ^D on a terminal) and sh -c "cmd; cmd && cmd || cmd";
anything else is "not found" on stderr and exits 127.

Scenario (TOML) from $SHIMKIT_FAKE_SCENARIO (path or inline) and the
config.json annotation io.shimkit.fake.scenario; per-target faults from
annotations io.shimkit.fake.fault.<target> = "<spec>":

  bootstrap = "json-v3"        # plain | json-v2 | json-v3 | protobuf
  task_api = "both"            # v2 | v3 | both
  socket_dir = "/run/x"        # else $${SOCKET_DIR_ENV}, else a default
  log_fifo = "required"        # required | optional
  exit_drain = "2s"            # how long queued events may delay exit
  [init]                       # the init process; also [exec] and [execs.<id>]
  exit_code = 0
  duration = "forever"         # or "250ms", "2s", ...
  stdout = "hello\\n"
  stderr = ""
  traps = ["SIGTERM"]          # ignored signals (never SIGKILL)
  oom = false                  # publish /tasks/oom before exiting
  [faults]                     # target = spec
  Create = "error(NotFound,boom)"
  "*" = "3*off->crash"         # every RPC, by global call count
  start = "fail(1,no runtime)"

Spec grammar: term ("->" term)*, term = [N "*"] action ("+" action)*,
action = name or name(arg, ...). Faults (targets in brackets):
${formatFaultCatalogue()}

See docs/fake-shim.md for more.
`;
}

function runtimeName(flavour: Flavour): string {
  return flavour === "v1" ? FAKE_RUNTIME_V1 : FAKE_RUNTIME_V2;
}

/**
 * Runs the fake shim.
 *
 * @param argv the arguments after the program name (may start with `fake-shim` and `--flavour`)
 * @param argv0 the program name; a basename ending in `v1` selects the v1 flavour
 * @returns the exit code
 */
export async function main(argv: string[], argv0: string): Promise<number> {
  const name = basename(argv0) || "containerd-shim-fake-v2";
  let flags: ShimFlags;
  let flavour: Flavour;
  try {
    const prefix = stripFakeShimPrefix(argv);
    flavour = prefix.flavour ?? (name.endsWith("v1") ? "v1" : "v2");
    if (prefix.help) {
      out(helpText(name));
      return 0;
    }
    flags = parseShimFlags(prefix.argv, flavour);
  } catch (e) {
    if (e instanceof HelpRequested) {
      out(helpText(name));
      return 0;
    }
    err(`${(e as Error).message}\n${helpText(name)}`);
    return 2;
  }
  const runtime = runtimeName(flavour);
  const env = process.env as Record<string, string | undefined>;
  try {
    if (flags.version) {
      out(
        `${name}:\n  Version:  ${FAKE_VERSION}\n  Revision: fake\n  Go version: none (shimkit fake shim)\n\n`,
      );
      return 0;
    }
    if (flavour === "v2" && flags.info) {
      out(runtimeInfo());
      return 0;
    }
    if (flavour === "v1") return await daemon(flags, env, runtime);
    switch (flags.action) {
      case "start":
        return await start(flags, env, runtime);
      case "delete":
        return await deleteAction(flags, env, runtime);
      case "":
        return await daemon(flags, env, runtime);
      default:
        err(`${runtime}: unknown action "${flags.action}"`);
        return 1;
    }
  } catch (e) {
    err(`${runtime}: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * Encodes the `-info` reply: a RuntimeInfo naming the fake, with runc-style JSON features.
 *
 * @returns protobuf bytes
 */
export function runtimeInfo(): Uint8Array {
  const features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: "1.2.0",
    annotations: { "io.shimkit.fake": "true" },
  };
  return toBinary(
    RuntimeInfoSchema,
    create(RuntimeInfoSchema, {
      name: FAKE_RUNTIME_V2,
      version: { version: FAKE_VERSION, revision: "fake" },
      features: { typeUrl: FEATURES_TYPE_URL, value: new TextEncoder().encode(JSON.stringify(features)) },
    }),
  );
}

async function bundleScenario(env: Record<string, string | undefined>, bundle: string) {
  const cfg = await readBundleConfig(bundle, false);
  return { cfg, scenario: await loadScenario(env, cfg.annotations, bundle) };
}

async function daemon(
  flags: ShimFlags,
  env: Record<string, string | undefined>,
  runtime: string,
): Promise<number> {
  const { scenario } = await bundleScenario(env, process.cwd());
  return await runDaemon({ flags, scenario, env, runtime });
}

/** Applies the `latency`, `hang` and `fail` faults of a phase; returns an exit code to stop with, if any. */
async function phaseFaults(
  scenario: Scenario,
  phase: "start" | "delete",
  runtime: string,
): Promise<number | undefined> {
  const latency = phaseFault(scenario.faults, phase, "latency");
  if (latency) await sleep(Number(latency.params.duration));
  const hang = phaseFault(scenario.faults, phase, "hang");
  if (hang) await sleep(Number(hang.params.duration));
  const fail = phaseFault(scenario.faults, phase, "fail");
  if (fail) {
    err(`${runtime}: ${fail.params.message}`);
    return Number(fail.params.exit_code);
  }
  return undefined;
}

function probe(path: string): Promise<"live" | "dead"> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path });
    const t = setTimeout(() => done("dead"), 1000);
    function done(r: "live" | "dead") {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    }
    s.once("connect", () => done("live"));
    s.once("error", () => done("dead"));
  });
}

async function start(
  flags: ShimFlags,
  env: Record<string, string | undefined>,
  runtime: string,
): Promise<number> {
  if (!flags.namespace) throw new Error("shim namespace cannot be empty");
  if (!flags.id) throw new Error("shim id cannot be empty");
  const { cfg, scenario } = await bundleScenario(env, process.cwd());
  const stop = await phaseFaults(scenario, "start", runtime);
  if (stop !== undefined) return stop;
  const garbage = phaseFault(scenario.faults, "start", "garbage");
  if (garbage) {
    out(String(garbage.params.text));
    return 0;
  }
  const dir = scenario.socketDir ?? env[SOCKET_DIR_ENV] ??
    defaultSocketDir(process.getuid?.() ?? 0, env.XDG_RUNTIME_DIR, tmpdir());
  const path = socketPath(dir, flags.address, flags.namespace, groupIdOf(cfg.annotations, flags.id));
  const address = `unix://${path}`;
  const version = phaseFault(scenario.faults, "start", "version");
  const printed = formatStartOutput(
    scenario.bootstrap,
    address,
    version ? Number(version.params.version) : undefined,
  );
  if (phaseFault(scenario.faults, "start", "dead-address")) {
    out(printed);
    return 0;
  }
  const exists = await stat(path).then(() => true, () => false);
  if (exists) {
    if ((await probe(path)) === "live") {
      out(printed);
      return 0;
    }
    await unlink(path);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Bind under a temporary name and rename once the daemon holds the fd:
  // closing our copy then unlinks only the (gone) temporary name, and no
  // client can reach the socket before the daemon owns it.
  const tmp = `${dir}/.start-${process.pid}`;
  await unlink(tmp).catch(() => undefined);
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(tmp, () => resolve());
  });
  await chmod(tmp, 0o600);
  const fd = (srv as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const cmd = selfCommand();
  const args = [
    ...cmd.args,
    "fake-shim",
    "-namespace",
    flags.namespace,
    "-id",
    flags.id,
    "-address",
    flags.address,
  ];
  if (flags.publishBinary) args.push("-publish-binary", flags.publishBinary);
  if (flags.debug) args.push("-debug");
  const inherit = typeof fd === "number" && fd >= 0;
  if (!inherit) {
    await new Promise((r) => srv.close(r));
    args.push("-socket", path);
  }
  const child = spawn(cmd.file, args, {
    cwd: process.cwd(),
    env: { ...env, [SOCKET_PATH_ENV]: path },
    detached: true,
    stdio: inherit ? ["ignore", "ignore", "ignore", fd] : "ignore",
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", reject);
  });
  child.unref();
  // The daemon writes this too once it runs (it may be started without `start`). Recording it here, before
  // the address is printed, lets `delete` find the daemon even when it runs first: a manager that rejects
  // the address at once, on a loaded machine.
  if (child.pid !== undefined) {
    const keepSocket = !!phaseFault(scenario.faults, "daemon", "stale-socket");
    await updateFakeState(process.cwd(), { daemonPid: child.pid, socket: path, keepSocket }).catch(() =>
      undefined
    );
  }
  if (inherit) {
    await rename(tmp, path);
    await new Promise((r) => srv.close(r));
  } else {
    for (let i = 0; i < 500 && (await probe(path)) === "dead"; i++) await sleep(10);
  }
  out(printed);
  return 0;
}

async function isOurDaemon(pid: number, id: string): Promise<boolean> {
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("fake-shim") && (!id || cmdline.includes(id));
  } catch {
    return true;
  }
}

async function deleteAction(
  flags: ShimFlags,
  env: Record<string, string | undefined>,
  runtime: string,
): Promise<number> {
  const bundle = flags.bundle || process.cwd();
  const { scenario } = await bundleScenario(env, bundle);
  const stop = await phaseFaults(scenario, "delete", runtime);
  if (stop !== undefined) return stop;
  const st = await readFakeState(bundle);
  if (st && (await isOurDaemon(st.daemonPid, flags.id))) {
    try {
      process.kill(st.daemonPid, "SIGKILL");
    } catch {
      // It exited on its own in the meantime.
    }
  }
  if (st?.socket && !st.keepSocket) await unlink(st.socket).catch(() => undefined);
  await unlink(`${bundle}/${FAKE_STATE_FILE}`).catch(() => undefined);
  const exited = st?.exitedAt !== undefined;
  out(toBinary(
    DeleteResponseSchema,
    create(DeleteResponseSchema, {
      pid: st?.pid ?? 0,
      exitStatus: exited ? st!.exitStatus ?? 0 : 137,
      exitedAt: dateToTimestamp(exited ? new Date(st!.exitedAt!) : new Date()),
    }),
  ));
  return 0;
}
