/**
 * The CLI as a new user meets it: every command's `--help`, the common
 * mistakes (unknown flags, global flags after the command, bad runtimes,
 * deleting a running container, starting a stopped one) and what each must
 * do: a message naming what was wrong, the documented exit code, output on
 * stdout only, diagnostics on stderr only, and nothing left behind.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliResult, runCli } from "./helpers/cli.ts";
import { type TempState, tempState } from "./helpers/temp_state.ts";

const FAKE = "io.containerd.fake.v2";
const EXIT_USAGE = 2;
const EXIT_NOT_FOUND = 3;
const EXIT_ALREADY_EXISTS = 4;
const EXIT_INVALID_ARGUMENT = 5;
const EXIT_FAILED_PRECONDITION = 6;

/** Every command with its `--help` synopsis. */
const HELP: Array<[string, RegExp]> = [
  ["run", /^usage: shimkit run \[flags\] ID/],
  ["create", /^usage: shimkit create \[flags\] ID/],
  ["start", /^usage: shimkit start /],
  ["exec", /^usage: shimkit exec \[flags\] ID EXEC_ID/],
  ["kill", /^usage: shimkit kill /],
  ["wait", /^usage: shimkit wait /],
  ["delete", /^usage: shimkit delete /],
  ["ps", /^usage: shimkit ps /],
  ["ls", /^usage: shimkit ps /],
  ["state", /^usage: shimkit state /],
  ["pids", /^usage: shimkit pids /],
  ["events", /^usage: shimkit events /],
  ["call", /^usage: shimkit call /],
  ["info", /^usage: shimkit info /],
  ["load", /^usage: shimkit load /],
  ["gc", /^usage: shimkit gc /],
  ["doctor", /^usage: shimkit doctor /],
  ["publish", /^usage: shimkit --address ADDR publish /],
  ["config", /^usage: shimkit config /],
  ["version", /^usage: shimkit version/],
];

let seq = 0;
function uniqueId(name: string): string {
  return `us${process.pid}-${Date.now().toString(36)}-${seq++}-${name}`;
}

function expectFailure(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, "", "nothing on stdout");
  assert.match(r.stderr, message);
}

