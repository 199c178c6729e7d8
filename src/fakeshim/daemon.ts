/**
 * The fake shim's long-running daemon: serves the task API (v2/v3, or the v1
 * Shim service) on an inherited fd-3 listener or a `-socket` address, writes
 * its log to the bundle's `log` fifo, publishes events, applies the daemon
 * faults, and exits after Shutdown or SIGTERM.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { constants, writeSync } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import * as net from "node:net";
import { posix } from "node:path";
import type { Any } from "@bufbuild/protobuf/wkt";
import { toBinary } from "../api/protobuf.ts";
import { AnySchema } from "../gen/google/protobuf/any_pb.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { Shim as ShimV1 } from "../gen/containerd/runtime/linux/shim/v1/shim_pb.ts";
import { Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { typeNameOfUrl, unpackAny } from "../api/registry.ts";
import { v1ListenAddress } from "./address.ts";
import { phaseFault, RPC_METHODS, type Scenario } from "./faults.ts";
import type { ShimFlags } from "./flags.ts";
import { CallCounter, withFaults } from "./inject.ts";
import { loadScenario, readBundleConfig } from "./loader.ts";
import { EventPublisher } from "./publisher.ts";
import { shimV1Handlers, V1_TOPICS } from "./shim_v1.ts";
import { updateFakeState } from "./state_file.ts";
import { openStdin, openStdio } from "./stdio.ts";
import { type EventSink, TaskService } from "./task_service.ts";

/** Environment variable through which `start` tells the daemon its socket path (for cleanup). */
export const SOCKET_PATH_ENV = "SHIMKIT_FAKE_SOCKET_PATH";
/** The fake shim's version string (Connect, `-v`, `-info`). */
export const FAKE_VERSION = "0.1.0";
/** Largest reply the daemon may send when an `oversize` fault is planned. */
const OVERSIZE_LIMIT = 64 << 20;

/** Inputs of {@link runDaemon}. */
export interface DaemonOptions {
  /** Parsed flags. */
  flags: ShimFlags;
  /** The daemon's scenario (loaded from its cwd bundle and the environment). */
  scenario: Scenario;
  /** The environment. */
  env: Record<string, string | undefined>;
  /** Runtime name for log lines, e.g. `io.containerd.fake.v2`. */
  runtime: string;
}

/** A serial writer for the log fifo, or for stderr (v1, which has no log fifo), or nowhere. */
class LogSink {
  readonly #fh: FileHandle | undefined;
  readonly #fd: number | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(fh: FileHandle | undefined, fallbackFd?: number) {
    this.#fh = fh;
    this.#fd = fh ? fh.fd : fallbackFd;
  }

  write(text: string | Uint8Array): Promise<unknown> {
    const fh = this.#fh;
    if (!fh) {
      if (typeof text === "string" && text) this.writeNow(text);
      return Promise.resolve();
    }
    const buf = typeof text === "string" ? new TextEncoder().encode(text) : text;
    this.#tail = this.#tail.then(() => fh.write(buf)).catch(() => undefined);
    return this.#tail;
  }

  /** Writes synchronously, for last words before a crash. */
  writeNow(text: string): void {
    if (this.#fd === undefined) return;
    try {
      writeSync(this.#fd, text);
    } catch {
      // The reader may be gone; a crash goes ahead regardless.
    }
  }
}

async function openLogFifo(required: boolean): Promise<FileHandle | undefined> {
  try {
    // O_WRONLY without O_CREAT, like the real daemon: blocks until the manager reads the fifo.
    return await open("log", constants.O_WRONLY);
  } catch (err) {
    if (required) throw new Error(`fifo error: stat log: ${(err as Error).message}`, { cause: err });
    return undefined;
  }
}

/** Listens where the flags say; connections are held until {@link releaseHeld} (the log fifo gate). */
async function listen(flags: ShimFlags): Promise<{ srv: net.Server; held: net.Socket[]; path?: string }> {
  const srv = net.createServer();
  const held: net.Socket[] = [];
  srv.on("connection", (s) => held.push(s));
  let path: string | undefined;
  let addr: string | undefined;
  if (flags.socket) {
    addr = flags.flavour === "v1" ? v1ListenAddress(flags.socket) : flags.socket.replace(/^unix:\/\//, "");
    if (!addr.startsWith("\0")) path = addr;
  }
  // A path socket is bound under a temporary name and renamed once it listens: between bind and listen
  // the file exists but refuses connections, and a client that waits for the file (containerd's v1
  // runtime does) would dial into that gap.
  // Hidden, as every temporary socket name: a stale-socket sweep leaves hidden names alone while they bind.
  const tempName = path &&
    posix.join(posix.dirname(path), `.${posix.basename(path).slice(0, 16)}.${process.pid}`);
  const temp = tempName && Buffer.byteLength(tempName) <= 107 ? tempName : undefined;
  if (temp) await unlink(temp).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    if (addr !== undefined) srv.listen(temp ?? addr, () => resolve());
    else srv.listen({ fd: 3 }, () => resolve());
  });
  if (temp && path) await rename(temp, path);
  return { srv, held, path };
}

