/**
 * Second step of `scripts/gen_proto.sh`: rewrites protoc-gen-es output so that
 * no generated file decodes a descriptor when it is imported.
 *
 * protoc-gen-es embeds each file's `FileDescriptorProto` as base64 and decodes
 * it at import time with `fileDesc()`. Decoding needs the descriptor of
 * `descriptor.proto` itself, which protobuf-es builds on first use, and the
 * readers it compiles for it: together about 11 ms of every command's start
 * (a compiled binary that encodes one `CreateTaskRequest` starts in 21.9 ms
 * this way and in 10.6 ms with this rewrite). This script decodes each
 * descriptor here, at generation time, and writes it back as an object literal
 * that `src/api/embedded_file.ts` turns into the same `DescFile`:
 *
 * - `fileDesc("…base64…", [deps])` → `embedFile(m("google.protobuf.FileDescriptorProto", {…}), [deps])`;
 * - the `codegenv2` helpers (`fileDesc`, `messageDesc`, `enumDesc`, `serviceDesc`) are imported from
 *   `src/api/embedded_file.ts` instead;
 * - gen_proto.sh generates our own copies of the well-known types our protos use (`src/gen/google/protobuf/`),
 *   because the `@bufbuild/protobuf/wkt` ones decode base64 too; this script fails if a generated file still
 *   imports a value from `@bufbuild/protobuf/wkt` or `codegenv2`.
 *
 * It also writes `src/gen/descriptor_defaults.ts`: for each descriptor message type that appears, the
 * proto2 default values protobuf-es keeps on the message's prototype and the repeated fields it creates
 * empty, read from protobuf-es itself so the literals hydrate exactly as `fromBinary` would have.
 * Every literal is checked before it is written: hydrated again, it must equal the decoded descriptor
 * (protobuf-es `equals`), or the script fails.
 *
 * Usage: `bun scripts/gen_embed.ts GEN_DIR` (GEN_DIR is the output of protoc-gen-es, e.g. src/gen)
 *
 * @module
 */

import { create, equals, fromBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import { base64Decode } from "@bufbuild/protobuf/wire";
import {
  type DescriptorProto,
  file_google_protobuf_descriptor,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
/** Where the generated files' helper lives, relative to the generated tree's root (`src/gen`). */
const HELPER_FROM_GEN_ROOT = "../api/embedded_file.ts";

const genDir = resolve(process.argv[2] ?? join(ROOT, "src/gen"));

/** Descriptor message types seen in any literal, by type name. */
const seenTypes = new Map<string, DescMessage>();
for (const m of file_google_protobuf_descriptor.messages) collect(m);

function collect(m: DescMessage): void {
  seenTypes.set(m.typeName, m);
  for (const n of m.nestedMessages) collect(n);
}

/** Property names the hydrated message gets as its own, besides the literal's: repeated fields, as protobuf-es's `create()` makes them. */
function ownLists(typeName: string): string[] {
  const desc = seenTypes.get(typeName);
  if (!desc) throw new Error(`gen_embed: unknown descriptor type ${typeName}`);
  const fresh = create(desc) as unknown as Record<string, unknown>;
  return Object.keys(fresh).filter((k) => Array.isArray(fresh[k]));
}

/** The defaults protobuf-es puts on the prototype of a proto2 message of this type. */
function prototypeDefaults(typeName: string): Record<string, unknown> {
  const desc = seenTypes.get(typeName)!;
  const proto = Object.getPrototypeOf(create(desc));
  return proto === Object.prototype ? {} : { ...proto };
}

const used = new Set<string>();

/** Source text of a literal for a decoded descriptor value. */
function literal(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `new Uint8Array([${v.join(",")}])`;
  if (Array.isArray(v)) return `[${v.map(literal).join(",")}]`;
  if (typeof v === "object" && v !== null && "$typeName" in v) {
    const msg = v as Record<string, unknown> & { $typeName: string };
    used.add(msg.$typeName);
    const lists = new Set(ownLists(msg.$typeName));
    const parts: string[] = [];
    for (const k of Object.keys(msg)) {
      const x = msg[k];
      if (k === "$typeName" || x === undefined) continue;
      if (lists.has(k) && Array.isArray(x) && x.length === 0) continue;
      parts.push(`${JSON.stringify(k)}:${literal(x)}`);
    }
    return `m(${JSON.stringify(msg.$typeName)},{${parts.join(",")}})`;
  }
  throw new Error(`gen_embed: cannot write a literal for ${typeof v}`);
}

/** protoc-gen-es leaves out json_name where it is the default; fileDesc() restores it at runtime, we do it here. */
function restoreJsonNames(msg: DescriptorProto): void {
  for (const f of msg.field) if (!Object.hasOwn(f, "jsonName")) f.jsonName = protoCamelCase(f.name);
  for (const n of msg.nestedType) restoreJsonNames(n);
}

function walk(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith("_pb.ts") ? [p] : [];
  });
}

