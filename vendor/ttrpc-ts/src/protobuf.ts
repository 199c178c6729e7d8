/**
 * The protobuf-es functions ttrpc-ts calls (`create`, `isMessage`,
 * `toBinary`, `fromBinary`, `protoInt64`, `ScalarType`), loaded without the package's JSON half.
 *
 * Why. `@bufbuild/protobuf`'s index also re-exports `toJson`, `fromJson` and
 * `equals`, which import every well-known type, and each of those decodes its
 * embedded descriptor when it is evaluated, booting `descriptor.proto` first.
 * A program that only speaks binary TTRPC paid for all of it on import:
 * +9 MB RSS and ~25 ms under Deno 2.9, +13 MB under Bun 1.4 (measured with
 * `/proc/self/status` after importing the index against importing the files
 * below). ESM evaluates every module an index re-exports, so the only way
 * around it is to import the files that define these functions.
 *
 * How. The package's `exports` map names no such subpath, so the files are
 * imported by URL, next to the index that `import.meta.resolve` finds: the
 * same files the index re-exports, so both paths share one protobuf-es (the
 * same `create`, the same message symbols). Where that does not work (a
 * runtime without `import.meta.resolve`, a bundle, a protobuf-es release that
 * moved its files) the index is imported instead: slower to load, the same
 * behaviour. A bundler that cannot follow the computed imports can replace
 * this module with `export * from "@bufbuild/protobuf"`. shimkit's
 * `src/api/protobuf.ts` is the same loader for two more names; it stays a
 * copy because this package imports nothing outside itself.
 *
 * @module
 */

import type * as ProtobufIndex from "@bufbuild/protobuf";

/** The functions this module provides, typed as the index declares them. */
type Core = Pick<
  typeof ProtobufIndex,
  "create" | "isMessage" | "fromBinary" | "toBinary" | "protoInt64" | "ScalarType"
>;

/** The index file that defines each function, relative to the package's ESM index. */
const FILES: Readonly<Record<keyof Core, string>> = {
  create: "./create.js",
  isMessage: "./is-message.js",
  fromBinary: "./from-binary.js",
  toBinary: "./to-binary.js",
  protoInt64: "./proto-int64.js",
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
/** protobuf-es's `isMessage`: whether a value is a message (of the given schema). */
export const isMessage: Core["isMessage"] = core.isMessage;
/** protobuf-es's `fromBinary`: decodes a message from the protobuf binary format. */
export const fromBinary: Core["fromBinary"] = core.fromBinary;
/** protobuf-es's `toBinary`: encodes a message in the protobuf binary format. */
export const toBinary: Core["toBinary"] = core.toBinary;
/** protobuf-es's `protoInt64`: 64-bit integers to and from their two 32-bit halves. */
export const protoInt64: Core["protoInt64"] = core.protoInt64;
/** protobuf-es's `ScalarType` enum (a field's scalar kind). */
export const ScalarType: Core["ScalarType"] = core.ScalarType;
/** protobuf-es's `ScalarType` enum, as a type. */
export type ScalarType = ProtobufIndex.ScalarType;
