import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { programFor, shellProgram, signalOutcome, specFor, type Step, tokenizeShell } from "./script.ts";

const out = (text: string): Step => ({ kind: "write", stream: "stdout", text });
const err = (text: string): Step => ({ kind: "write", stream: "stderr", text });
const exit = (code: number): Step => ({ kind: "exit", code });
const sleep = (ms: number): Step => ({ kind: "sleep", ms });

describe("shellProgram()", () => {
  const cases: Array<[string, string[], Step[]]> = [
    ["no args", [], [exit(0)]],
    ["echo", ["echo", "hi", "there"], [out("hi there\n"), exit(0)]],
    ["echo by path", ["/bin/echo", "x"], [out("x\n"), exit(0)]],
    ["echo -n", ["echo", "-n", "x"], [out("x"), exit(0)]],
    ["true", ["true"], [exit(0)]],
    ["false", ["false"], [exit(1)]],
    ["sleep seconds", ["sleep", "2"], [sleep(2000), exit(0)]],
    ["sleep fraction", ["sleep", "0.5"], [sleep(500), exit(0)]],
    ["sleep infinity", ["sleep", "infinity"], [sleep(Infinity), exit(0)]],
    ["unknown command", ["nginx", "-g", "daemon off;"], [
      err(
        "nginx: not found (the fake shim runs no programs; it knows echo, true, false, exit, sleep, cat and sh -c)\n",
      ),
      exit(127),
    ]],
    ["unknown command in sh -c, then ||", ["sh", "-c", "ls / || echo fallback"], [
      err(
        "sh: ls: not found (the fake shim runs no programs; it knows echo, true, false, exit, sleep, cat and sh -c)\n",
      ),
      out("fallback\n"),
      exit(0),
    ]],
    ["sh -c exit", ["sh", "-c", "exit 3"], [exit(3)]],
    ["sh -c false", ["/bin/sh", "-c", "false"], [exit(1)]],
    ["sh -c sequence", ["sh", "-c", "echo a; echo 'b c'; exit 7; echo never"], [
      out("a\n"),
      out("b c\n"),
      exit(7),
    ]],
    ["sh -c stderr", ["sh", "-c", "echo oops >&2"], [err("oops\n"), exit(0)]],
    ["sh -c &&", ["sh", "-c", "false && echo no"], [exit(1)]],
    ["sh -c ||", ["sh", "-c", "false || echo yes"], [out("yes\n"), exit(0)]],
    ["sh -c sleep then exit", ["bash", "-c", "sleep 1\nexit 4"], [sleep(1000), exit(4)]],
    ["sh -c double quotes", ["sh", "-c", 'echo "a \\"q\\" b"'], [out('a "q" b\n'), exit(0)]],
    ["sh -c exit wraps", ["sh", "-c", "exit 257"], [exit(1)]],
    ["sh -c nested", ["sh", "-c", "sh -c 'exit 5'"], [exit(5)]],
    ["cat", ["cat"], [{ kind: "copyStdin", stream: "stdout" }, exit(0)]],
    ["cat - to stderr", ["sh", "-c", "cat - >&2"], [{ kind: "copyStdin", stream: "stderr" }, exit(0)]],
    ["cat of a file (no files here)", ["cat", "/etc/hostname"], [exit(0)]],
  ];
  for (const [name, args, want] of cases) {
    it(`shellProgram() runs ${name}`, () => assert.deepEqual(shellProgram(args), want));
  }
});

describe("tokenizeShell()", () => {
  it("tokenizeShell() splits commands and keeps operators", () => {
    assert.deepEqual(tokenizeShell("a b; c && d || e # comment"), [
      { words: ["a", "b"], op: ";" },
      { words: ["c"], op: "&&" },
      { words: ["d"], op: "||" },
      { words: ["e"], op: ";" },
    ]);
  });
});

describe("programFor()", () => {
  it("programFor() uses the tiny shell without a scripted entry", () => {
    const p = programFor(["echo", "hi"], { traps: [15], oom: false });
    assert.deepEqual(p.steps, [out("hi\n"), exit(0)]);
    assert.ok(p.traps.has(15));
  });
  it("programFor() replaces the shell when the entry scripts anything", () => {
    const p = programFor(["echo", "ignored"], {
      stdout: "o",
      stderr: "e",
      durationMs: 10,
      exitCode: 3,
      traps: [],
      oom: true,
    });
    assert.deepEqual(p.steps, [out("o"), err("e"), sleep(10), exit(3)]);
    assert.equal(p.oom, true);
  });
  it("programFor() never traps SIGKILL", () => {
    assert.equal(programFor([], { traps: [9, 15], oom: false }).traps.has(9), false);
  });
  it("specFor() picks init, the exec's own entry, or the exec default", () => {
    const sc = {
      init: { exitCode: 1, traps: [], oom: false },
      exec: { exitCode: 2, traps: [], oom: false },
      execs: { e1: { exitCode: 3, traps: [], oom: false } },
    };
    assert.equal(specFor(sc, "").exitCode, 1);
    assert.equal(specFor(sc, "e1").exitCode, 3);
    assert.equal(specFor(sc, "e2").exitCode, 2);
  });
});

describe("signalOutcome()", () => {
  const traps = new Set([15]);
  const cases: Array<[number, number | null]> = [[9, 137], [15, null], [2, 130], [0, null], [17, null], [
    19,
    null,
  ]];
  for (const [sig, want] of cases) {
    it(`signalOutcome() gives ${want} for signal ${sig}`, () =>
      assert.equal(signalOutcome(sig, traps), want));
  }
});
