/**
 * The shimkit version, read from package.json at build time (the bundler
 * inlines it). Light: `shimkit --version` imports only this.
 *
 * @module
 */

import pkg from "../../package.json" with { type: "json" };

/** The shimkit release version, e.g. `0.1.0`. */
export const VERSION: string = pkg.version;

/**
 * The JavaScript runtime executing shimkit, from the standard
 * `navigator.userAgent` (e.g. `Bun/1.4.5`, `Deno/2.9.6`).
 *
 * @returns the runtime's name and version, or `unknown`
 */
export function runtimeVersion(): string {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
  return ua ? ua.split(" ")[0] : "unknown";
}
