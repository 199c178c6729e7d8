import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema } from "@bufbuild/protobuf/wkt";
import { kindOf } from "../errors.ts";
import { unpackAny } from "../api/registry.ts";
import { Status } from "../gen/containerd/v1/types/task_pb.ts";
import { buildScenario, type Scenario } from "./faults.ts";
import { FAKE_PID_BASE, NAMESPACE_HEADER, type StdioSink, TaskService } from "./task_service.ts";

const ctx = { metadata: { [NAMESPACE_HEADER]: ["testns"] } };

interface Harness {
  svc: TaskService;
  events: Array<{ topic: string; event: Record<string, unknown> }>;
  output: Map<string, string>;
  closed: Set<string>;
  shutdowns: number;
  /** Per stdin URI: what was fed while nobody read, the reader's callback, whether reader/source closed. */
  stdin: Map<string, StdinDouble>;
}

interface StdinDouble {
  pending: Uint8Array[];
  onData?: (chunk: Uint8Array) => void;
  readerClosed: boolean;
  released: boolean;
}

/** Writes to a process's stdin (the pipe keeps it until a reader starts). */
function feed(h: Harness, uri: string, text: string): void {
  const src = h.stdin.get(uri)!;
  const bytes = new TextEncoder().encode(text);
  if (src.onData) src.onData(bytes);
  else src.pending.push(bytes);
}

function harness(
  args: Record<string, string[]>,
  scenarioText = "",
  extra: Partial<{ extraPids: () => number[] }> = {},
): Harness {
  const scenario: Scenario = buildScenario(scenarioText ? [{ origin: "test", text: scenarioText }] : []);
  const h: Harness = {
    svc: undefined as unknown as TaskService,
    events: [],
    output: new Map(),
    closed: new Set(),
    shutdowns: 0,
    stdin: new Map(),
  };
  h.svc = new TaskService({
    scenario,
    loadBundle: (bundle) => Promise.resolve({ args: args[bundle] ?? [], scenario }),
    openStdio: (uri) => {
      if (!uri) return Promise.resolve(undefined);
      const sink: StdioSink = {
        write: (t) => {
          const text = typeof t === "string" ? t : new TextDecoder().decode(t);
          h.output.set(uri, (h.output.get(uri) ?? "") + text);
          return Promise.resolve();
        },
        close: () => {
          h.closed.add(uri);
          return Promise.resolve();
        },
      };
      return Promise.resolve(sink);
    },
    openStdin: (uri) => {
      if (!uri) return Promise.resolve(undefined);
      const src: StdinDouble = { pending: [], readerClosed: false, released: false };
      h.stdin.set(uri, src);
      return Promise.resolve({
        start: (onData) => {
          src.onData = onData;
          for (const c of src.pending.splice(0)) onData(c);
          return Promise.resolve({
            close: () => {
              src.readerClosed = true;
              src.onData = undefined;
              return Promise.resolve();
            },
          });
        },
        close: () => {
          src.released = true;
          return Promise.resolve();
        },
      });
    },
    emit: (topic: string, event: Any) => {
      const msg = unpackAny(event) as unknown as Record<string, unknown>;
      h.events.push({ topic, event: msg });
    },
    onShutdown: () => h.shutdowns++,
    shimPid: 4242,
    version: "test",
    extraPids: extra.extraPids,
  });
  return h;
}

