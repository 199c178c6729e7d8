/**
 * `shimkit config default|dump|migrate [FILE]`: print the commented default
 * config, the effective config (file + environment + flags), or a file
 * migrated to the current version (warnings on stderr): an older shimkit file,
 * or a containerd `config.toml` (see `config/containerd.ts`).
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import { stringify } from "smol-toml";
import {
  defaultConfig,
  defaultConfigText,
  formatConfig,
  parseConfig,
  parseToml,
} from "../../config/config.ts";
import { DEFAULT_CONFIG_PATH } from "../../config/load.ts";
import { adoptContainerdConfig } from "../../config/containerd.ts";
import { migrateConfigTable } from "../../config/migrate.ts";
import { fromErrno, InvalidArgumentError, NotFoundError } from "../../errors.ts";
import type { CommandContext } from "../context.ts";
import { EXIT_OK, UsageError } from "../exit_codes.ts";
import { printJson } from "../output.ts";
import { parseFlags } from "./_args.ts";

const USAGE = `usage: shimkit config default | dump | migrate [FILE|-] [--json]

  default          print the default config, commented (--json: the defaults as JSON)
  dump             print the effective config: file, environment and flags applied
  migrate [FILE]   print FILE (default: the config in use; - reads stdin) rewritten for
                   this version; a containerd config.toml keeps its runtimes, shim timeouts
                   and debug level; what is dropped is listed on stderr`;

/**
 * Runs `shimkit config`.
 *
 * @param args `default`, `dump`, or `migrate [FILE]` (`-` reads stdin; default: the config in use)
 * @param ctx the command context
 * @returns 0
 * @throws UsageError for a missing or unknown subcommand
 * @throws NotFoundError when the file to migrate does not exist
 * @throws InvalidArgumentError when it is not valid TOML or not valid after migration
 */
export async function main(args: string[], ctx: CommandContext): Promise<number> {
  const { positionals, values } = parseFlags("config", args, { help: { type: "boolean", short: "h" } });
  if (values.help) {
    ctx.stdout(USAGE + "\n");
    return EXIT_OK;
  }
  const [sub, file, ...extra] = positionals;
  if (extra.length > 0 || (file !== undefined && sub !== "migrate")) {
    throw new UsageError(`config: too many arguments\n${USAGE}`);
  }
  switch (sub) {
    case "default":
      if (ctx.global.json) printJson(ctx, defaultConfig());
      else ctx.stdout(defaultConfigText());
      return EXIT_OK;
    case "dump": {
      const config = ctx.config ?? defaultConfig();
      if (ctx.global.json) printJson(ctx, config);
      else ctx.stdout(formatConfig(config));
      return EXIT_OK;
    }
    case "migrate": {
      const path = file ?? ctx.global.config;
      if (path === undefined && !(await exists(DEFAULT_CONFIG_PATH))) {
        throw new NotFoundError(
          `config migrate: no FILE given and no config file at "${DEFAULT_CONFIG_PATH}" (pass FILE, or - for stdin)`,
        );
      }
      return await migrate(path ?? DEFAULT_CONFIG_PATH, ctx);
    }
    case undefined:
      throw new UsageError(`config: missing subcommand: want default, dump or migrate\n${USAGE}`);
    default:
      throw new UsageError(`config: unknown subcommand "${sub}": want default, dump or migrate\n${USAGE}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

async function migrate(file: string, ctx: CommandContext): Promise<number> {
  let text: string;
  const source = file === "-" ? "<stdin>" : file;
  if (file === "-") text = new TextDecoder().decode(await ctx.stdin());
  else {
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw fromErrno(e, `read config "${file}"`);
    }
  }
  let result;
  try {
    result = migrateConfigTable(parseToml(text, source));
  } catch (e) {
    if (e instanceof InvalidArgumentError && !e.message.startsWith("config ")) {
      throw new InvalidArgumentError(`config "${source}": ${e.message}`, { cause: e });
    }
    throw e;
  }
  // A containerd config.toml: what shimkit has too is carried over, the rest dropped with a warning.
  const adopted = adoptContainerdConfig(result.table);
  const out = stringify(adopted.table).trimEnd() + "\n";
  parseConfig(out, `${source} (migrated)`);
  for (const w of [...result.warnings, ...adopted.warnings]) ctx.logger.warn(w, { config: source });
  if (ctx.global.json) printJson(ctx, adopted.table);
  else ctx.stdout(out);
  return EXIT_OK;
}