function hasFault(scenario: Scenario, name: string): boolean {
  return Object.values(scenario.faults).some((chain) =>
    chain.some((s) => s.actions.some((a) => a.name === name))
  );
}

/**
 * Runs `<containerd-binary> --address A publish --topic T --namespace N` with
 * the event Any on stdin, as the v1 shim does (protocol-facts.md §5).
 */
function legacyPublisher(flags: ShimFlags, log: Logger): EventSink {
  let chain: Promise<void> = Promise.resolve();
  return (topic: string, event: Any) => {
    chain = chain.then(() =>
      new Promise<void>((resolve) => {
        const args = [
          "--address",
          flags.address,
          "publish",
          "--topic",
          topic,
          "--namespace",
          flags.namespace,
        ];
        const child = spawn(flags.containerdBinary, args, { stdio: ["pipe", "ignore", "ignore"] });
        child.on("error", (err) => {
          log.error("publish event failed", { topic, error: err });
          resolve();
        });
        child.on("exit", (code) => {
          if (code !== 0) log.error("publish event failed", { topic, exit_code: code });
          resolve();
        });
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(toBinary(AnySchema, event));
      })
    );
  };
}

/**
 * Runs the daemon until Shutdown, SIGTERM or a fault ends it.
 *
 * @param opts flags, scenario, environment
 * @returns the exit code
 */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { flags, scenario, env } = opts;
  const plan = scenario.faults;
  const { srv, held, path: listenPath } = await listen(flags);
  const socketPath = listenPath ?? env[SOCKET_PATH_ENV];
  const keepSocket = !!phaseFault(plan, "daemon", "stale-socket");
  const linger = phaseFault(plan, "daemon", "linger");
  if (flags.flavour === "v2") {
    // `delete` finds the daemon and its socket through this, even if Create never
    // ran or the log fifo below blocks forever.
    await updateFakeState(process.cwd(), { daemonPid: process.pid, socket: socketPath, keepSocket }).catch(
      () => undefined,
    );
  }

  // The v1 shim has no log fifo: it logs to the stderr containerd gave it.
  const sink = flags.flavour === "v1"
    ? new LogSink(undefined, 2)
    : new LogSink(await openLogFifo(scenario.requireLogFifo));
  const log = createLogger({
    level: flags.debug ? "debug" : "info",
    write: (line) => void sink.write(line + "\n"),
    fields: {
      runtime: opts.runtime,
      namespace: flags.namespace,
      id: flags.id || undefined,
      pid: process.pid,
    },
  });
  log.info("starting fake shim daemon", { socket: socketPath ?? "fd 3", flavour: flags.flavour });

  const leaked: number[] = [];
  let exiting = false;
  let publisher: EventPublisher | undefined;

  const removeSocket = async () => {
    if (keepSocket || !socketPath) return;
    await unlink(socketPath).catch(() => undefined);
  };
  const crash = (code: number, method: string): never => {
    sink.writeNow(`panic: fake shim: injected crash in ${method}\n`);
    process.exit(code);
  };

  let finish!: (code: number) => void;
  const finished = new Promise<number>((r) => (finish = r));
  const exit = async (code: number, why: string) => {
    if (exiting) return;
    exiting = true;
    log.info("exiting", { reason: why });
    await svc.close();
    await server.shutdown({ timeoutMs: 100 }).catch(() => undefined);
    // Closing a listener bound by path unlinks the path, which stale-socket must not do.
    if (!keepSocket) srv.close();
    await removeSocket();
    if (publisher) {
      await publisher.drain(scenario.exitDrainMs);
      publisher.close();
    }
    if (linger && why === "shutdown") {
      log.info("lingering after shutdown", { duration_ms: Number(linger.params.duration) });
      await new Promise((r) => setTimeout(r, Number(linger.params.duration)));
    }
    await sink.write("");
    finish(code);
  };

  const flood = phaseFault(plan, "daemon", "log-flood");
  if (flood) {
    const total = Number(flood.params.bytes);
    const chunk = new TextEncoder().encode("x".repeat(1023) + "\n");
    for (let done = 0; done < total; done += chunk.length) {
      void sink.write(done + chunk.length <= total ? chunk : chunk.subarray(0, total - done));
    }
  }
  const leak = phaseFault(plan, "daemon", "leak-process");
  if (leak) {
    const seconds = Math.max(1, Math.ceil(Number(leak.params.lifetime) / 1000));
    const child = spawn("sleep", [String(seconds)], { detached: true, stdio: "ignore" });
    child.on("error", (err) => log.error("leak process failed", { error: err }));
    if (child.pid) {
      leaked.push(child.pid);
      log.info("leaked a process", { leaked_pid: child.pid });
    }
    child.unref();
  }

  const emit: EventSink = flags.flavour === "v1" ? legacyPublisher(flags, log) : env.TTRPC_ADDRESS
    ? (() => {
      publisher = new EventPublisher({ address: env.TTRPC_ADDRESS, namespace: flags.namespace, log });
      return (topic: string, event: Any) => {
        log.debug("publish event", { topic, type: typeNameOfUrl(event.typeUrl) });
        publisher!.publish(topic, event);
      };
    })()
    : (topic: string) => log.debug("no TTRPC_ADDRESS, event not published", { topic });

  let stateChain: Promise<void> = Promise.resolve();
  const saveState = (bundle: string, patch: Parameters<typeof updateFakeState>[1]) => {
    stateChain = stateChain.then(() => updateFakeState(bundle, patch)).catch((err) =>
      // ENOENT: the manager removed the bundle already (it may right after Shutdown): nothing to keep.
      (err as { code?: string }).code === "ENOENT"
        ? log.debug("bundle gone; fake state not written", { bundle })
        : log.warn("write fake state failed", { bundle, error: err })
    );
  };

  const svc = new TaskService({
    scenario,
    loadBundle: async (bundle) => {
      const cfg = await readBundleConfig(bundle, true);
      const taskScenario = await loadScenario(env, cfg.annotations, bundle);
      saveState(bundle, { daemonPid: process.pid, socket: socketPath, keepSocket });
      return { args: cfg.args, scenario: { ...taskScenario, faults: scenario.faults } };
    },
    openStdio,
    openStdin,
    emit: (topic, event) => {
      emit(topic, event);
      if (topic === "/tasks/create" || topic === "/tasks/exit") {
        recordInit(topic, event);
      }
    },
    onShutdown: () => void exit(0, "shutdown"),
    shimPid: process.pid,
    version: FAKE_VERSION,
    extraPids: () => leaked,
    topics: flags.flavour === "v1" ? V1_TOPICS : undefined,
  });
  const bundles = new Map<string, string>();
  const recordInit = (topic: string, event: Any) => {
    const msg = unpackAny(event) as unknown as Record<string, unknown> | undefined;
    if (!msg) return;
    if (topic === "/tasks/create") {
      bundles.set(String(msg.containerId), String(msg.bundle));
      saveState(String(msg.bundle), { pid: Number(msg.pid) });
    } else if (msg.id === msg.containerId) {
      const bundle = bundles.get(String(msg.containerId));
      const at = msg.exitedAt as { seconds: bigint; nanos: number } | undefined;
      const iso = at
        ? new Date(Number(at.seconds) * 1000 + Math.floor(at.nanos / 1e6)).toISOString()
        : undefined;
      if (bundle) saveState(bundle, { exitStatus: Number(msg.exitStatus ?? 0), exitedAt: iso });
    }
  };

  const server = new Server(hasFault(scenario, "oversize") ? { maxMessageLength: OVERSIZE_LIMIT } : {});
  const hooks = { plan, counter: new CallCounter(), crash, log };
  if (flags.flavour === "v1") {
    server.register(
      ShimV1,
      withFaults(ShimV1, shimV1Handlers(svc, flags.namespace, process.pid), hooks) as never,
    );
  } else {
    if (scenario.taskApi !== "v3") server.register(TaskV2, withFaults(TaskV2, svc, hooks) as never);
    if (scenario.taskApi !== "v2") server.register(TaskV3, withFaults(TaskV3, svc, hooks) as never);
  }
  srv.removeAllListeners("connection");
  srv.on("connection", (s) => server.serveSocket(s));
  for (const s of held.splice(0)) server.serveSocket(s);

  process.on("SIGTERM", () => void exit(0, "SIGTERM"));
  process.on("SIGINT", () => void exit(0, "SIGINT"));
  process.on("SIGPIPE", () => undefined);

  const die = phaseFault(plan, "daemon", "die");
  if (die) {
    const code = Number(die.params.exit_code);
    setTimeout(() => crash(code, "daemon (die fault)"), Number(die.params.after));
  }
  log.debug("serving", { methods: RPC_METHODS.length });
  return await finished;
}
