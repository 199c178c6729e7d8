import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { createRuntimeResolver } from "./resolve.ts";

describe("createRuntimeResolver()", () => {
  let dir = "";
  let bin1 = "", bin2 = "", self = "", cwdDir = "", noexec = "";

  async function fakeExe(path: string, mode = 0o755): Promise<void> {
    await writeFile(path, "#!/bin/sh\nexit 0\n");
    await chmod(path, mode);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "shimkit-resolve-"));
    [bin1, bin2, self, cwdDir, noexec] = ["bin1", "bin2", "self", "cwd", "noexec"].map((d) => join(dir, d));
    for (const d of [bin1, bin2, self, cwdDir, noexec]) await mkdir(d);
    await fakeExe(join(bin2, "containerd-shim-runc-v2"));
    await fakeExe(join(self, "containerd-shim-fake-v1"));
    await fakeExe(join(self, "containerd-shim-runc-v2"));
    await fakeExe(join(cwdDir, "containerd-shim-cwd-v1"));
    await fakeExe(join(noexec, "containerd-shim-runc-v2"), 0o644);
    await mkdir(join(bin1, "containerd-shim-dir-v1"));
    await fakeExe(join(bin2, "containerd-shim-dir-v1"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: Array<{
    name: string;
    runtime: string;
    path?: (d: Record<string, string>) => string;
    runtimes?: (d: Record<string, string>) => Record<string, string>;
    extra?: (d: Record<string, string>) => string[];
    self?: boolean;
    want?: (d: Record<string, string>) => string;
    error?: [new (...a: never[]) => Error, RegExp];
  }> = [
    {
      name: "finds a binary in PATH, in PATH order",
      runtime: "io.containerd.runc.v2",
      path: (d) => `${d.noexec}:${d.bin1}:${d.bin2}`,
      self: true,
      want: (d) => join(d.bin2, "containerd-shim-runc-v2"),
    },
    {
      name: "skips a directory with the binary's name",
      runtime: "io.containerd.dir.v1",
      path: (d) => `${d.bin1}:${d.bin2}`,
      want: (d) => join(d.bin2, "containerd-shim-dir-v1"),
    },
    {
      name: "falls back to beside the running executable",
      runtime: "io.containerd.fake.v1",
      path: (d) => `${d.bin1}:${d.bin2}`,
      self: true,
      want: (d) => join(d.self, "containerd-shim-fake-v1"),
    },
    {
      name: "searches extra directories after PATH and before the executable's directory",
      runtime: "io.containerd.cwd.v1",
      path: (d) => d.bin1,
      extra: (d) => ["relative/ignored", d.cwd],
      self: true,
      want: (d) => join(d.cwd, "containerd-shim-cwd-v1"),
    },
    {
      name: "lists extra directories when not found",
      runtime: "io.containerd.x.v2",
      path: (d) => d.bin1,
      extra: (d) => [d.bin2],
      error: [NotFoundError, /not found in PATH \(.*bin1\), in .*bin2$/],
    },
    {
      name: "prefers the configured table over PATH",
      runtime: "io.containerd.runc.v2",
      path: (d) => d.bin2,
      runtimes: (d) => ({ "io.containerd.runc.v2": join(d.self, "containerd-shim-runc-v2") }),
      want: (d) => join(d.self, "containerd-shim-runc-v2"),
    },
    {
      name: "uses an absolute path as-is",
      runtime: "ABS",
      want: (d) => join(d.cwd, "containerd-shim-cwd-v1"),
    },
    {
      name: "never searches the current directory, even for '.' or empty PATH entries",
      runtime: "io.containerd.cwd.v1",
      path: (d) => `:.:${d.bin1}:`,
      error: [NotFoundError, /binary "containerd-shim-cwd-v1" not found in PATH \(.*bin1\)$/],
    },
    {
      name: "lists every place searched when not found",
      runtime: "io.containerd.x.v2",
      path: (d) => `${d.bin1}:${d.bin2}`,
      self: true,
      error: [
        NotFoundError,
        /^resolve runtime "io\.containerd\.x\.v2": binary "containerd-shim-x-v2" not found in PATH \(.*bin1:.*bin2\) or beside shimkit \(.*self\)$/,
      ],
    },
    {
      name: "rejects a missing absolute path",
      runtime: "/nonexistent/containerd-shim-runc-v2",
      error: [
        NotFoundError,
        /^resolve runtime "\/nonexistent\/containerd-shim-runc-v2": binary .* does not exist$/,
      ],
    },
    {
      name: "rejects an absolute path that is a directory",
      runtime: "ABSDIR",
      error: [FailedPreconditionError, /is not a regular file$/],
    },
    {
      name: "rejects an absolute path without the x bit",
      runtime: "ABSNOEXEC",
      error: [FailedPreconditionError, /is not executable$/],
    },
    {
      name: "rejects a relative path",
      runtime: "bin/containerd-shim-runc-v2",
      error: [
        InvalidArgumentError,
        /an absolute path to a shim binary or a dotted name like io\.containerd\.runc\.v2/,
      ],
    },
    {
      name: "rejects a configured entry that does not exist",
      runtime: "io.containerd.runc.v2",
      path: (d) => d.bin2,
      runtimes: () => ({ "io.containerd.runc.v2": "/nonexistent/shim" }),
      error: [NotFoundError, /configured binary "\/nonexistent\/shim" does not exist/],
    },
  ];

  for (const tc of cases) {
    it(`resolve() ${tc.name}`, async () => {
      const d = { bin1, bin2, self, cwd: cwdDir, noexec };
      const runtime = tc.runtime === "ABS"
        ? join(cwdDir, "containerd-shim-cwd-v1")
        : tc.runtime === "ABSDIR"
        ? bin1
        : tc.runtime === "ABSNOEXEC"
        ? join(noexec, "containerd-shim-runc-v2")
        : tc.runtime;
      const r = createRuntimeResolver({
        path: tc.path?.(d) ?? "",
        selfDir: tc.self ? self : undefined,
        runtimes: tc.runtimes?.(d),
        extraPaths: tc.extra?.(d),
      });
      if (tc.want) {
        assert.equal(await r.resolve(runtime), tc.want(d));
      } else {
        const [cls, re] = tc.error!;
        await assert.rejects(r.resolve(runtime), (e: unknown) => {
          assert.ok(e instanceof cls, `want ${cls.name}, got ${e}`);
          assert.match((e as Error).message, re);
          return true;
        });
      }
    });
  }

  it("resolve() searches past a PATH directory it may not search, and names it when nothing is found", async () => {
    // Root searches every directory, so EACCES (another user's ~/bin in an inherited PATH) is injected.
    const locked = join(dir, "locked");
    const stat2 = (p: string) => {
      if (p.startsWith(locked + "/")) {
        return Promise.reject(
          Object.assign(new Error(`EACCES: permission denied, stat '${p}'`), { code: "EACCES" }),
        );
      }
      return stat(p);
    };
    const r = createRuntimeResolver({ path: `${locked}:${bin2}`, stat: stat2 });
    assert.equal(await r.resolve("io.containerd.runc.v2"), join(bin2, "containerd-shim-runc-v2"));
    await assert.rejects(r.resolve("io.containerd.x.v2"), (e: unknown) => {
      assert.ok(e instanceof NotFoundError, String(e));
      assert.match(
        (e as Error).message,
        /not found in PATH \(.*locked:.*bin2\); could not search .*locked \(permission denied\)$/,
      );
      return true;
    });
    // A path the user named is still an error of its own kind.
    await assert.rejects(r.resolve(join(locked, "containerd-shim-runc-v2")), (e: unknown) => {
      assert.match((e as Error).message, /EACCES/);
      return !(e instanceof NotFoundError);
    });
  });

  it("resolve() caches successes and retries failures", async () => {
    let calls = 0;
    const r = createRuntimeResolver({
      path: bin2,
      stat: (p) => {
        calls++;
        return stat(p);
      },
    });
    const a = await r.resolve("io.containerd.runc.v2");
    const b = await r.resolve("io.containerd.runc.v2");
    assert.equal(a, b);
    assert.equal(calls, 1);
    await assert.rejects(r.resolve("io.containerd.late.v1"), NotFoundError);
    await fakeExe(join(bin2, "containerd-shim-late-v1"));
    assert.equal(await r.resolve("io.containerd.late.v1"), join(bin2, "containerd-shim-late-v1"));
    r.clear();
    await r.resolve("io.containerd.runc.v2");
    assert.ok(calls > 2);
  });
});
