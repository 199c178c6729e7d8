/**
 * A containerd `config.toml` turned into a shimkit config, for `shimkit
 * config migrate` (pure: works on parsed TOML tables, after containerd's own
 * version migration in `migrate.ts`). What containerd configures that shimkit
 * has too is carried over; everything else is dropped with one warning per
 * key, so the output loads and the user sees what was left out:
 *
 * - the CRI plugin's runtimes (`plugins."io.containerd.grpc.v1.cri".containerd.runtimes`, or
 *   `plugins."io.containerd.cri.v1.runtime"…` in version 3 files) become `[runtimes."<runtime_type>"]`
 *   with their `runtime_path` as `path` and their `options`, and `default_runtime_name` names the
 *   `default_runtime`;
 * - the shim timeouts `io.containerd.timeout.shim.{cleanup,load,shutdown}` become `timeouts.*`;
 * - `[debug] level = "debug"` (or `"trace"`) becomes `debug = true`: containerd starts shims with
 *   `-debug` at that level;
 * - `root` and `state` are containerd's own daemon dirs, and shimkit keeps its containers apart
 *   from containerd's (its loaders and `gc` must never walk containerd's dirs), so they are dropped.
 *
 * A table counts as a containerd config when it has a key only containerd has (`plugins`, `grpc`,
 * …), a `[debug]` table or a containerd timeout key; a shimkit file is returned as it is.
 *
 * @module
 */

/** Top-level keys of containerd's config that shimkit's config does not have. */
export const CONTAINERD_ONLY_KEYS: readonly string[] = [
  "plugins",
  "grpc",
  "ttrpc",
  "metrics",
  "cgroup",
  "temp",
  "plugin_dir",
  "disabled_plugins",
  "required_plugins",
  "oom_score",
  "imports",
  "stream_processors",
  "proxy_plugins",
];

/** containerd's shim timeouts and the shimkit `timeouts` keys they become. */
const SHIM_TIMEOUTS: Readonly<Record<string, string>> = {
  "io.containerd.timeout.shim.cleanup": "cleanup",
  "io.containerd.timeout.shim.load": "load",
  "io.containerd.timeout.shim.shutdown": "shutdown",
};

/** The plugins whose `containerd.runtimes` table lists the CRI runtime handlers (1.x/2.x). */
const CRI_PLUGINS: readonly string[] = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime"];

/** What a CRI runtime handler has that a shimkit runtime entry keeps. */
const HANDLER_KEYS: readonly string[] = ["runtime_type", "runtime_path", "options"];

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const q = JSON.stringify;

/**
 * Whether a parsed config is containerd's rather than shimkit's (see the module doc).
 *
 * @param table parsed TOML
 * @returns the first key that only a containerd config has (e.g. `plugins`), or undefined for a
 *   shimkit config
 */
export function containerdKeyOf(table: Table): string | undefined {
  const only = CONTAINERD_ONLY_KEYS.find((k) => k in table);
  if (only !== undefined) return only;
  if (isTable(table.debug)) return "debug";
  const timeout = isTable(table.timeouts)
    ? Object.keys(table.timeouts).find((k) => k.startsWith("io.containerd."))
    : undefined;
  return timeout === undefined ? undefined : `timeouts.${q(timeout)}`;
}

/** Result of {@link adoptContainerdConfig}. */
export interface AdoptResult {
  /** The shimkit table (the input itself when it was not a containerd config). */
  table: Table;
  /** One line per key that was dropped or could not be carried over. */
  warnings: string[];
}

/**
 * Turns a containerd config into a shimkit config (see the module doc).
 *
 * @param table parsed TOML, after `migrateConfigTable` (not modified)
 * @returns the shimkit table and the warnings
 * @example
 * ```ts
 * const r = adoptContainerdConfig({
 *   version: 3,
 *   plugins: { "io.containerd.grpc.v1.cri": { containerd: { default_runtime_name: "runc", runtimes: {
 *     runc: { runtime_type: "io.containerd.runc.v2", options: { SystemdCgroup: true } } } } } },
 * });
 * // r.table: { version: 3, default_runtime: "io.containerd.runc.v2",
 * //            runtimes: { "io.containerd.runc.v2": { options: { SystemdCgroup: true } } } }
 * ```
 */