function createReq(id: string, bundle = `/b/${id}`, stdout = "", stderr = "", stdin = "") {
  return { id, bundle, rootfs: [], terminal: false, stdin, stdout, stderr, checkpoint: "" };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

function execSpec(args: string[]): Any {
  return create(AnySchema, {
    typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
    value: new TextEncoder().encode(JSON.stringify({ args, cwd: "/" })),
  });
}

function code(err: unknown): string {
  return kindOf(err);
}

describe("TaskService lifecycle", () => {
  it("create → start → wait → delete runs the tiny shell and publishes in order", async () => {
    const h = harness({ "/b/c1": ["sh", "-c", "echo hi; echo err >&2; exit 3"] });
    const { pid } = await h.svc.create(createReq("c1", "/b/c1", "/fifo/out", "/fifo/err"), ctx);
    assert.equal(pid, FAKE_PID_BASE);
    assert.equal((await h.svc.state({ id: "c1", execId: "" })).status, Status.CREATED);
    assert.equal((await h.svc.start({ id: "c1", execId: "" })).pid, pid);
    const w = await h.svc.wait({ id: "c1", execId: "" });
    assert.equal(w.exitStatus, 3);
    const st = await h.svc.state({ id: "c1", execId: "" });
    assert.equal(st.status, Status.STOPPED);
    assert.equal(st.exitStatus, 3);
    assert.equal(h.output.get("/fifo/out"), "hi\n");
    assert.equal(h.output.get("/fifo/err"), "err\n");
    assert.ok(h.closed.has("/fifo/out") && h.closed.has("/fifo/err"));
    const d = await h.svc.delete({ id: "c1", execId: "" });
    assert.equal(d.exitStatus, 3);
    assert.equal(d.pid, pid);
    assert.deepEqual(h.events.map((e) => e.topic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exit",
      "/tasks/delete",
    ]);
    const exit = h.events[2].event;
    assert.equal(exit.containerId, "c1");
    assert.equal(exit.id, "c1");
    assert.equal(exit.exitStatus, 3);
    assert.throws(() => h.svc.state({ id: "c1", execId: "" }), /container not created: not found/);
  });

  it("create without the namespace header fails like runc-v2", async () => {
    const h = harness({});
    await assert.rejects(h.svc.create(createReq("c1")), (e) => {
      assert.equal(code(e), "failed_precondition");
      assert.match((e as Error).message, /namespace is required/);
      return true;
    });
  });

  it("state before create is NotFound and connect never fails", async () => {
    const h = harness({});
    assert.throws(() => h.svc.state({ id: "nope", execId: "" }), (e: unknown) => code(e) === "not_found");
    assert.deepEqual(await h.svc.connect({ id: "nope" }), { shimPid: 4242, taskPid: 0, version: "test" });
  });

  it("a duplicate create is AlreadyExists", async () => {
    const h = harness({});
    await h.svc.create(createReq("c1"), ctx);
    await assert.rejects(h.svc.create(createReq("c1"), ctx), (e: unknown) => code(e) === "already_exists");
    await h.svc.close();
  });

  it("unexited processes report Go's zero time", async () => {
    const h = harness({});
    await h.svc.create(createReq("c1"), ctx);
    const st = await h.svc.state({ id: "c1", execId: "" });
    assert.equal(st.exitedAt?.seconds, -62135596800n);
    await h.svc.close();
  });
});

describe("TaskService stdin (cat)", () => {
  const IN = "/fifo/in", OUT = "/fifo/out";
  it("cat copies what stdin held before it ran and what comes after, until CloseIO", async () => {
    const h = harness({ "/b/c1": ["sh", "-c", "echo start; cat; echo end"] });
    await h.svc.create(createReq("c1", "/b/c1", OUT, "", IN), ctx);
    feed(h, IN, "a\n");
    await h.svc.start({ id: "c1", execId: "" });
    await tick();
    feed(h, IN, "b\n");
    await tick();
    assert.equal(h.output.get(OUT), "start\na\nb\n");
    assert.equal((await h.svc.state({ id: "c1", execId: "" })).status, Status.RUNNING, "cat waits for more");
    h.svc.closeIO({ id: "c1", execId: "" });
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 0);
    assert.equal(h.output.get(OUT), "start\na\nb\nend\n");
    assert.deepEqual([h.stdin.get(IN)!.readerClosed, h.stdin.get(IN)!.released], [true, true]);
  });
  it("CloseIO before cat runs: cat delivers what the pipe holds, then ends", async () => {
    const h = harness({ "/b/c1": ["sh", "-c", "sleep 0.05; cat; exit 4"] });
    await h.svc.create(createReq("c1", "/b/c1", OUT, "", IN), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    feed(h, IN, "early\n");
    h.svc.closeIO({ id: "c1", execId: "" });
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 4);
    assert.equal(h.output.get(OUT), "early\n");
  });
  it("on a terminal, ^D ends cat like CloseIO; what follows it is not copied", async () => {
    const h = harness({ "/b/c1": ["sh", "-c", "cat; echo done"] });
    await h.svc.create({ ...createReq("c1", "/b/c1", OUT, "", IN), terminal: true }, ctx);
    await h.svc.start({ id: "c1", execId: "" });
    feed(h, IN, "ab\x04cd");
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 0);
    assert.equal(h.output.get(OUT), "abdone\n");
  });
  it("a signal ends cat (143) and what comes later is not copied; no stdin means cat ends at once", async () => {
    const h = harness({ "/b/c1": ["cat"], "/b/c2": ["cat"] });
    await h.svc.create(createReq("c1", "/b/c1", OUT, "", IN), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    feed(h, IN, "x");
    await tick();
    await h.svc.kill({ id: "c1", execId: "", signal: 15, all: false });
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 143);
    feed(h, IN, "late");
    assert.equal(h.output.get(OUT), "x");
    assert.equal(h.stdin.get(IN)!.released, true);
    await h.svc.create(createReq("c2", "/b/c2", "/fifo/out2"), ctx);
    await h.svc.start({ id: "c2", execId: "" });
    assert.equal((await h.svc.wait({ id: "c2", execId: "" })).exitStatus, 0);
    assert.equal(h.output.get("/fifo/out2"), undefined);
  });
});

