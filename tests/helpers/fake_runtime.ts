/**
 * Makes the fake shim resolvable as `io.containerd.fake.v2` (and the legacy
 * `io.containerd.fake.v1`) for a TaskManager in a test, without installing
 * anything: a temp bin dir holds `containerd-shim-fake-v2` and
 * `containerd-shim-fake-v1`, either symlinks to `$SHIMKIT_BIN` (the compiled
 * binary picks its flavour from the program name) or small `sh` wrappers that
 * run `src/cli/main.ts fake-shim` under the runtime running the test (so the
 * fake is exercised under Deno by `deno test` and under Bun by `bun test`).
 *
 * @module
 */

import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import { createRuntimeResolver, type RuntimeResolver } from "../../src/runtime/resolve.ts";
import { REPO_ROOT } from "./cli.ts";

/** Runtime name of the fake shim's v2 flavour. */
export const FAKE_V2 = "io.containerd.fake.v2";
/** Runtime name of the fake shim's legacy v1 flavour (a `containerd-shim`, not a v2 shim). */
export const FAKE_V1 = "io.containerd.fake.v1";
/** Binary name of the v2 flavour. */
export const FAKE_V2_BINARY = "containerd-shim-fake-v2";
/** Binary name of the v1 flavour. */
export const FAKE_V1_BINARY = "containerd-shim-fake-v1";

/**
 * The argv prefix that runs the fake shim: `[$SHIMKIT_BIN, "fake-shim"]`, else
 * the current runtime on the CLI entry (`deno run -A --no-check main.ts
 * fake-shim` under Deno, `bun main.ts fake-shim` under Bun).
 *
 * @returns the command and its leading arguments
 */
export function fakeShimCommand(): string[] {
  const bin = process.env.SHIMKIT_BIN;
  if (bin) return [isAbsolute(bin) ? bin : join(REPO_ROOT, bin), "fake-shim"];
  const main = join(REPO_ROOT, "src", "cli", "main.ts");
  const exe = process.execPath;
  if (basename(exe).startsWith("deno")) return [exe, "run", "-A", "--no-check", main, "fake-shim"];
  return [exe, main, "fake-shim"];
}

/** A bin dir with the fake shim under its runtime binary names. */
export interface FakeRuntime extends AsyncDisposable {
  /** The temp dir holding `bin/`. */
  dir: string;
  /** The directory holding `containerd-shim-fake-v2` and `containerd-shim-fake-v1`. */
  binDir: string;
  /** Absolute path of the v2 binary (pass it as `runtime` to skip name resolution). */
  v2: string;
  /** Absolute path of the v1 binary. */
  v1: string;
  /** A PATH value with {@link FakeRuntime.binDir} first. */
  path: string;
  /** A resolver that finds the fake runtimes (bin dir only: a real shim on PATH is never picked). */
  resolver: RuntimeResolver;
  /** Removes the temp dir; idempotent. Same as disposal. */
  cleanup(): Promise<void>;
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

async function writeEntry(binDir: string, name: string, flavour: "v1" | "v2"): Promise<string> {
  const path = join(binDir, name);
  const bin = process.env.SHIMKIT_BIN;
  if (bin) {
    // The compiled binary reads its flavour from argv0, which a symlink keeps.
    await symlink(isAbsolute(bin) ? bin : join(REPO_ROOT, bin), path);
    return path;
  }
  const cmd = [...fakeShimCommand(), ...(flavour === "v1" ? ["--flavour", "v1"] : [])].map(quote).join(" ");
  await writeFile(path, `#!/bin/sh\nexec ${cmd} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

/**
 * Creates a temp bin dir with the fake shim's v2 and v1 binaries and a
 * resolver for it.
 *
 * @param prefix temp dir name prefix
 * @returns the bin dir, binary paths, PATH value and resolver; dispose it when done
 * @example
 * ```ts
 * await using fake = await fakeRuntime();
 * const tm = await TaskManager.open({ state, root, resolver: fake.resolver });
 * await tm.create({ namespace: "default", id: "c1", runtime: FAKE_V2, spec });
 * ```
 */
export async function fakeRuntime(prefix = "sk-fb-"): Promise<FakeRuntime> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const binDir = join(dir, "bin");
  try {
    await mkdir(binDir);
    const v2 = await writeEntry(binDir, FAKE_V2_BINARY, "v2");
    const v1 = await writeEntry(binDir, FAKE_V1_BINARY, "v1");
    let done: Promise<void> | undefined;
    const cleanup = () => (done ??= rm(dir, { recursive: true, force: true }));
    return {
      dir,
      binDir,
      v2,
      v1,
      path: `${binDir}:${process.env.PATH ?? ""}`,
      resolver: createRuntimeResolver({ path: binDir }),
      cleanup,
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
