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

import { dirname } from "node:path";
import { createRuntimeResolver } from "../runtime/resolve.ts";
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

/**
 * Looks for the runc shim with the resolver itself (so with its rules: absolute
 * PATH entries only, regular executable files only): the configured `path`
 * for `io.containerd.runc.v2`, else `containerd-shim-runc-v2` in `PATH` or
 * beside the running executable.
 *
 * @param config the effective config
 * @param env the environment (for `PATH`)
 * @param selfPath the running executable (default `process.execPath`)
 * @returns true when the resolver finds a usable runc shim
 */
export async function runcShimAvailable(
  config: Pick<Config, "runtimes">,
  env: Record<string, string | undefined>,
  selfPath: string = process.execPath,
): Promise<boolean> {
  const configured = config.runtimes[RUNC_RUNTIME]?.path;
  const resolver = createRuntimeResolver({
    path: env.PATH,
    selfDir: dirname(selfPath),
    runtimes: configured ? { [RUNC_RUNTIME]: configured } : {},
  });
  return await resolver.resolve(RUNC_RUNTIME).then(() => true, () => false);
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