async function isEmpty(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

describe("cli usage: --help", () => {
  let s: TempState;
  after(async () => await s?.cleanup());

  for (const [command, synopsis] of HELP) {
    it(`${command} --help prints its usage on stdout and exits 0`, async () => {
      s ??= await tempState("sk-us-");
      const r = await runCli(["--state", s.state, "--root", s.root, command, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, synopsis);
      assert.equal(r.stderr, "");
    });
  }

  it("the help of every command leaves the state and root dirs empty", async () => {
    s ??= await tempState("sk-us-");
    assert.ok(await isEmpty(s.state));
    assert.ok(await isEmpty(s.root));
  });
});

describe("cli usage: mistakes on the command line", () => {
  let s: TempState;
  after(async () => await s?.cleanup());
  const cli = async (args: string[]) => {
    s ??= await tempState("sk-us-");
    return await runCli(["--state", s.state, "--root", s.root, ...args]);
  };

  for (const [command] of HELP) {
    if (command === "ls") continue;
    it(`${command} --bogus is a usage error naming the flag`, async () => {
      const r = await cli([command, "--bogus"]);
      expectFailure(r, EXIT_USAGE, new RegExp(`^shimkit: ${command}: unknown flag "--bogus"\\n`));
    });
  }

  it("a global flag after the command says to put it before", async () => {
    const r = await cli(["ps", "--namespace", "x"]);
    expectFailure(
      r,
      EXIT_USAGE,
      /^shimkit: ps: unknown flag "--namespace": "--namespace" is a global flag; put it before the command/,
    );
  });

  it("a value flag without its value is a usage error naming the flag", async () => {
    expectFailure(
      await cli(["run", "--runtime"]),
      EXIT_USAGE,
      /^shimkit: run: flag "--runtime" needs a value\n/,
    );
  });

  it("run -i -t and exec -i -t with stdin from a pipe are refused before anything is created", async () => {
    // runCli's stdin is a pipe. With a pty, the end of piped input hangs the process up.
    const want = /: -i with -t needs a terminal on stdin, and stdin is a pipe or a file .*drop -t/;
    for (
      const args of [["run", "--rm", "-i", "-t", "--runtime", FAKE, "c1", "--", "cat"], [
        "exec",
        "-it",
        "c1",
        "e1",
        "cat",
      ]]
    ) {
      const r = await cli(args);
      expectFailure(r, EXIT_USAGE, new RegExp(`^shimkit: ${args[0]}${want.source}`));
    }
    assert.ok(await isEmpty(s.state), "nothing in the state dir");
    assert.ok(await isEmpty(s.root), "nothing in the root dir");
  });

  it("create --rm names the run-only flag", async () => {
    expectFailure(
      await cli(["create", "--rm", "c1", "true"]),
      EXIT_USAGE,
      /^shimkit: create: --rm is a run flag\n$/,
    );
  });

  it("two ids for a one-id command are listed", async () => {
    expectFailure(
      await cli(["state", "a", "b"]),
      EXIT_USAGE,
      /^shimkit: state: want one container ID, got 2 \("a", "b"\)\n/,
    );
  });

  const signalMistakes: Array<[string[], string]> = [
    [["web", "SIGKILL"], "--signal SIGKILL web"],
    [["web", "9"], "--signal 9 web"],
    [["KILL", "web"], "--signal KILL web"],
    [["web", "SIGFOO"], "--signal SIGFOO web"],
    [["-9", "web"], "--signal 9 web"],
    [["-KILL", "web"], "--signal KILL web"],
  ];
  for (const [args, fix] of signalMistakes) {
    it(`kill ${args.join(" ")} says the signal goes in --signal`, async () => {
      expectFailure(
        await cli(["kill", ...args]),
        EXIT_USAGE,
        new RegExp(`^shimkit: kill: the signal goes in --signal: shimkit kill ${fix}\n`),
      );
    });
  }

  it("kill with two ids that are not signals lists them", async () => {
    expectFailure(
      await cli(["kill", "web", "db"]),
      EXIT_USAGE,
      /^shimkit: kill: want one container ID, got 2 \("web", "db"\)\n/,
    );
  });

  it("config without a subcommand lists the subcommands", async () => {
    expectFailure(
      await cli(["config"]),
      EXIT_USAGE,
      /^shimkit: config: missing subcommand: want default, dump or migrate\n/,
    );
  });

  it(
    "config migrate without FILE and without a config file is not found",
    { skip: existsSync("/etc/shimkit/config.toml") ? "/etc/shimkit/config.toml exists" : false },
    async () => {
      expectFailure(
        await cli(["config", "migrate"]),
        EXIT_NOT_FOUND,
        /^shimkit: config migrate: no FILE given and no config file at "\/etc\/shimkit\/config\.toml"/,
      );
    },
  );

  it("config migrate turns a containerd config.toml into one shimkit loads; --config refuses the original", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sk-ctd-"));
    try {
      const containerd = join(dir, "containerd.toml");
      await writeFile(
        containerd,
        [
          "version = 2",
          'root = "/var/lib/containerd"',
          "[debug]",
          'level = "debug"',
          "[timeouts]",
          '"io.containerd.timeout.shim.load" = "7s"',
          '[plugins."io.containerd.runtime.v2.task"]',
          "sched_core = true",
          '[plugins."io.containerd.grpc.v1.cri".containerd]',
          'default_runtime_name = "runc"',
          '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
          'runtime_type = "io.containerd.runc.v2"',
          '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
          "SystemdCgroup = true",
        ].join("\n"),
      );
      expectFailure(
        await cli(["--config", containerd, "ps"]),
        EXIT_INVALID_ARGUMENT,
        /^shimkit: config ".*containerd\.toml": plugins: a containerd setting: .*shimkit config migrate FILE/,
      );
      const m = await cli(["config", "migrate", containerd]);
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stderr, /level=warn msg="root: \\"\/var\/lib\/containerd\\" is containerd's own dir/);
      assert.match(
        m.stderr,
        /plugins\.\\"io\.containerd\.grpc\.v1\.cri\\": the CRI settings have no equivalent/,
      );
      const migrated = join(dir, "shimkit.toml");
      await writeFile(migrated, m.stdout);
      const d = await cli(["--config", migrated, "config", "dump", "--json"]);
      assert.equal(d.code, 0, d.stderr);
      const dumped = JSON.parse(d.stdout);
      assert.equal(dumped.debug, true);
      assert.equal(dumped.defaultRuntime, "io.containerd.runc.v2");
      assert.deepEqual(dumped.shim.env, ["SCHED_CORE=1"]);
      assert.deepEqual(dumped.runtimes["io.containerd.runc.v2"].options, { SystemdCgroup: true });
      assert.notEqual(dumped.root, "/var/lib/containerd", "containerd's root is not shimkit's");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("config default --json prints the defaults as JSON", async () => {
    const r = await cli(["config", "default", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).defaultRuntime, "io.containerd.runc.v2");
  });

  const runtimes: Array<[string, string, number, RegExp]> = [
    ["a runtime name without dots", "nodots", EXIT_INVALID_ARGUMENT, /invalid runtime "nodots"/],
    [
      "a relative runtime path",
      "bin/containerd-shim-runc-v2",
      EXIT_INVALID_ARGUMENT,
      /invalid runtime "bin\//,
    ],
    [
      "a runtime path that does not exist",
      "/nonexistent/shim",
      EXIT_NOT_FOUND,
      /"\/nonexistent\/shim" does not exist/,
    ],
    [
      "an unknown runtime name",
      "io.containerd.nope.v1",
      EXIT_NOT_FOUND,
      /binary "containerd-shim-nope-v1" not found in PATH/,
    ],
  ];
  for (const [name, runtime, code, message] of runtimes) {
    it(`run with ${name} fails before creating anything`, async () => {
      const r = await cli(["run", "--rm", "--runtime", runtime, uniqueId("rt"), "--", "true"]);
      expectFailure(r, code, new RegExp(`^shimkit: resolve runtime "${runtime.replaceAll(".", "\\.")}": `));
      assert.match(r.stderr, message);
      assert.ok(await isEmpty(s.state), "nothing in the state dir");
      assert.ok(await isEmpty(s.root), "nothing in the root dir");
    });
  }
});

describe("cli usage: relative --state and --root", () => {
  let dir = "";
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const runtime of [FAKE, "io.containerd.runc.v2"]) {
    it(`run on ${runtime} with a state dir too long for the events socket fails creating nothing`, async () => {
      const base = await mkdtemp(join(tmpdir(), "sk-long-"));
      try {
        const state = join(base, "s".repeat(110));
        const r = await runCli([
          "--state",
          state,
          "--root",
          join(base, "root"),
          "run",
          "--rm",
          "--runtime",
          runtime,
          "c1",
          "true",
        ]);
        expectFailure(
          r,
          EXIT_INVALID_ARGUMENT,
          /socket path ".*\/events\.sock" is \d+ bytes: the limit is 107; use a shorter state dir/,
        );
        assert.deepEqual(
          await readdir(base),
          [],
          "neither the state dir nor the root (busybox rootfs) was created",
        );
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    });
  }

  it("relative --state and --root are made absolute against the working directory", async () => {
    dir = await mkdtemp(join(tmpdir(), "sk-us-"));
    const r = await runCli(["--state", "st", "--root", "rt", "config", "dump", "--json"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const c = JSON.parse(r.stdout);
    assert.equal(c.state, join(dir, "st"));
    assert.equal(c.root, join(dir, "rt"));
  });
});

describe("cli usage: container state mistakes (embedded fake shim)", () => {
  let s: TempState;
  const ids: string[] = [];
  after(async () => {
    if (!s) return;
    if (ids.length > 0) await cli(["delete", "--force", ...ids]).catch(() => {});
    await s.cleanup();
  });
  const cli = async (args: string[]) => {
    s ??= await tempState("sk-us-");
    return await runCli(["--state", s.state, "--root", s.root, ...args]);
  };

  it("run takes a command with its own flags without --", async () => {
    const r = await cli(["run", "--rm", "--runtime", FAKE, uniqueId("sh"), "sh", "-c", "echo hi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
  });

  it("delete of a running container asks for kill or --force; start of a running or stopped one is refused", async () => {
    const c = uniqueId("pre");
    ids.push(c);
    const d = await cli(["run", "-d", "--runtime", FAKE, c, "--", "sleep", "1000"]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, `${c}\n`);
    assert.equal(d.stderr, "", "--runtime given: the runtime choice is logged at debug only");
    expectFailure(
      await cli(["delete", c]),
      EXIT_FAILED_PRECONDITION,
      new RegExp(
        `^shimkit: delete "${c}": container is running: stop it first \\(shimkit kill ${c}\\) or use --force\\n$`,
      ),
    );
    expectFailure(
      await cli(["start", c]),
      EXIT_FAILED_PRECONDITION,
      new RegExp(`^shimkit: start "${c}": container is running: only a created container can be started\\n$`),
    );
    expectFailure(
      await cli(["run", "-d", "--runtime", FAKE, c, "--", "true"]),
      EXIT_ALREADY_EXISTS,
      /already exists/,
    );
    assert.equal((await cli(["kill", "--signal", "KILL", c])).code, 0);
    const w = await cli(["wait", c]);
    assert.equal(w.code, 137, w.stderr);
    assert.equal(w.stdout, "137\n");
    const again = await cli(["wait", c]);
    assert.equal(again.code, 137, "wait on a stopped container passes its status through again");
    expectFailure(
      await cli(["start", c]),
      EXIT_FAILED_PRECONDITION,
      /container is stopped: only a created container/,
    );
    const del = await cli(["delete", c]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, `${c}\n`);
    ids.pop();
  });

  it("start -a of a container created with -i -t needs a terminal on stdin; the container stays created", async () => {
    const c = uniqueId("it");
    ids.push(c);
    const cr = await cli(["create", "-i", "-t", "--runtime", FAKE, c, "--", "sh"]);
    assert.equal(cr.code, 0, cr.stderr);
    expectFailure(
      await cli(["start", "-a", c]),
      EXIT_USAGE,
      new RegExp(
        `^shimkit: start -a "${c}" \\(created with -i and -t\\): -i with -t needs a terminal on stdin`,
      ),
    );
    const st = await cli(["state", "--json", c]);
    assert.equal(JSON.parse(st.stdout).status, "created");
    assert.equal((await cli(["delete", c])).code, 0);
    ids.pop();
  });

  it("a bundle that is a symlink is refused by delete --force, state and kill, and what it points at is untouched", async () => {
    s ??= await tempState("sk-us-");
    const elsewhere = await mkdtemp(join(tmpdir(), "sk-elsewhere-"));
    const link = join(s.state, "default", "evil");
    try {
      await mkdir(join(elsewhere, "rootfs"));
      await writeFile(
        join(elsewhere, "bootstrap.json"),
        '{"version":2,"protocol":"ttrpc","address":"unix:///nonexistent.sock"}',
      );
      await mkdir(join(s.state, "default"), { recursive: true });
      await symlink(elsewhere, link);
      for (const args of [["delete", "--force", "evil"], ["state", "evil"], ["kill", "evil"]]) {
        expectFailure(
          await cli(args),
          EXIT_FAILED_PRECONDITION,
          /^shimkit: (delete task "default\/evil": )?load task "default\/evil": load bundle "default\/evil": "[^"]+\/default\/evil" is a symbolic link, not a bundle directory\n$/,
        );
      }
      assert.deepEqual((await readdir(elsewhere)).sort(), ["bootstrap.json", "rootfs"]);
      assert.ok((await lstat(link)).isSymbolicLink(), "the link itself is left for its owner");
    } finally {
      await rm(link, { force: true });
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  for (const command of ["kill", "state", "delete", "wait", "pids", "start"]) {
    it(`${command} on an unknown id is not found`, async () => {
      expectFailure(await cli([command, "nope"]), EXIT_NOT_FOUND, /^shimkit: .*"default\/nope" not found/);
    });
  }
});
