/**
 * Reads what the fake shim needs from disk: a bundle's config.json (process
 * args and annotations) and the scenario layers it points at.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { fromErrno, InvalidArgumentError, withContext } from "../errors.ts";
import {
  buildScenario,
  isInlineToml,
  type Scenario,
  SCENARIO_ANNOTATION,
  SCENARIO_ENV,
  scenarioAnnotations,
  type ScenarioLayer,
} from "./faults.ts";

/** The parts of an OCI config.json the fake uses. */
export interface BundleConfig {
  /** `process.args` ([] when absent). */
  args: string[];
  /** `annotations` ({} when absent). */
  annotations: Record<string, string>;
}

/**
 * Reads `<bundle>/config.json`.
 *
 * @param bundle the bundle directory
 * @param required when false a missing file gives empty args and annotations
 * @returns args and annotations
 * @throws NotFoundError when required and missing; InvalidArgumentError for bad JSON
 */
export async function readBundleConfig(bundle: string, required: boolean): Promise<BundleConfig> {
  const path = join(bundle, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (!required && (err as { code?: string }).code === "ENOENT") return { args: [], annotations: {} };
    throw fromErrno(err, `open ${path}`);
  }
  let spec: { process?: { args?: unknown }; annotations?: unknown };
  try {
    spec = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`parse ${path}: ${(err as Error).message}`, { cause: err });
  }
  const args = Array.isArray(spec.process?.args) ? spec.process.args.map(String) : [];
  const annotations: Record<string, string> = {};
  if (spec.annotations && typeof spec.annotations === "object") {
    for (const [k, v] of Object.entries(spec.annotations)) if (typeof v === "string") annotations[k] = v;
  }
  return { args, annotations };
}

async function layerFrom(value: string, origin: string, baseDir: string): Promise<ScenarioLayer> {
  if (isInlineToml(value)) return { origin, text: value };
  const path = isAbsolute(value) ? value : join(baseDir, value);
  try {
    return { origin: `${origin} file "${path}"`, text: await readFile(path, "utf8") };
  } catch (err) {
    throw withContext(fromErrno(err), `read scenario ${origin}`);
  }
}

/**
 * Builds the scenario for a bundle: the `SHIMKIT_FAKE_SCENARIO` layer, then
 * the bundle's `io.shimkit.fake.scenario` annotation (a path, relative to the
 * bundle, or inline TOML), then its `io.shimkit.fake.fault.*` annotations.
 *
 * @param env the environment
 * @param annotations the bundle's annotations
 * @param bundle the bundle directory (base for relative scenario paths)
 * @returns the validated scenario
 * @throws InvalidArgumentError naming the source and key of a bad scenario
 */
export async function loadScenario(
  env: Record<string, string | undefined>,
  annotations: Record<string, string>,
  bundle: string,
): Promise<Scenario> {
  const layers: ScenarioLayer[] = [];
  const fromEnv = env[SCENARIO_ENV];
  if (fromEnv) layers.push(await layerFrom(fromEnv, `env ${SCENARIO_ENV}`, bundle));
  const ann = scenarioAnnotations(annotations);
  if (ann.scenario) layers.push(await layerFrom(ann.scenario, `annotation "${SCENARIO_ANNOTATION}"`, bundle));
  return buildScenario(layers, ann.faults);
}