function importPath(fromFile: string, target: string): string {
  const rel = relative(dirname(fromFile), target);
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** Hydrates a literal the way embedded_file.ts will, to check it before writing. */
function hydrate(src: string): unknown {
  const m = (typeName: string, own: Record<string, unknown>) => {
    const o = Object.create(prototypeDefaults(typeName));
    o.$typeName = typeName;
    for (const k of ownLists(typeName)) o[k] = [];
    return Object.assign(o, own);
  };
  return new Function("m", `return ${src};`)(m);
}

const FILE_DESC = /fileDesc\("([A-Za-z0-9+/=]+)"(?:, (\[[^\]]*\]))?\)/;
const CODEGEN_IMPORT = /^import \{ ([^}]*) \} from "@bufbuild\/protobuf\/codegenv2";$/m;
const WKT_VALUE_IMPORT = /^import \{[^}]*\} from "@bufbuild\/protobuf\/wkt";$/m;

for (const file of walk(genDir)) {
  let src = readFileSync(file, "utf8");
  const found = FILE_DESC.exec(src);
  if (!found) throw new Error(`gen_embed: ${file}: no fileDesc() call (protoc-gen-es output changed?)`);
  const decoded = fromBinary(FileDescriptorProtoSchema, base64Decode(found[1]));
  for (const msg of decoded.messageType) restoreJsonNames(msg);
  // fileDesc() fills dependency from the imports at runtime; embedFile() does the same.
  const { dependency: _dependency, ...rest } = decoded;
  const lit = literal(Object.assign(Object.create(Object.getPrototypeOf(decoded)), rest, { dependency: [] }));
  const check = hydrate(lit) as typeof decoded;
  check.dependency = decoded.dependency;
  if (!equals(FileDescriptorProtoSchema, check, decoded)) {
    throw new Error(`gen_embed: ${file}: the literal does not hydrate to the embedded descriptor`);
  }
  src = src.replace(FILE_DESC, () => `embedFile(${lit}, ${found[2] ?? "[]"})`);

  // Relative to the tree, so output generated into a scratch dir (gen_proto.sh, check_gen.sh) is identical.
  const helper = importPath(file, join(genDir, HELPER_FROM_GEN_ROOT));
  src = src.replace(CODEGEN_IMPORT, (_all, names: string) => {
    const list = names.split(",").map((n) => n.trim()).filter(Boolean)
      .map((n) => (n === "fileDesc" ? "embedFile" : n));
    return `import { ${[...list, "m"].join(", ")} } from "${helper}";`;
  });
  // protoc-gen-es imports the well-known types from our own copies when they are generated in the same run.
  if (WKT_VALUE_IMPORT.test(src) || CODEGEN_IMPORT.test(src)) {
    throw new Error(
      `gen_embed: ${file}: still imports descriptors from @bufbuild/protobuf (wkt or codegenv2)`,
    );
  }
  writeFileSync(file, src);
}

// The defaults table, in type-name order so the output is stable.
const lines = [...used].sort().map((t) => {
  const defaults = JSON.stringify(prototypeDefaults(t));
  return `  ${JSON.stringify(t)}: { defaults: ${defaults}, lists: ${JSON.stringify(ownLists(t))} },`;
});
writeFileSync(
  join(genDir, "descriptor_defaults.ts"),
  `// @generated by scripts/gen_embed.ts from @bufbuild/protobuf's descriptor.proto. DO NOT EDIT.
/* eslint-disable */

/**
 * For each descriptor message type in the embedded literals: the proto2 defaults protobuf-es keeps on
 * the message's prototype, and the repeated fields it creates empty.
 */
export const DESCRIPTOR_DEFAULTS: Readonly<
  Record<string, { readonly defaults: Readonly<Record<string, unknown>>; readonly lists: readonly string[] }>
> = {
${lines.join("\n")}
};
`,
);
