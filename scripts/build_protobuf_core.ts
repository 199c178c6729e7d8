/**
 * What `@bufbuild/protobuf` resolves to in the compiled executable for every
 * module except `src/api/json.ts` (see `scripts/build.ts`): the package's index
 * without its JSON and extension functions.
 *
 * Why: the index re-exports `fromJson`/`toJson`, which import every well-known
 * type (`@bufbuild/protobuf/wkt`), and each of those decodes its descriptor,
 * booting `descriptor.proto`, when evaluated. In one bundle, any module that
 * imports the index evaluates all of it once `shimkit call` has put the JSON
 * functions in the bundle, so `shimkit run` paid ~10 ms (wall) and ~15 ms (CPU)
 * for JSON it never uses. Importing the index's own files makes the same module
 * instances as the index does, so both paths share one protobuf-es.
 *
 * A module that needs a name not re-exported here fails the build ("No
 * matching export"); add it here, or import it in `src/api/json.ts`.
 *
 * @module
 */

export * from "../node_modules/@bufbuild/protobuf/dist/esm/types.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/is-message.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/create.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/clone.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/descriptors.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/fields.js";
export {
  createFileRegistry,
  createMutableRegistry,
  createRegistry,
  maximumEdition,
  minimumEdition,
} from "../node_modules/@bufbuild/protobuf/dist/esm/registry.js";
export { toBinary } from "../node_modules/@bufbuild/protobuf/dist/esm/to-binary.js";
export { fromBinary, mergeFromBinary } from "../node_modules/@bufbuild/protobuf/dist/esm/from-binary.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/merge.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/proto-int64.js";
export * from "../node_modules/@bufbuild/protobuf/dist/esm/unknown-enum.js";
