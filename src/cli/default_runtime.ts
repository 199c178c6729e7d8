/**
 * Which runtime a command uses when none is named. The config's
 * `default_runtime` (default `io.containerd.runc.v2`) wins, except that when it
 * is the runc runtime and no runc shim can be found, the CLI falls back to the
 * embedded fake shim (`io.containerd.fake.v2`) so `shimkit run` works on a
 * machine without containerd's shims. A runtime named on the command line is
 * never replaced.
 *
 * @module
 */

import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Config, FAKE_RUNTIME, RUNC_RUNTIME } from "../config/config.ts";

/** The runc shim's binary name (`io.containerd.runc.v2` → `containerd-shim-runc-v2`). */
export const RUNC_SHIM_BINARY = "containerd-shim-runc-v2";

/** The outcome of {@link chooseRuntime}. */
export interface RuntimeChoice {
  /** The runtime name to use. */
  runtime: string;
  /** True when the runc default was replaced by the embedded fake shim. */
  fellBack: boolean;
}

/**
 * Decides the runtime (pure).
 *
 * @param requested the runtime named on the command line (`--runtime`), if any
 * @param configured the config's `default_runtime`
 * @param runcAvailable whether a runc shim binary was found
 * @returns the runtime and whether it is the fallback
 */
export function chooseRuntime(
  requested: string | undefined,
  configured: string,
  runcAvailable: boolean,
): RuntimeChoice {
  if (requested) return { runtime: requested, fellBack: false };
  if (configured === RUNC_RUNTIME && !runcAvailable) return { runtime: FAKE_RUNTIME, fellBack: true };
  return { runtime: configured, fellBack: false };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Looks for the runc shim the way the resolver would: the configured `path`
 * for `io.containerd.runc.v2`, else `containerd-shim-runc-v2` in `PATH` or
 * beside the running executable.
 *
 * @param config the effective config
 * @param env the environment (for `PATH`)
 * @param selfPath the running executable (default `process.execPath`)
 * @returns true when an executable runc shim exists
 */
export async function runcShimAvailable(
  config: Pick<Config, "runtimes">,
  env: Record<string, string | undefined>,
  selfPath: string = process.execPath,
): Promise<boolean> {
  const configured = config.runtimes[RUNC_RUNTIME]?.path;
  if (configured) return await isExecutable(configured);
  const dirs = (env.PATH ?? "").split(":").filter((d) => d !== "");
  dirs.push(dirname(selfPath));
  for (const dir of dirs) {
    if (await isExecutable(join(dir, RUNC_SHIM_BINARY))) return true;
  }
  return false;
}

/**
 * Picks the runtime for a command: the requested one, else the configured
 * default, falling back to the embedded fake shim when that default is runc
 * and no runc shim is installed.
 *
 * @param requested the runtime named on the command line, if any
 * @param config the effective config
 * @param env the environment
 * @returns the runtime and whether it is the fallback (callers should log a notice when it is)
 */
export async function resolveDefaultRuntime(
  requested: string | undefined,
  config: Pick<Config, "runtimes" | "defaultRuntime">,
  env: Record<string, string | undefined>,
): Promise<RuntimeChoice> {
  if (requested) return chooseRuntime(requested, config.defaultRuntime, true);
  if (config.defaultRuntime !== RUNC_RUNTIME) return chooseRuntime(undefined, config.defaultRuntime, true);
  return chooseRuntime(undefined, config.defaultRuntime, await runcShimAvailable(config, env));
}
