import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Code, Server, TtrpcError } from "../../../vendor/ttrpc-ts/mod.ts";
import { Task as TaskV2 } from "../../gen/containerd/task/v2/task_pb.ts";
import { Status } from "../../gen/containerd/v1/types/task_pb.ts";
import { nullLogger } from "../../log/logger.ts";
import type { CommandContext } from "../context.ts";
import {
  CALL_USAGE,
  formatCallError,
  formatServiceList,
  main,
  NAMESPACE_METADATA_KEY,
  parseCallArgs,
} from "./call.ts";

const SHIM = "/usr/bin/containerd-shim-runc-v2";

/** A command context that captures output; `stdin` yields `stdinText`. */
function testContext(stdinText = ""): { ctx: CommandContext; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const ctx: CommandContext = {
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    stdin: () => Promise.resolve(new TextEncoder().encode(stdinText)),
    env: {},
    logger: nullLogger,
    global: { state: "", root: "", namespace: "default", logLevel: "info", logFormat: "logfmt", json: false },
  };
  return { ctx, out: () => out, err: () => err };
}

function needsRootAndShim(): string | false {
  if (process.getuid?.() !== 0) return "needs root and containerd-shim-runc-v2";
  if (!fs.existsSync(SHIM)) return "needs root and containerd-shim-runc-v2";
  return false;
}