export function adoptContainerdConfig(table: Table): AdoptResult {
  if (containerdKeyOf(table) === undefined) return { table, warnings: [] };
  const out: Table = structuredClone(table);
  const warnings: string[] = [];

  for (const key of ["root", "state"]) {
    if (out[key] === undefined) continue;
    warnings.push(
      `${key}: ${
        q(out[key])
      } is containerd's own dir; shimkit keeps its containers apart from containerd's, dropped`,
    );
    delete out[key];
  }

  if (isTable(out.debug)) {
    const level = out.debug.level;
    if (level === "debug" || level === "trace") out.debug = true;
    else {
      delete out.debug;
      warnings.push(
        `debug: containerd's daemon log settings; only level "debug" maps (to debug = true), dropped`,
      );
    }
  }

  if (isTable(out.timeouts)) {
    const timeouts: Table = {};
    for (const [k, v] of Object.entries(out.timeouts)) {
      const ours = SHIM_TIMEOUTS[k] ?? (k.startsWith("io.containerd.") ? undefined : k);
      if (ours === undefined) warnings.push(`timeouts.${q(k)}: not a shim timeout, dropped`);
      else timeouts[ours] = v;
    }
    if (Object.keys(timeouts).length > 0) out.timeouts = timeouts;
    else delete out.timeouts;
  }

  const plugins = isTable(out.plugins) ? out.plugins : {};
  for (const [name, plugin] of Object.entries(plugins)) {
    const dropped = `plugins.${q(name)}`;
    if (CRI_PLUGINS.includes(name) && isTable(plugin)) {
      adoptCriRuntimes(out, plugin, dropped, warnings);
      warnings.push(
        `${dropped}: the CRI settings have no equivalent (its runtimes were carried over), dropped`,
      );
    } else {
      warnings.push(`${dropped}: no equivalent in shimkit, dropped`);
    }
  }
  for (const key of CONTAINERD_ONLY_KEYS) {
    if (!(key in out)) continue;
    if (key !== "plugins") warnings.push(`${key}: a containerd daemon setting, dropped`);
    delete out[key];
  }
  return { table: out, warnings };
}

/** Carries a CRI plugin's runtime handlers over to `runtimes` and `default_runtime`. */
function adoptCriRuntimes(out: Table, plugin: Table, where: string, warnings: string[]): void {
  const containerd = isTable(plugin.containerd) ? plugin.containerd : {};
  const handlers = isTable(containerd.runtimes) ? containerd.runtimes : {};
  const runtimes: Table = isTable(out.runtimes) ? out.runtimes : {};
  const defaultName = typeof containerd.default_runtime_name === "string"
    ? containerd.default_runtime_name
    : undefined;
  // The default handler first: it wins when two handlers share a runtime type.
  const names = Object.keys(handlers).sort((a, b) => Number(b === defaultName) - Number(a === defaultName));
  const fromHandler = new Map<string, string>();
  for (const handler of names) {
    const h = handlers[handler];
    const at = `${where}.containerd.runtimes.${q(handler)}`;
    if (!isTable(h) || typeof h.runtime_type !== "string" || !isRuntimeName(h.runtime_type)) {
      warnings.push(`${at}: no runtime_type like "io.containerd.runc.v2", dropped`);
      continue;
    }
    const type = h.runtime_type;
    const ignored = Object.keys(h).filter((k) => !HANDLER_KEYS.includes(k));
    if (ignored.length > 0) warnings.push(`${at}: ${ignored.join(", ")}: no equivalent in shimkit, dropped`);
    if (type in runtimes) {
      const owner = fromHandler.get(type);
      warnings.push(
        `${at}: runtime ${q(type)} is already configured${owner ? ` (by handler ${q(owner)})` : ""}; ` +
          "shimkit has one entry per runtime, dropped",
      );
    } else {
      const entry: Table = {};
      if (typeof h.runtime_path === "string" && h.runtime_path !== "") entry.path = h.runtime_path;
      if (isTable(h.options) && Object.keys(h.options).length > 0) entry.options = h.options;
      runtimes[type] = entry;
      fromHandler.set(type, handler);
    }
    if (handler === defaultName && out.default_runtime === undefined) out.default_runtime = type;
  }
  if (Object.keys(runtimes).length > 0) out.runtimes = runtimes;
}

/** A runtime name as containerd's BinaryName rule wants it: two or more dot-separated parts, no `/`. */
function isRuntimeName(name: string): boolean {
  const parts = name.split(".");
  return parts.length >= 2 && !parts.some((p) => p === "") && !name.includes("/");
}
