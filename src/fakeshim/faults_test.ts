import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import {
  buildScenario,
  faultAt,
  faultFor,
  FAULTS,
  formatFaultCatalogue,
  isInlineToml,
  parseDuration,
  parseFaultSpec,
  parseSignal,
  parseSize,
  parseStatusCode,
  phaseFault,
  scenarioAnnotations,
} from "./faults.ts";

describe("parseDuration()", () => {
  const cases: Array<[string, number]> = [
    ["250ms", 250],
    ["2s", 2000],
    ["1.5s", 1500],
    ["3", 3000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["forever", Infinity],
    ["Infinity", Infinity],
  ];
  for (const [text, want] of cases) {
    it(`parseDuration() reads "${text}"`, () => assert.equal(parseDuration(text), want));
  }
  it("parseDuration() rejects garbage", () =>
    assert.throws(() => parseDuration("soon"), /invalid duration "soon"/));
});

describe("parseSize() and parseStatusCode()", () => {
  it("parseSize() reads units", () => {
    assert.equal(parseSize("4096"), 4096);
    assert.equal(parseSize("64KiB"), 65536);
    assert.equal(parseSize("5MiB"), 5 << 20);
    assert.throws(() => parseSize("lots"), InvalidArgumentError);
  });
  it("parseStatusCode() takes names and numbers", () => {
    assert.equal(parseStatusCode("NotFound"), 5);
    assert.equal(parseStatusCode("unavailable"), 14);
    assert.equal(parseStatusCode("9"), 9);
    assert.throws(() => parseStatusCode("Nope"), /invalid status code "Nope"/);
    assert.throws(() => parseStatusCode("99"), InvalidArgumentError);
  });
  it("parseSignal() takes names, short names and numbers", () => {
    assert.equal(parseSignal("SIGTERM"), 15);
    assert.equal(parseSignal("kill"), 9);
    assert.equal(parseSignal(2), 2);
    assert.equal(parseSignal("10"), 10);
    assert.throws(() => parseSignal("SIGNOPE"), /invalid signal/);
  });
});

describe("parseFaultSpec()", () => {
  it("parseFaultSpec() fills defaults and parses typed args", () => {
    assert.deepEqual(parseFaultSpec("error(NotFound,boom)", "rpc"), [
      { count: null, actions: [{ name: "error", params: { code: 5, message: "boom" } }] },
    ]);
    assert.deepEqual(parseFaultSpec("error", "rpc")[0].actions[0].params, {
      code: 2,
      message: "injected fault",
    });
    assert.deepEqual(parseFaultSpec("hang", "rpc")[0].actions[0].params, { duration: Infinity });
    assert.deepEqual(parseFaultSpec("oversize(5MiB)", "rpc")[0].actions[0].params, { bytes: 5 << 20 });
  });
  it("parseFaultSpec() keeps quoted commas and parens in strings", () => {
    const [step] = parseFaultSpec('error(Unknown, "a, b (c)")', "rpc");
    assert.equal(step.actions[0].params.message, "a, b (c)");
  });
  it("parseFaultSpec() reads chains, counts and combinations", () => {
    const chain = parseFaultSpec("2*off->1*latency(10ms)+error(Unavailable,x)->crash", "rpc");
    assert.equal(chain.length, 3);
    assert.deepEqual(chain[0], { count: 2, actions: [] });
    assert.equal(chain[1].count, 1);
    assert.deepEqual(chain[1].actions.map((a) => a.name), ["latency", "error"]);
    assert.equal(chain[2].count, null);
  });
  const rejects: Array<[string, string, "rpc" | "start" | "daemon", RegExp]> = [
    ["unknown action", "explode", "rpc", /unknown fault "explode": want one of/],
    ["action for another target", "garbage", "rpc", /fault "garbage" does not apply to RPC methods/],
    ["rpc action on a phase", "crash", "start", /does not apply to "start"/],
    ["too many args", "crash(1,2)", "rpc", /takes at most 1 argument/],
    ["bad int", "die(0,x)", "daemon", /parameter "exit_code": want an integer/],
    ["two terminal actions", "error+crash", "rpc", /combines more than one/],
    ["unterminated quote", 'error(2,"x)', "rpc", /unterminated quote/],
    ["empty", " ", "rpc", /empty fault spec/],
  ];
  for (const [name, spec, target, re] of rejects) {
    it(`parseFaultSpec() rejects ${name}`, () => assert.throws(() => parseFaultSpec(spec, target), re));
  }
});

describe("faultAt() and faultFor()", () => {
  const chain = parseFaultSpec("2*off->1*crash->error(NotFound,x)", "rpc");
  const table: Array<[number, string[]]> = [[0, []], [1, []], [2, ["crash"]], [3, ["error"]], [99, [
    "error",
  ]]];
  for (const [i, want] of table) {
    it(`faultAt() picks ${JSON.stringify(want)} for call ${i}`, () => {
      assert.deepEqual(faultAt(chain, i).map((a) => a.name), want);
    });
  }
  it("faultAt() applies nothing after the last counted term", () => {
    const c = parseFaultSpec("1*close", "rpc");
    assert.deepEqual(faultAt(c, 0).map((a) => a.name), ["close"]);
    assert.deepEqual(faultAt(c, 1), []);
    assert.deepEqual(faultAt(undefined, 0), []);
  });
  it("faultFor() prefers the method's chain, then the global one by global index", () => {
    const plan = {
      Create: parseFaultSpec("1*error(NotFound,x)", "rpc"),
      "*": parseFaultSpec("3*off->crash", "rpc"),
    };
    assert.deepEqual(faultFor(plan, "Create", 0, 0).map((a) => a.name), ["error"]);
    assert.deepEqual(faultFor(plan, "Create", 1, 1), []);
    assert.deepEqual(faultFor(plan, "State", 0, 3).map((a) => a.name), ["crash"]);
  });
  it("phaseFault() finds a named action in a phase", () => {
    const plan = { daemon: parseFaultSpec("stale-socket+leak-process(1s)", "daemon") };
    assert.equal(phaseFault(plan, "daemon", "leak-process")?.params.lifetime, 1000);
    assert.equal(phaseFault(plan, "daemon", "die"), undefined);
    assert.equal(phaseFault(plan, "start", "fail"), undefined);
  });
});

describe("buildScenario()", () => {
  it("buildScenario() gives defaults for an empty document", () => {
    const sc = buildScenario([]);
    assert.equal(sc.bootstrap, "json-v3");
    assert.equal(sc.taskApi, "both");
    assert.equal(sc.requireLogFifo, true);
    assert.deepEqual(sc.faults, {});
  });
  it("buildScenario() reads every section", () => {
    const sc = buildScenario([{
      origin: "test",
      text: `
bootstrap = "protobuf"
task_api = "v3"
socket_dir = "/tmp/s"
log_fifo = "optional"
exit_drain = "100ms"
[init]
exit_code = 3
duration = "forever"
stdout = "hello\\n"
traps = ["SIGTERM", 2]
[exec]
stderr = "oops"
[execs.e1]
oom = true
[faults]
Create = "error(NotFound,boom)"
"*" = "5*off->crash"
start = "fail(3,no)"
`,
    }]);
    assert.equal(sc.bootstrap, "protobuf");
    assert.equal(sc.taskApi, "v3");
    assert.equal(sc.socketDir, "/tmp/s");
    assert.equal(sc.requireLogFifo, false);
    assert.equal(sc.exitDrainMs, 100);
    assert.deepEqual(sc.init, {
      exitCode: 3,
      durationMs: Infinity,
      stdout: "hello\n",
      traps: [15, 2],
      oom: false,
    });
    assert.equal(sc.exec.stderr, "oops");
    assert.equal(sc.execs.e1.oom, true);
    assert.deepEqual(Object.keys(sc.faults).sort(), ["*", "Create", "start"]);
  });
  it("buildScenario() lets later layers and fault annotations win", () => {
    const sc = buildScenario(
      [
        {
          origin: "env",
          text: `bootstrap = "plain"\n[init]\nexit_code = 1\n[faults]\nCreate = "crash"\nStart = "close"`,
        },
        { origin: "annotation", text: `[init]\nstdout = "x"` },
      ],
      { Create: "error(AlreadyExists,dup)" },
    );
    assert.equal(sc.bootstrap, "plain");
    assert.deepEqual(sc.init, { exitCode: 1, stdout: "x", traps: [], oom: false });
    assert.equal(sc.faults.Create[0].actions[0].name, "error");
    assert.equal(sc.faults.Start[0].actions[0].name, "close");
  });
  const rejects: Array<[string, string, RegExp]> = [
    ["unknown top key", `bootstrapp = "plain"`, /scenario t: unknown key "bootstrapp"/],
    [
      "bad enum",
      `bootstrap = "xml"`,
      /key "bootstrap": want one of plain, json-v2, json-v3, protobuf, got "xml"/,
    ],
    ["unknown process key", `[init]\nexti_code = 1`, /unknown key "init.exti_code"/],
    ["exit code range", `[init]\nexit_code = 300`, /key "init.exit_code": want an integer 0-255/],
    ["bad duration", `[exec]\nduration = "soon"`, /key "exec.duration": invalid duration "soon"/],
    ["bad trap", `[execs.e1]\ntraps = ["SIGNOPE"]`, /key "execs.e1.traps\[0\]": invalid signal/],
    ["unknown fault target", `[faults]\nFrobnicate = "crash"`, /unknown fault target "Frobnicate"/],
    ["bad fault", `[faults]\nCreate = "explode"`, /key "faults.Create": unknown fault "explode"/],
    ["relative socket dir", `socket_dir = "rel"`, /key "socket_dir": want an absolute path/],
    ["toml syntax", `bootstrap = `, /parse scenario t at line 1, column/],
  ];
  for (const [name, text, re] of rejects) {
    it(`buildScenario() rejects ${name}`, () => {
      assert.throws(() => buildScenario([{ origin: "t", text }]), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.match((e as Error).message, re);
        return true;
      });
    });
  }
  it("buildScenario() names the annotation of a bad fault", () => {
    assert.throws(
      () => buildScenario([], { Create: "nope" }),
      /annotation "io.shimkit.fake.fault.Create": unknown fault "nope"/,
    );
  });
});

describe("scenarioAnnotations() and helpers", () => {
  it("scenarioAnnotations() picks the scenario and fault annotations", () => {
    assert.deepEqual(
      scenarioAnnotations({
        "io.shimkit.fake.scenario": "/x.toml",
        "io.shimkit.fake.fault.Create": "crash",
        "io.shimkit.fake.fault.start": "hang",
        "other": "y",
      }),
      { scenario: "/x.toml", faults: { Create: "crash", start: "hang" } },
    );
    assert.deepEqual(scenarioAnnotations(undefined), { faults: {} });
  });
  it("isInlineToml() tells TOML from paths", () => {
    assert.equal(isInlineToml("/etc/scenario.toml"), false);
    assert.equal(isInlineToml(`bootstrap = "plain"`), true);
    assert.equal(isInlineToml("[init]\nexit_code=1"), true);
  });
  it("formatFaultCatalogue() lists every fault", () => {
    const text = formatFaultCatalogue();
    for (const f of FAULTS) assert.ok(text.includes(`  ${f.name}`), f.name);
  });
});