describe("TaskService signals", () => {
  const cases: Array<[string, number, string, number | null]> = [
    ["SIGTERM ends a sleeper with 143", 15, "", 143],
    ["SIGKILL ends a sleeper with 137", 9, "", 137],
    ["SIGKILL beats a trap", 9, `[init]\nduration = "forever"\ntraps = ["SIGTERM", "SIGKILL"]`, 137],
    ["a trapped SIGTERM is ignored", 15, `[init]\nduration = "forever"\ntraps = ["SIGTERM"]`, null],
  ];
  for (const [name, signal, scenario, want] of cases) {
    it(`kill(): ${name}`, async () => {
      const h = harness({ "/b/c1": ["sleep", "infinity"] }, scenario);
      await h.svc.create(createReq("c1"), ctx);
      await h.svc.start({ id: "c1", execId: "" });
      await h.svc.kill({ id: "c1", execId: "", signal, all: false });
      await new Promise((r) => setTimeout(r, 20));
      const st = await h.svc.state({ id: "c1", execId: "" });
      if (want === null) {
        assert.equal(st.status, Status.RUNNING);
      } else {
        assert.equal(st.status, Status.STOPPED);
        assert.equal(st.exitStatus, want);
      }
      await h.svc.close();
    });
  }

  it("kill() on a finished process is NotFound", async () => {
    const h = harness({ "/b/c1": ["true"] });
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await h.svc.wait({ id: "c1", execId: "" });
    assert.throws(
      () => h.svc.kill({ id: "c1", execId: "", signal: 9, all: false }),
      /process already finished: not found/,
    );
  });

  it("delete() refuses a running process", async () => {
    const h = harness({ "/b/c1": ["sleep", "infinity"] });
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await assert.rejects(h.svc.delete({ id: "c1", execId: "" }), /cannot delete a running process/);
    await h.svc.close();
  });
});

describe("TaskService execs", () => {
  it("exec lifecycle: added, started, exit, no delete event; init exit kills execs", async () => {
    const h = harness({ "/b/c1": ["sleep", "infinity"] }, `[execs.e2]\nduration = "forever"`);
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await h.svc.exec({
      id: "c1",
      execId: "e1",
      terminal: false,
      stdin: "",
      stdout: "/e1/out",
      stderr: "",
      spec: execSpec(["echo", "from", "exec"]),
    });
    assert.throws(
      () =>
        h.svc.exec({
          id: "c1",
          execId: "e1",
          terminal: false,
          stdin: "",
          stdout: "",
          stderr: "",
          spec: execSpec([]),
        }),
      /id e1: already exists/,
    );
    const st = await h.svc.state({ id: "c1", execId: "e1" });
    assert.deepEqual([st.id, st.pid, st.status], ["e1", 0, Status.CREATED]);
    const { pid } = await h.svc.start({ id: "c1", execId: "e1" });
    assert.ok((pid ?? 0) > FAKE_PID_BASE);
    assert.equal((await h.svc.wait({ id: "c1", execId: "e1" })).exitStatus, 0);
    assert.equal(h.output.get("/e1/out"), "from exec\n");
    await h.svc.delete({ id: "c1", execId: "e1" });
    await h.svc.exec({
      id: "c1",
      execId: "e2",
      terminal: false,
      stdin: "",
      stdout: "",
      stderr: "",
      spec: execSpec([]),
    });
    await h.svc.start({ id: "c1", execId: "e2" });
    const pids = await h.svc.pids({ id: "c1" });
    assert.equal(pids.processes?.length, 2);
    await h.svc.kill({ id: "c1", execId: "", signal: 9, all: false });
    assert.equal((await h.svc.wait({ id: "c1", execId: "e2" })).exitStatus, 137);
    await h.svc.delete({ id: "c1", execId: "" });
    assert.deepEqual(h.events.map((e) => e.topic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/exit",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/exit",
      "/tasks/exit",
      "/tasks/delete",
    ]);
    assert.equal(h.events[4].event.id, "e1");
  });

  it("kill() with all signals every process", async () => {
    const h = harness({ "/b/c1": ["sleep", "infinity"] }, `[exec]\nduration = "forever"`);
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await h.svc.exec({
      id: "c1",
      execId: "e1",
      terminal: false,
      stdin: "",
      stdout: "",
      stderr: "",
      spec: execSpec([]),
    });
    await h.svc.start({ id: "c1", execId: "e1" });
    await h.svc.kill({ id: "c1", execId: "", signal: 15, all: true });
    assert.equal((await h.svc.wait({ id: "c1", execId: "e1" })).exitStatus, 143);
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 143);
  });
});

