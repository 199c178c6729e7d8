import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { COMMANDS, helpText, runCli } from "./main.ts";
import { tempState } from "../../tests/helpers/temp_state.ts";
import { runCli as spawnCli } from "../../tests/helpers/cli.ts";

const PLANNED = [
  "call",
  "run",
  "ls",
  "create",
  "start",
  "ps",
  "state",
  "pids",
  "kill",
  "wait",
  "exec",
  "delete",
  "events",
  "info",
  "publish",
  "load",
  "doctor",
  "gc",
  "config",
  "fake-shim",
  "version",
];

async function cli(argv: string[], env: Record<string, string> = {}, stdin = "") {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    argv0: "shimkit",
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    stdin: () => Promise.resolve(new TextEncoder().encode(stdin)),
    env,
  });
  return { code, stdout, stderr };
}

describe("COMMANDS", () => {
  it("registers every planned command and lists it in --help", () => {
    assert.deepEqual(Object.keys(COMMANDS).sort(), [...PLANNED].sort());
    for (const name of PLANNED) assert.match(helpText(), new RegExp(`^  ${name} `, "m"));
  });
});

describe("runCli()", () => {
  it("prints the version and help without loading a config", async () => {
    const v = await cli(["--version"]);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^shimkit version \d/);
    const h = await cli(["--help"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^Usage: shimkit/m);
  });

  it("exits 2 with help on stderr without a command", async () => {
    const r = await cli([]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Usage: shimkit/m);
  });

  it("exits 2 for an unknown command, listing the commands", async () => {
    const r = await cli(["frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^shimkit: unknown command "frobnicate"\ncommands: run, create, /);
  });

  it("with --log-format json, the final error is one JSON line with its kind and exit code", async () => {
    const s = await tempState("sk-main-");
    try {
      const r = await cli(["--log-format", "json", "--state", s.state, "--root", s.root, "state", "nope"]);
      assert.equal(r.code, 3);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      const line = JSON.parse(lines[0]);
      assert.equal(line.level, "error");
      assert.match(line.msg, /^task "default\/nope" not found$/);
      assert.equal(line.kind, "not_found");
      assert.equal(line.exit_code, 3);
      const u = await cli(["--log-format", "json", "frobnicate"]);
      assert.equal(u.code, 2);
      const usage = JSON.parse(u.stderr.trimEnd());
      assert.equal(usage.kind, "usage");
      assert.match(usage.msg, /^unknown command "frobnicate"/);
    } finally {
      await s.cleanup();
    }
  });

  it("exits 2 for a bad global flag and for a bad command flag", async () => {
    assert.equal((await cli(["--bogus", "ps"])).code, 2);
    const r = await cli(["version", "--bogus"], { SHIMKIT_CONFIG: "" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^shimkit: /);
  });

  it("maps a ShimkitError to its exit code and message", async () => {
    const r = await cli(["config", "dump"], { SHIMKIT_CONFIG: "/nonexistent/x.toml" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^shimkit: read config "\/nonexistent\/x.toml": /);
  });

  it("rejects an invalid namespace before the command does any work (exit 5, nothing logged or created)", async () => {
    await using s = await tempState();
    const state = join(s.dir, "new-state");
    const root = join(s.dir, "new-root");
    for (const argv of [["-n", "../up", "run", "--rm", "c1", "true"], ["events"]]) {
      const r = await cli(["--state", state, "--root", root, ...argv], { SHIMKIT_NAMESPACE: "a/b" });
      assert.equal(r.code, 5);
      const from = argv[0] === "-n"
        ? '--namespace: invalid namespace "../up"'
        : 'SHIMKIT_NAMESPACE: invalid namespace "a/b"';
      assert.equal(
        r.stderr.split("\n")[0],
        `shimkit: ${from}: must match ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`,
      );
      assert.equal(r.stderr.split("\n").length, 2, "one line: no runtime or rootfs was picked first");
      assert.equal(r.stdout, "");
    }
    assert.equal(existsSync(state), false);
    assert.equal(existsSync(root), false);
  });

  it("reports an invalid config with the key and value (exit 5)", async () => {
    await using s = await tempState();
    const file = join(s.dir, "c.toml");
    await writeFile(file, 'version = 3\n[timeouts]\nstart = "5x"\n');
    const r = await cli(["--config", file, "config", "dump"]);
    assert.equal(r.code, 5);
    assert.equal(r.stderr, `shimkit: config "${file}": timeouts.start: invalid duration "5x"\n`);
  });

  it("applies config, environment and flags in that order", async () => {
    await using s = await tempState();
    const file = join(s.dir, "c.toml");
    await writeFile(file, `version = 3\nstate = "/cfg/state"\nroot = "/cfg/root"\nnamespace = "cfg"\n`);
    const r = await cli(["--config", file, "--root", "/flag/root", "config", "dump", "--json"], {
      SHIMKIT_STATE: "/env/state",
    });
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.state, "/env/state");
    assert.equal(c.root, "/flag/root");
    assert.equal(c.namespace, "cfg");
  });

  it("accepts --json after a listing command", async () => {
    const r = await cli(["version", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).version.length > 0, true);
  });

  it("logs config migration warnings and migrates stdin", async () => {
    const r = await cli(
      ["config", "migrate", "-"],
      {},
      'version = 2\n[plugins."io.containerd.runtime.v2.task"]\nsched_core = "on"\n',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /level=warn .*skipping migration for non-boolean value/);
    assert.equal(r.stdout, "version = 3\n");
  });

  it("prints the default config, which parses back", async () => {
    await using s = await tempState();
    const r = await cli(["config", "default"]);
    assert.equal(r.code, 0);
    const file = join(s.dir, "d.toml");
    await writeFile(file, r.stdout);
    assert.equal((await cli(["--config", file, "config", "dump"])).code, 0);
  });

  it("exits 2 for a bad config subcommand", async () => {
    assert.equal((await cli(["config"])).code, 2);
    assert.equal((await cli(["config", "nope"])).code, 2);
    assert.equal((await cli(["config", "dump", "extra"])).code, 2);
  });
});

describe("the shimkit executable", () => {
  it("exits with the code and stderr message of a failure", async () => {
    const r = await spawnCli(["--config", "/nonexistent/x.toml", "config", "dump"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^shimkit: read config/);
    assert.equal(r.stdout, "");
  });
  it("prints help on --help", async () => {
    const r = await spawnCli(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Commands:/);
  });
});

describe("main.ts static imports", () => {
  it("load nothing heavy (no protobuf, ttrpc or generated code) before a command is chosen", async () => {
    const { readFileSync } = await import("node:fs");
    const { dirname, join, normalize } = await import("node:path");
    const { fileURLToPath } = await import("node:url");
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      for (const m of code.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm)) {
        if (/^\s*(?:import|export)\s+type\b/.test(m[0])) continue;
        const spec = m[1];
        if (spec.startsWith(".")) visit(normalize(join(dirname(file), spec)));
        else bare.add(spec);
      }
    };
    visit(fileURLToPath(new URL("./main.ts", import.meta.url)));
    const heavy = [...seen].filter((f) => /\/(gen|vendor|task|shim|bundle|fakeshim)\//.test(f));
    assert.deepEqual(heavy, []);
    assert.deepEqual([...bare].filter((s) => !s.startsWith("node:")), []);
  });
});
