/**
 * What the generated files in `src/gen` call instead of protobuf-es's
 * `codegenv2` helpers: their descriptors are object literals written by
 * `scripts/gen_embed.ts`, not base64 to decode, so importing a generated file
 * never boots `descriptor.proto` (about 11 ms of every command's start; see
 * that script).
 *
 * `embedFile` builds the same `DescFile` protobuf-es's `fileDesc` would, with
 * the public `createFileRegistry`; `messageDesc`, `enumDesc` and `serviceDesc`
 * are the same one-line lookups as protobuf-es's.
 *
 * @module
 */

import { createFileRegistry } from "./protobuf.ts";
import type { DescEnum, DescFile, DescMessage, DescService } from "@bufbuild/protobuf";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { DESCRIPTOR_DEFAULTS } from "../gen/descriptor_defaults.ts";

const prototypes = new Map<string, object>();

/**
 * Hydrates one descriptor message from its literal: the same shape as
 * protobuf-es's `create()` gives (proto2 defaults on the prototype, repeated
 * fields as own empty arrays unless given).
 *
 * @param typeName the descriptor message's full name, e.g. `google.protobuf.FieldDescriptorProto`
 * @param own the fields that are set
 * @returns the message
 * @throws Error for a type `descriptor_defaults.ts` does not know (regenerate)
 */
// deno-lint-ignore no-explicit-any
export function m(typeName: string, own: Record<string, unknown>): any {
  const entry = DESCRIPTOR_DEFAULTS[typeName];
  if (!entry) throw new Error(`embedded descriptor: unknown type ${typeName}; run deno task gen`);
  let proto = prototypes.get(typeName);
  if (!proto) {
    proto = { ...entry.defaults };
    prototypes.set(typeName, proto);
  }
  const msg: Record<string, unknown> = Object.create(proto);
  msg.$typeName = typeName;
  for (const k of entry.lists) msg[k] = [];
  return Object.assign(msg, own);
}

/**
 * Builds a file descriptor from its hydrated `FileDescriptorProto` and the
 * files it imports, as protobuf-es's `fileDesc` does.
 *
 * @param proto the file's descriptor (its `dependency` is filled in here)
 * @param imports the generated files it imports, in import order
 * @returns the file descriptor
 */
export function embedFile(proto: FileDescriptorProto, imports: DescFile[]): DescFile {
  proto.dependency = imports.map((f) => f.proto.name);
  const registry = createFileRegistry(proto, (name) => imports.find((f) => f.proto.name === name));
  return registry.getFile(proto.name)!;
}

/**
 * A message of a file by index path, as protobuf-es's `messageDesc`.
 *
 * @param file the file
 * @param path index of the top-level message
 * @param paths indexes of nested messages
 * @returns the message descriptor
 */
// deno-lint-ignore no-explicit-any
export function messageDesc(file: DescFile, path: number, ...paths: number[]): any {
  return paths.reduce((acc: DescMessage, cur) => acc.nestedMessages[cur], file.messages[path]);
}

/**
 * An enum of a file by index path, as protobuf-es's `enumDesc`.
 *
 * @param file the file
 * @param path index of the top-level enum, or of the message holding it
 * @param paths indexes of nested messages, then of the enum
 * @returns the enum descriptor
 */
// deno-lint-ignore no-explicit-any
export function enumDesc(file: DescFile, path: number, ...paths: number[]): any {
  if (paths.length === 0) return file.enums[path];
  const e = paths.pop()!;
  const parent = paths.reduce((acc: DescMessage, cur) => acc.nestedMessages[cur], file.messages[path]);
  return parent.nestedEnums[e] as DescEnum;
}

/**
 * A service of a file by index, as protobuf-es's `serviceDesc`.
 *
 * @param file the file
 * @param path index of the service
 * @returns the service descriptor
 */
// deno-lint-ignore no-explicit-any
export function serviceDesc(file: DescFile, path: number): any {
  return file.services[path] as DescService;
}