describe("TaskService pause, events faults, shutdown", () => {
  it("pause() holds the exit until resume()", async () => {
    const h = harness({ "/b/c1": ["sleep", "0.05"] });
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await h.svc.pause({ id: "c1" });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await h.svc.state({ id: "c1", execId: "" })).status, Status.PAUSED);
    assert.throws(() => h.svc.pause({ id: "c1" }), (e: unknown) => code(e) === "failed_precondition");
    await h.svc.resume({ id: "c1" });
    assert.equal((await h.svc.wait({ id: "c1", execId: "" })).exitStatus, 0);
    assert.deepEqual(h.events.map((e) => e.topic).slice(2), [
      "/tasks/paused",
      "/tasks/resumed",
      "/tasks/exit",
    ]);
  });

  it("oom publishes /tasks/oom before the exit", async () => {
    const h = harness({}, `[init]\nexit_code = 137\noom = true`);
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.start({ id: "c1", execId: "" });
    await h.svc.wait({ id: "c1", execId: "" });
    assert.deepEqual(h.events.map((e) => e.topic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/oom",
      "/tasks/exit",
    ]);
  });

  const eventCases: Array<[string, string[]]> = [
    ["drop-exit", ["/tasks/create", "/tasks/start", "/tasks/delete"]],
    ["dup-exit", ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/exit", "/tasks/delete"]],
    ["drop-all", []],
  ];
  for (const [fault, want] of eventCases) {
    it(`events fault ${fault} changes what is published`, async () => {
      const h = harness({}, `[faults]\nevents = "${fault}"`);
      await h.svc.create(createReq("c1"), ctx);
      await h.svc.start({ id: "c1", execId: "" });
      await h.svc.wait({ id: "c1", execId: "" });
      await h.svc.delete({ id: "c1", execId: "" });
      assert.deepEqual(h.events.map((e) => e.topic), want);
    });
  }

  it("shutdown() is a no-op while tasks exist, then fires onShutdown", async () => {
    const h = harness({});
    await h.svc.create(createReq("c1"), ctx);
    await h.svc.shutdown();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(h.shutdowns, 0);
    await h.svc.delete({ id: "c1", execId: "" });
    await h.svc.shutdown();
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(h.shutdowns, 1);
  });

  it("pids() lists extra (leaked) pids and stats() returns an empty Any", async () => {
    const h = harness({ "/b/c1": ["sleep", "infinity"] }, "", { extraPids: () => [99999] });
    await h.svc.create(createReq("c1"), ctx);
    const pids = await h.svc.pids({ id: "c1" });
    assert.deepEqual(pids.processes?.map((p) => p.pid), [FAKE_PID_BASE, 99999]);
    const stats = await h.svc.stats({ id: "c1" });
    const any = create(AnySchema, stats.stats);
    assert.equal(fromBinary(AnySchema, toBinary(AnySchema, any)).typeUrl, "io.containerd.cgroups.v2.Metrics");
    assert.throws(() => h.svc.checkpoint({ id: "c1" }), (e: unknown) => code(e) === "not_implemented");
    await h.svc.close();
  });
});