describe("parseCallArgs()", () => {
  const defaults = { namespace: "default", json: false };

  it("parseCallArgs() fills in the namespace metadata and no timeout by default", () => {
    const cmd = parseCallArgs(["/run/x.sock", "containerd.task.v2.Task/Connect"], defaults);
    assert.equal(cmd.kind, "call");
    if (cmd.kind !== "call") return;
    assert.equal(cmd.request.address, "/run/x.sock");
    assert.equal(cmd.request.target.method.name, "Connect");
    assert.equal(cmd.request.json, undefined);
    assert.equal(cmd.request.timeoutMs, undefined);
    assert.equal(cmd.request.compact, false);
    assert.deepEqual({ ...cmd.request.metadata }, { [NAMESPACE_METADATA_KEY]: ["default"] });
  });

  it("parseCallArgs() takes namespace, repeated metadata, JSON and --json", () => {
    const cmd = parseCallArgs(
      [
        "unix://@abs",
        "containerd.task.v3.Task/State",
        '{"id":"c1"}',
        "--namespace",
        "k8s.io",
        "-H",
        "A=1",
        "--metadata",
        "a=2",
        "--json",
      ],
      defaults,
    );
    assert.equal(cmd.kind, "call");
    if (cmd.kind !== "call") return;
    assert.equal(cmd.request.json, '{"id":"c1"}');
    assert.equal(cmd.request.compact, true);
    assert.deepEqual({ ...cmd.request.metadata }, { a: ["1", "2"], [NAMESPACE_METADATA_KEY]: ["k8s.io"] });
  });

  const timeouts: Array<[string, number | undefined]> = [
    ["500ms", 500],
    ["5s", 5000],
    ["1m", 60_000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["0", undefined],
  ];
  for (const [text, ms] of timeouts) {
    it(`parseCallArgs() parses --timeout ${text} as ${ms} ms`, () => {
      const cmd = parseCallArgs(["/s", "containerd.task.v2.Task/Connect", "--timeout", text], defaults);
      assert.equal(cmd.kind === "call" ? cmd.request.timeoutMs : "?", ms);
    });
  }

  const bad: Array<[string, string[], RegExp]> = [
    ["a missing method", ["/s"], /missing ADDRESS or SERVICE\/METHOD/],
    ["an extra argument", ["/s", "containerd.task.v2.Task/Connect", "{}", "x"], /unexpected argument "x"/],
    ["an unknown flag", ["/s", "containerd.task.v2.Task/Connect", "--nope"], /nope/],
    [
      "a bad duration",
      ["/s", "containerd.task.v2.Task/Connect", "--timeout", "5x"],
      /--timeout: invalid duration "5x"/,
    ],
    ["a negative duration", ["/s", "containerd.task.v2.Task/Connect", "--timeout=-1s"], /invalid duration/],
    [
      "metadata without =",
      ["/s", "containerd.task.v2.Task/Connect", "-H", "k"],
      /invalid metadata "k": want KEY=VALUE/,
    ],
    ["metadata without key", ["/s", "containerd.task.v2.Task/Connect", "-H", "=v"], /invalid metadata "=v"/],
    [
      "an unknown service",
      ["/s", "x.Y/Z"],
      /unknown service "x\.Y": known services are .*containerd\.task\.v2\.Task/,
    ],
    ["an unknown method", ["/s", "containerd.task.v2.Task/Frob"], /unknown method "Frob".*Connect/],
  ];
  for (const [name, args, re] of bad) {
    it(`parseCallArgs() rejects ${name}`, () => {
      assert.throws(() => parseCallArgs(args, defaults), (e: unknown) => {
        assert.equal((e as Error).name, "UsageError");
        assert.match((e as Error).message, re);
        return true;
      });
    });
  }

  it("parseCallArgs() recognises --help and --list without other arguments", () => {
    assert.deepEqual(parseCallArgs(["--help"], defaults), { kind: "help" });
    assert.deepEqual(parseCallArgs(["--list"], defaults), { kind: "list" });
  });
});

describe("formatCallError() / formatServiceList()", () => {
  const cases: Array<[string, unknown, string, string]> = [
    [
      "a TTRPC status",
      new TtrpcError(5, "container not created: not found"),
      "NotFound: container not created: not found\n",
      '{"code":5,"codeName":"NotFound","message":"container not created: not found"}\n',
    ],
    [
      "an errno error",
      Object.assign(new Error("connect ECONNREFUSED /x"), { code: "ECONNREFUSED" }),
      "Unavailable: connect ECONNREFUSED /x\n",
      '{"code":14,"codeName":"Unavailable","message":"connect ECONNREFUSED /x"}\n',
    ],
    [
      "a plain error",
      new Error("boom"),
      "Unknown: boom\n",
      '{"code":2,"codeName":"Unknown","message":"boom"}\n',
    ],
  ];
  for (const [name, err, text, json] of cases) {
    it(`formatCallError() formats ${name}`, () => {
      assert.equal(formatCallError(err, false), text);
      assert.equal(formatCallError(err, true), json);
    });
  }

  it("formatServiceList() lists every method of every known service", () => {
    const lines = formatServiceList().trimEnd().split("\n");
    assert.equal(lines.length, 17 + 17 + 1 + 16);
    assert.ok(lines.includes(
      "containerd.task.v2.Task/Connect(containerd.task.v2.ConnectRequest) returns (containerd.task.v2.ConnectResponse)",
    ));
    assert.ok(lines.includes(
      "containerd.services.events.ttrpc.v1.Events/Forward(containerd.services.events.ttrpc.v1.ForwardRequest) returns (google.protobuf.Empty)",
    ));
  });
});

describe("main() without a server", () => {
  it("main() exits 2 with the known methods for an unknown method", async () => {
    const t = testContext();
    const code = await main(["/nonexistent.sock", "containerd.task.v2.Task/Bogus"], t.ctx);
    assert.equal(code, 2);
    assert.equal(t.out(), "");
    assert.match(
      t.err(),
      /unknown method "Bogus" of service "containerd\.task\.v2\.Task": known methods are State, Create/,
    );
    assert.ok(t.err().endsWith(CALL_USAGE + "\n"));
  });

  it("main() --list prints the methods on stdout and exits 0", async () => {
    const t = testContext();
    assert.equal(await main(["--list"], t.ctx), 0);
    assert.equal(t.out(), formatServiceList());
  });

  it("main() reports a request that does not match the schema as InvalidArgument (exit 5)", async () => {
    const t = testContext();
    const code = await main(["/nonexistent.sock", "containerd.task.v2.Task/Connect", '{"nope":1}'], t.ctx);
    assert.equal(code, 5);
    assert.match(
      t.err(),
      /^shimkit: InvalidArgument: request for containerd\.task\.v2\.Task\/Connect: .*nope/,
    );
  });

  it("main() reports invalid JSON as InvalidArgument (exit 5)", async () => {
    const t = testContext();
    const code = await main(["/nonexistent.sock", "containerd.task.v2.Task/Connect", "{id:"], t.ctx);
    assert.equal(code, 5);
    assert.match(t.err(), /^shimkit: InvalidArgument: parse request JSON: /);
  });

  it("main() reports a missing socket with its errno kind (NotFound, exit 3)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shimkit-call-"));
    try {
      const t = testContext();
      const code = await main([path.join(dir, "none.sock"), "containerd.task.v2.Task/Connect"], t.ctx);
      assert.equal(code, 3);
      assert.match(t.err(), /^shimkit: NotFound: dial ".*none\.sock": .*ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("main() against a ttrpc-ts server", () => {
  let dir = "";
  let sock = "";
  let server: Server;
  const seen: Array<{ method: string; metadata: Record<string, string[]>; deadline: number | undefined }> =
    [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "shimkit-call-"));
    sock = path.join(dir, "shim.sock");
    server = new Server();
    server.register(TaskV2, {
      connect(_req, ctx) {
        seen.push({ method: ctx.method, metadata: { ...ctx.metadata }, deadline: ctx.deadline });
        return { shimPid: 4242, taskPid: 7, version: "2" };
      },
      state(req) {
        if (req.id !== "c1") throw new TtrpcError(Code.NotFound, "container not created: not found");
        return { id: "c1", pid: 7, status: Status.RUNNING, exitedAt: { seconds: -62135596800n } };
      },
      kill() {
        throw new Error("cannot kill: boom");
      },
      shutdown() {
        return {};
      },
    });
    await server.listen(sock);
  });

  after(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("main() prints a NotFound status as `shimkit: NotFound: <message>` and exits 3", async () => {
    const t = testContext();
    const code = await main([`unix://${sock}`, "containerd.task.v2.Task/State", '{"id":"nope"}'], t.ctx);
    assert.equal(code, 3);
    assert.equal(t.out(), "");
    assert.equal(t.err(), "shimkit: NotFound: container not created: not found\n");
  });

  it("main() prints a handler's plain error as Unknown and exits 1", async () => {
    const t = testContext();
    assert.equal(await main([sock, "containerd.task.v2.Task/Kill", '{"id":"c1"}'], t.ctx), 1);
    assert.equal(t.err(), "shimkit: Unknown: cannot kill: boom\n");
  });

  it("main() prints Unimplemented for a method or service the server lacks (exit 10)", async () => {
    let t = testContext();
    assert.equal(await main([sock, "containerd.task.v2.Task/Pids"], t.ctx), 10);
    assert.equal(t.err(), "shimkit: Unimplemented: method Pids\n");
    t = testContext();
    assert.equal(await main([sock, "containerd.task.v3.Task/Connect"], t.ctx), 10);
    assert.equal(t.err(), "shimkit: Unimplemented: service containerd.task.v3.Task\n");
  });

  it("main() errors as JSON on stderr with --json", async () => {
    const t = testContext();
    assert.equal(await main([sock, "containerd.task.v2.Task/State", "--json"], t.ctx), 3);
    assert.deepEqual(JSON.parse(t.err()), {
      code: 5,
      codeName: "NotFound",
      message: "container not created: not found",
    });
  });

  it("main() prints the response as pretty protobuf JSON and sends namespace, metadata and timeout", async () => {
    const t = testContext();
    seen.length = 0;
    const code = await main(
      [
        sock,
        "containerd.task.v2.Task/Connect",
        '{"id":"c1"}',
        "-n",
        "testns",
        "-H",
        "x-trace=abc",
        "--timeout",
        "5s",
      ],
      t.ctx,
    );
    assert.equal(t.err(), "");
    assert.equal(code, 0);
    assert.equal(t.out(), '{\n  "shimPid": 4242,\n  "taskPid": 7,\n  "version": "2"\n}\n');
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0].metadata[NAMESPACE_METADATA_KEY], ["testns"]);
    assert.deepEqual(seen[0].metadata["x-trace"], ["abc"]);
    assert.ok(seen[0].deadline !== undefined && seen[0].deadline > Date.now());
  });

  it("main() reads the request from stdin for `-` and prints compact JSON with --json", async () => {
    const t = testContext('{"id":"c1"}');
    assert.equal(await main([sock, "containerd.task.v2.Task/State", "-", "--json"], t.ctx), 0);
    assert.equal(t.out(), '{"id":"c1","pid":7,"status":"RUNNING","exitedAt":"0001-01-01T00:00:00Z"}\n');
  });

  it("main() prints {} for an Empty reply", async () => {
    const t = testContext();
    assert.equal(await main([sock, "containerd.task.v2.Task/Shutdown", '{"id":"c1"}'], t.ctx), 0);
    assert.equal(t.out(), "{}\n");
  });
});

