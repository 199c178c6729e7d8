/**
 * The protobuf-es values shimkit's library code calls, loaded without the
 * package's JSON half: import them from here, not from `@bufbuild/protobuf`
 * (types may still come from the package; only `api/json.ts` and the `call`
 * command, which need JSON, import its index).
 *
 * `@bufbuild/protobuf`'s index re-exports `toJson`/`fromJson`/`equals`, which
 * import every well-known type, and each of those decodes its descriptor when
 * evaluated, booting `descriptor.proto`: importing `mod.ts` from source cost
 * +6 MB RSS and ~20 ms more under Deno, +13 MB under Bun, than importing the
 * files below (`/proc/self/status` after the import). ttrpc-ts does the same
 * for its own calls (`vendor/ttrpc-ts/src/protobuf.ts`, which explains the
 * technique); the compiled executable needs neither, since `scripts/build.ts`
 * resolves the index to `scripts/build_protobuf_core.ts` and replaces this
 * module with a static re-export.
 *
 * @module
 */

import type * as ProtobufIndex from "@bufbuild/protobuf";

/** The values this module provides, typed as the index declares them. */
type Core = Pick<typeof ProtobufIndex, "create" | "fromBinary" | "toBinary" | "createFileRegistry" | "ScalarType">;

/** The index file that defines each value, relative to the package's ESM index. */
const FILES: Readonly<Record<keyof Core, string>> = {
  create: "./create.js",
  fromBinary: "./from-binary.js",
  toBinary: "./to-binary.js",
  createFileRegistry: "./registry.js",
  ScalarType: "./descriptors.js",
};

async function loadCore(): Promise<Core> {
  try {
    const index = import.meta.resolve("@bufbuild/protobuf");
    if (index.startsWith("file:")) {
      const names = Object.keys(FILES) as (keyof Core)[];
      const modules = await Promise.all(names.map((n) => import(new URL(FILES[n], index).href)));
      const core: Partial<Record<keyof Core, unknown>> = {};
      names.forEach((n, i) => (core[n] = modules[i][n]));
      if (names.every((n) => core[n] !== undefined)) return core as Core;
    }
  } catch {
    // Not resolvable as files here: fall back to the index.
  }
  return await import("@bufbuild/protobuf");
}

const core: Core = await loadCore();

/** protobuf-es's `create`: a new message of a schema, optionally from an init object. */
export const create: Core["create"] = core.create;
/** protobuf-es's `fromBinary`: decodes a message from the protobuf binary format. */
export const fromBinary: Core["fromBinary"] = core.fromBinary;
/** protobuf-es's `toBinary`: encodes a message in the protobuf binary format. */
export const toBinary: Core["toBinary"] = core.toBinary;
/** protobuf-es's `createFileRegistry`: a registry of file descriptors (see `embedded_file.ts`). */
export const createFileRegistry: Core["createFileRegistry"] = core.createFileRegistry;
/** protobuf-es's `ScalarType` enum (a field's scalar kind). */
export const ScalarType: Core["ScalarType"] = core.ScalarType;
/** protobuf-es's `ScalarType` enum, as a type. */
export type ScalarType = ProtobufIndex.ScalarType;
