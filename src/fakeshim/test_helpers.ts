/**
 * Test kit for the fake shim's end-to-end tests: a temp dir with bundles
 * (config.json + a drained `log` fifo), an Events server collecting what the
 * fake publishes, a runner for the fake's binary protocol, and a cleanup that
 * kills every process the temp dir owns.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Envelope } from "../gen/containerd/types/event_pb.ts";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { cliCommand } from "../../tests/helpers/cli.ts";
import { listProcesses, ownedPids } from "../../tests/helpers/leaks.ts";

/** Result of one fake-shim invocation. */
export interface RunResult {
  /** Exit code (128+N when killed by signal N). */
  code: number;
  /** Raw stdout bytes. */
  stdout: Uint8Array;
  /** Stderr text. */
  stderr: string;
}

/** A disposable fake-shim test environment. */
export interface FakeEnv {
  /** The temp dir holding everything. */
  dir: string;
  /** Socket directory handed to the fake. */
  socketDir: string;
  /** Path of the Events server socket (TTRPC_ADDRESS). */
  eventsAddress: string;
  /** Envelopes received by the Events server, in order. */
  events: Envelope[];
  /** Log lines read from each bundle's log fifo, by container id. */
  logs: Map<string, string>;
  /**
   * Creates a bundle with config.json and a drained log fifo.
   *
   * @param id container id
   * @param args process args
   * @param annotations OCI annotations
   * @returns the bundle dir
   */
  bundle(id: string, args: string[], annotations?: Record<string, string>): Promise<string>;
  /**
   * Runs the fake shim (`shimkit fake-shim …`).
   *
   * @param args arguments after `fake-shim`
   * @param opts cwd, extra env, timeout
   * @returns exit code and output
   */
  run(
    args: string[],
    opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number },
  ): Promise<RunResult>;
  /**
   * Spawns the fake without waiting (for the v1 daemon).
   *
   * @param args arguments after `fake-shim`
   * @param opts cwd, env, extra stdio
   * @returns the child
   */
  spawnFake(args: string[], opts?: { cwd?: string; stdio?: Array<"ignore" | "pipe" | number> }): ChildProcess;
  /** Kills owned processes, stops the Events server and removes the temp dir. */
  cleanup(): Promise<void>;
}

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("SHIMKIT_")) env[k] = v;
  }
  delete env.TTRPC_ADDRESS;
  return { ...env, NO_COLOR: "1", ...extra };
}

/**
 * Creates a fake-shim test environment.
 *
 * @returns the environment; call `cleanup()` in `after`/`t.after`
 */
export async function fakeEnv(): Promise<FakeEnv> {
  const dir = await mkdtemp(join(tmpdir(), "fk-"));
  const socketDir = join(dir, "s");
  const eventsAddress = join(dir, "events.sock");
  const events: Envelope[] = [];
  const logs = new Map<string, string>();
  const readers: ChildProcess[] = [];
  const server = new Server();
  server.register(Events, {
    forward: (req) => {
      if (req.envelope) events.push(req.envelope);
      return {};
    },
  });
  await server.listen(eventsAddress);
  const env = baseEnv({ SHIMKIT_FAKE_SOCKET_DIR: socketDir, TTRPC_ADDRESS: eventsAddress });
  const [exe, ...pre] = cliCommand();

  const fe: FakeEnv = {
    dir,
    socketDir,
    eventsAddress,
    events,
    logs,
    async bundle(id, args, annotations = {}) {
      const b = join(dir, "bundles", id);
      await mkdir(b, { recursive: true });
      await writeFile(
        join(b, "config.json"),
        JSON.stringify({ ociVersion: "1.0.2", process: { args }, annotations }),
      );
      const fifo = join(b, "log");
      const r = spawnSync("mkfifo", [fifo]);
      if (r.status !== 0) throw new Error(`mkfifo ${fifo}: ${r.stderr}`);
      // `cat` drains the fifo the way a manager copies it to its own log.
      const cat = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "ignore"] });
      cat.stdout!.on(
        "data",
        (c: Uint8Array) => logs.set(id, (logs.get(id) ?? "") + new TextDecoder().decode(c)),
      );
      readers.push(cat);
      return b;
    },
    run(args, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(exe, [...pre, "fake-shim", ...args], {
          cwd: opts.cwd ?? dir,
          env: { ...env, ...opts.env },
          stdio: ["ignore", "pipe", "pipe"],
        });
        const out: Uint8Array[] = [];
        let err = "";
        child.stdout!.on("data", (c: Uint8Array) => out.push(c));
        child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
        const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
        child.on("error", reject);
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          const size = out.reduce((n, c) => n + c.length, 0);
          const stdout = new Uint8Array(size);
          let at = 0;
          for (const c of out) {
            stdout.set(c, at);
            at += c.length;
          }
          resolve({ code: code ?? (signal === "SIGKILL" ? 137 : 143), stdout, stderr: err });
        });
      });
    },
    spawnFake(args, opts = {}) {
      return spawn(exe, [...pre, "fake-shim", ...args], {
        cwd: opts.cwd ?? dir,
        env,
        stdio: opts.stdio ?? ["ignore", "ignore", "pipe"],
      });
    },
    async cleanup() {
      for (let i = 0; i < 3; i++) {
        // Only processes whose cwd or command line is inside the temp dir: never other tests' children.
        const pids = ownedPids(await listProcesses(), -1, [dir]);
        for (const r of readers) if (r.pid) pids.add(r.pid);
        let alive = 0;
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
            alive++;
          } catch {
            // Already gone.
          }
        }
        if (alive === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fe;
}

/**
 * Polls until a pid is gone.
 *
 * @param pid the process id
 * @param timeoutMs the bound
 * @returns true when the process exited in time
 */
export async function waitGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Polls a condition.
 *
 * @param fn the condition
 * @param timeoutMs the bound
 * @returns true when it held in time
 */
export async function eventually(fn: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
