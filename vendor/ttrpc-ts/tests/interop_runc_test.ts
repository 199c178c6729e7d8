/**
 * Interop with the real Go implementation: start a containerd-shim-runc-v2,
 * talk task v2 to it with hand-built payloads, shut it down, and check that
 * the process and its socket are gone. Needs root and the shim binary.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "../src/client.ts";
import { parseAddress } from "../src/conn.ts";
import { TtrpcError } from "../src/status.ts";
import { tempDir, waitFor } from "./helpers.ts";

const SHIM = "/usr/bin/containerd-shim-runc-v2";
const TASK = "containerd.task.v2.Task";
const NS = "ttrpcts";
const ID = "c1";

function skipReason(): string | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    return "needs root and containerd-shim-runc-v2";
  }
  try {
    accessSync(SHIM, constants.X_OK);
  } catch {
    return "needs root and containerd-shim-runc-v2";
  }
  return undefined;
}

/** Encodes `{1: id}`, the layout of ConnectRequest, StateRequest and ShutdownRequest. */
function idRequest(id: string): Uint8Array {
  const b = new TextEncoder().encode(id);
  return new Uint8Array([0x0a, b.length, ...b]);
}

/** Reads varint field `field` from a flat message. */
function varintField(buf: Uint8Array, field: number): number | undefined {
  let p = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = buf[p++];
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return v;
    }
  };
  while (p < buf.length) {
    const tag = varint();
    const wt = tag & 7;
    if (wt === 0) {
      const v = varint();
      if (tag >>> 3 === field) return v;
    } else if (wt === 2) p += varint();
    else throw new Error(`unexpected wire type ${wt}`);
  }
  return undefined;
}

/** True while `pid` is a live (non-zombie) process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

const reason = skipReason();

describe("interop with containerd-shim-runc-v2", { skip: reason }, () => {
  const tmp = tempDir("ttrpc-interop-");
  const bundle = join(tmp.dir, "bundle");
  let logFd = -1;
  let drain: ReturnType<typeof setInterval> | undefined;
  let socketPath = "";
  let shimPid = 0;
  let client: Client | undefined;

  before(() => {
    mkdirSync(join(bundle, "rootfs"), { recursive: true });
    writeFileSync(
      join(bundle, "config.json"),
      JSON.stringify({
        ociVersion: "1.0.2",
        process: { args: ["true"] },
        root: { path: "rootfs" },
      }),
    );
  });

  after(async () => {
    client?.close();
    if (shimPid > 0 && alive(shimPid)) process.kill(shimPid, "SIGKILL");
    await waitFor(() => shimPid === 0 || !alive(shimPid), 2000);
    if (socketPath && existsSync(socketPath)) {
      const { rmSync } = await import("node:fs");
      rmSync(socketPath, { force: true });
    }
    if (drain !== undefined) clearInterval(drain);
    if (logFd >= 0) closeSync(logFd);
    tmp.cleanup();
  });

  it(
    "Connect, State and Shutdown against the real shim",
    { timeout: 30_000 },
    async () => {
      const mk = await run("mkfifo", [join(bundle, "log")], bundle, {});
      assert.equal(mk.code, 0, mk.out);
      // The daemon opens the log fifo write-only; keep a reader on it and drain it.
      logFd = openSync(
        join(bundle, "log"),
        constants.O_RDWR | constants.O_NONBLOCK,
      );
      const sink = new Uint8Array(65536);
      drain = setInterval(() => {
        try {
          while (readSync(logFd, sink) > 0);
        } catch { /* EAGAIN: nothing to read */ }
      }, 50);

      const address = join(tmp.dir, "containerd.sock");
      const start = await run(
        SHIM,
        [
          "-namespace",
          NS,
          "-address",
          address,
          "-publish-binary",
          "/bin/true",
          "-id",
          ID,
          "start",
        ],
        bundle,
        { TTRPC_ADDRESS: `${address}.ttrpc` },
      );
      assert.equal(start.code, 0, start.out);
      const shimAddress = start.out.trim();
      assert.match(
        shimAddress,
        /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/,
      );
      socketPath = parseAddress(shimAddress).path;

      client = await Client.dial(shimAddress, {
        metadata: { "containerd-namespace-ttrpc": NS },
        timeoutMs: 5000,
        dialTimeoutMs: 2000,
      });
      let closes = 0;
      client.onClose(() => closes++);

      const connect = await client.call(TASK, "Connect", idRequest(ID));
      shimPid = varintField(connect, 1) ?? 0;
      assert.ok(shimPid > 0, "shim_pid present");
      assert.ok(alive(shimPid), "shim process is running");
      assert.equal(varintField(connect, 2), undefined, "no task yet");

      const many = await Promise.all(
        Array.from(
          { length: 200 },
          () => client!.call(TASK, "Connect", idRequest(ID)),
        ),
      );
      for (const r of many) assert.equal(varintField(r, 1), shimPid);

      await assert.rejects(
        client.call(TASK, "State", idRequest(ID)),
        (err: unknown) => {
          assert.ok(err instanceof TtrpcError);
          assert.equal(err.code, 5);
          assert.match(err.message, /not found/);
          return true;
        },
      );
      await assert.rejects(
        client.call(TASK, "NoSuchMethod", new Uint8Array()),
        { name: "TtrpcError", code: 12 },
      );
      await assert.rejects(
        client.call("no.such.Service", "X", new Uint8Array()),
        {
          name: "TtrpcError",
          code: 12,
          message: "service no.such.Service",
        },
      );

      // The shim may close the connection before replying; that counts as success, as in containerd.
      try {
        await client.call(TASK, "Shutdown", idRequest(ID));
      } catch (err) {
        assert.ok(
          err instanceof TtrpcError && err.code === 14,
          `Shutdown failed: ${err}`,
        );
      }
      assert.ok(
        await waitFor(() => client!.closed, 5000),
        "shim closed the connection",
      );
      assert.equal(closes, 1);
      assert.ok(
        await waitFor(() => !alive(shimPid), 15_000),
        `shim ${shimPid} exited`,
      );
      assert.ok(
        await waitFor(() => !existsSync(socketPath), 2000),
        "shim socket removed",
      );
    },
  );
});
