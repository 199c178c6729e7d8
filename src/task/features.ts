/**
 * The runtime feature check containerd runs before Create when a spec uses
 * idmapped mounts: only then is the shim asked for `-info`, and runc's
 * `features` must report `mountExtensions.idmap.enabled`. Pure.
 *
 * @module
 */

import { FailedPreconditionError } from "../errors.ts";

interface SpecMount {
  uidMappings?: unknown[];
  gidMappings?: unknown[];
}

/**
 * Tells whether a spec has a mount with uid or gid mappings (an idmapped mount).
 *
 * @param spec the OCI runtime spec
 * @returns true when some mount carries mappings
 */
export function usesIdmapMounts(spec: Record<string, unknown>): boolean {
  const mounts = spec.mounts;
  if (!Array.isArray(mounts)) return false;
  return mounts.some((m: SpecMount) =>
    (Array.isArray(m?.uidMappings) && m.uidMappings.length > 0) ||
    (Array.isArray(m?.gidMappings) && m.gidMappings.length > 0)
  );
}

/**
 * Checks runc's `features` JSON (the `-info` RuntimeInfo features value) for idmapped mount support.
 *
 * @param features the parsed features document
 * @throws FailedPreconditionError saying which entry is missing or disabled
 */
export function checkIdmapSupport(features: unknown): void {
  const ext = (features as { linux?: { mountExtensions?: { idmap?: { enabled?: unknown } } } })?.linux
    ?.mountExtensions;
  if (!ext?.idmap) {
    throw new FailedPreconditionError(
      "idmap mounts not supported: missing `mountExtensions.idmap` entry in `features`",
    );
  }
  if (ext.idmap.enabled !== true) {
    throw new FailedPreconditionError(
      "idmap mounts not supported: entry `mountExtensions.idmap.enabled` in `features` is not present or disabled",
    );
  }
}