/** Reads a process's state letter from /proc, or undefined when it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** True when the process has exited (gone, or a zombie its new parent has not reaped yet). */
function exited(pid: number): boolean {
  const s = procState(pid);
  return s === undefined || s === "Z" || s === "X";
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe("main() against containerd-shim-runc-v2", { skip: needsRootAndShim() }, () => {
  let dir = "";
  let bundle = "";
  let address = "";
  let shimPid = 0;
  let drain: ReturnType<typeof spawn> | undefined;
  const ns = "shimkit-call-test";

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "shimkit-call-shim-"));
    bundle = path.join(dir, "c1");
    fs.mkdirSync(path.join(bundle, "rootfs"), { recursive: true });
    fs.writeFileSync(
      path.join(bundle, "config.json"),
      JSON.stringify({ ociVersion: "1.0.2", process: { args: ["true"] }, root: { path: "rootfs" } }),
    );
    // The shim daemon opens ./log O_WRONLY before serving (protocol-facts.md §2.5): create the FIFO and keep
    // it drained. `cat` reads it from an O_RDWR descriptor, so it never sees EOF and never blocks the shim.
    const log = path.join(bundle, "log");
    assert.equal(spawnSync("mkfifo", ["-m", "0700", log]).status, 0, "mkfifo");
    const fd = fs.openSync(log, fs.constants.O_RDWR);
    try {
      drain = spawn("cat", [], { stdio: [fd, "ignore", "ignore"] });
    } finally {
      fs.closeSync(fd);
    }
    const containerdAddress = path.join(dir, "containerd.sock");
    const start = spawnSync(
      SHIM,
      [
        "-namespace",
        ns,
        "-address",
        containerdAddress,
        "-publish-binary",
        "/usr/bin/containerd",
        "-id",
        "c1",
        "start",
      ],
      {
        cwd: bundle,
        env: { ...process.env, GOMAXPROCS: "2", TTRPC_ADDRESS: `${containerdAddress}.ttrpc` },
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    assert.equal(start.status, 0, `shim start failed: ${start.stderr}`);
    address = start.stdout.trim();
    assert.match(address, /^unix:\/\/\/run\/containerd\/s\/[0-9a-f]{64}$/);
  });

  after(() => {
    // Only reached with a live shim when a test failed before Shutdown: kill it by pid.
    if (shimPid > 0 && !exited(shimPid)) {
      try {
        process.kill(shimPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    if (address) fs.rmSync(address.slice("unix://".length), { force: true });
    if (drain?.pid !== undefined && drain.exitCode === null) drain.kill("SIGKILL");
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("main() calls Connect on a real shim and prints its shimPid", async () => {
    const t = testContext();
    const code = await main([
      address,
      "containerd.task.v2.Task/Connect",
      '{"id":"c1"}',
      "--namespace",
      ns,
      "--timeout",
      "5s",
    ], t.ctx);
    assert.equal(t.err(), "");
    assert.equal(code, 0);
    const reply = JSON.parse(t.out());
    assert.equal(typeof reply.shimPid, "number");
    assert.ok(reply.shimPid > 0);
    assert.equal(reply.taskPid, undefined, "task_pid is 0 before Create, so it is left out");
    shimPid = reply.shimPid;
    assert.ok(!exited(shimPid), "shim daemon is running");
  });

  it("main() gets NotFound from a real shim for State before Create", async () => {
    const t = testContext();
    const code = await main([address, "containerd.task.v2.Task/State", '{"id":"c1"}', "-n", ns], t.ctx);
    assert.equal(code, 3);
    assert.equal(t.err(), "shimkit: NotFound: container not created: not found\n");
  });

  it("main() gets Unimplemented from a 1.6 shim for task v3", async () => {
    const t = testContext();
    assert.equal(await main([address, "containerd.task.v3.Task/Connect", "-n", ns], t.ctx), 10);
    assert.match(t.err(), /^shimkit: Unimplemented: service containerd\.task\.v3\.Task/);
  });

  it("main() shuts the shim down and it leaves nothing behind", async () => {
    assert.ok(shimPid > 0, "Connect ran first");
    const t = testContext();
    const code = await main([
      address,
      "containerd.task.v2.Task/Shutdown",
      '{"id":"c1"}',
      "-n",
      ns,
      "--timeout",
      "5s",
    ], t.ctx);
    // The shim may close the connection before its reply reaches us; containerd treats that as success too.
    assert.ok(code === 0 || /^Unavailable: ttrpc: closed/.test(t.err()), `exit ${code}: ${t.err()}`);
    assert.ok(await waitFor(() => exited(shimPid), 10_000), `shim ${shimPid} still running`);
    const sockPath = address.slice("unix://".length);
    assert.ok(await waitFor(() => !fs.existsSync(sockPath), 5_000), `socket ${sockPath} left behind`);
    const ps = spawnSync("pgrep", ["-f", `containerd-shim-runc-v2 -namespace ${ns} `], { encoding: "utf8" });
    const live = ps.stdout.split("\n").filter((p) => p !== "" && !exited(Number(p)));
    assert.deepEqual(live, [], "no shim process of this namespace is left");
  });
});
