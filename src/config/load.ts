/**
 * Reading the config file from disk; the parsing and validation are pure and
 * live in `config.ts`.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { fromErrno, isNotFound } from "../errors.ts";
import { defaultConfig, parseConfig, type ParsedConfig } from "./config.ts";

/** Where shimkit looks for a config file when none is named. */
export const DEFAULT_CONFIG_PATH = "/etc/shimkit/config.toml";

/**
 * Reads and validates a config file.
 *
 * @param path the file to read
 * @returns the config, migration warnings and the file's original version
 * @throws NotFoundError when the file does not exist (`read config "<path>": ...`)
 * @throws InvalidArgumentError for syntax errors and bad values (see {@link parseConfig})
 */
export async function loadConfig(path: string): Promise<ParsedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw fromErrno(e, `read config "${path}"`);
  }
  return parseConfig(text, path);
}

/**
 * Loads the config the CLI should use: the named file (which must exist), or
 * {@link DEFAULT_CONFIG_PATH} when it exists, else the defaults.
 *
 * @param path a file named by `--config` or `SHIMKIT_CONFIG`, if any
 * @returns the parsed config and the path it came from (undefined for built-in defaults)
 * @throws NotFoundError when a named file is missing
 * @throws InvalidArgumentError for invalid content
 */
export async function loadConfigOrDefault(path?: string): Promise<ParsedConfig & { path?: string }> {
  if (path !== undefined) return { ...(await loadConfig(path)), path };
  try {
    return { ...(await loadConfig(DEFAULT_CONFIG_PATH)), path: DEFAULT_CONFIG_PATH };
  } catch (e) {
    if (!isNotFound(e)) throw e;
    return { config: defaultConfig(), warnings: [], sourceVersion: 3 };
  }
}
