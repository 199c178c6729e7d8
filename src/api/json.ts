/**
 * Protobuf JSON for containerd messages, with the two `Any` rules containerd
 * needs that plain protobuf-es JSON does not have:
 *
 * - type URLs are sent as written: `"@type": "containerd.runc.v1.Options"` stays
 *   bare on the wire (protobuf-es would add `type.googleapis.com/`, which 1.6
 *   shims reject);
 * - `Any` values of types that are not protobuf messages, such as the
 *   JSON-valued `types.containerd.io/opencontainers/runtime-spec/1/Process` or
 *   `io.containerd.cgroups.v1.Metrics`, are `{"@type": URL, "value": V}`: V is
 *   the JSON document when the bytes are a JSON object or array, else base64.
 *
 * Pure; used by `shimkit call`, not on hot paths.
 *
 * @module
 */

import {
  clone,
  create,
  type DescField,
  type DescMessage,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { AnySchema } from "../gen/google/protobuf/any_pb.ts";
import { base64Decode, base64Encode } from "@bufbuild/protobuf/wire";
import { typeNameOfUrl, typeRegistry } from "./registry.ts";

const ANY = AnySchema.typeName;
const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

type Path = Array<string | number>;
type Node = JsonValue | undefined;

/** The schema of a registered message type URL, or undefined for non-protobuf types. */
function schemaOfUrl(typeUrl: string): DescMessage | undefined {
  return typeUrl === "" ? undefined : typeRegistry.getMessage(typeNameOfUrl(typeUrl));
}

/** Well-known types have their own JSON forms; their insides are never walked. */
function hasOwnJsonForm(desc: DescMessage): boolean {
  return desc.typeName.startsWith("google.protobuf.");
}

function isObject(v: Node): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The JSON form of an `Any` whose type is not in the registry.
 *
 * @param any the value
 * @returns `{"@type": url, "value": json-or-base64}`
 */
function opaqueAnyToJson(any: Any): JsonObject {
  let value: JsonValue = base64Encode(any.value);
  try {
    const doc = JSON.parse(utf8Strict.decode(any.value)) as JsonValue;
    if (typeof doc === "object" && doc !== null) value = doc;
  } catch {
    // Not UTF-8 JSON: keep base64.
  }
  return { "@type": any.typeUrl, value };
}

/**
 * The bytes an opaque `Any` carries: a string is base64, anything else is
 * serialized as JSON.
 */
function opaqueAnyValue(value: Node): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (typeof value === "string") return base64Decode(value);
  return utf8Encoder.encode(JSON.stringify(value));
}

/** Calls `visit` for every message-typed value of `msg`, with its field, JSON key path part and value. */
function forEachMessageValue(
  desc: DescMessage,
  msg: Record<string, unknown>,
  visit: (field: DescField, key: Array<string | number>, value: Record<string, unknown>) => void,
): void {
  for (const field of desc.fields) {
    let v: unknown;
    if (field.oneof) {
      const o = msg[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      v = o?.case === field.localName ? o.value : undefined;
    } else {
      v = msg[field.localName];
    }
    if (v == null) continue;
    if (field.fieldKind === "message") {
      visit(field, [field.jsonName], v as Record<string, unknown>);
    } else if (field.fieldKind === "list" && field.listKind === "message") {
      (v as Record<string, unknown>[]).forEach((e, i) => visit(field, [field.jsonName, i], e));
    } else if (field.fieldKind === "map" && field.mapKind === "message") {
      for (const [k, e] of Object.entries(v as Record<string, Record<string, unknown>>)) {
        visit(field, [field.jsonName, k], e);
      }
    }
  }
}

/** Replaces opaque `Any`s in `msg` (a private clone) by empty ones and records their JSON. */
function stripOpaqueAnys(
  desc: DescMessage,
  msg: Record<string, unknown>,
  path: Path,
  patches: Array<[Path, JsonValue]>,
): void {
  forEachMessageValue(desc, msg, (field, key, value) => {
    const at = [...path, ...key];
    if (field.message?.typeName === ANY) stripAny(value as unknown as Any, at, patches);
    else if (field.message && !hasOwnJsonForm(field.message)) {
      stripOpaqueAnys(field.message, value, at, patches);
    }
  });
}

function stripAny(any: Any, path: Path, patches: Array<[Path, JsonValue]>): void {
  if (any.typeUrl === "") return;
  const desc = schemaOfUrl(any.typeUrl);
  let inner: Record<string, unknown> | undefined;
  try {
    if (desc) inner = fromBinary(desc, any.value) as unknown as Record<string, unknown>;
  } catch {
    inner = undefined;
  }
  if (!desc || !inner) {
    patches.push([path, opaqueAnyToJson(any)]);
    any.typeUrl = "";
    any.value = new Uint8Array(0);
    return;
  }
  const before = patches.length;
  if (desc.typeName === ANY) stripAny(inner as unknown as Any, [...path, "value"], patches);
  else if (!hasOwnJsonForm(desc)) stripOpaqueAnys(desc, inner, path, patches);
  if (patches.length !== before) any.value = toBinary(desc, inner as MessageShape<DescMessage>);
}

function setAt(root: JsonValue, path: Path, value: JsonValue): JsonValue {
  if (path.length === 0) return value;
  let cur = root as Record<string | number, JsonValue>;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]] as Record<string | number, JsonValue>;
  cur[path[path.length - 1]] = value;
  return root;
}

/**
 * Converts a message to protobuf JSON with {@link typeRegistry}: implicit
 * defaults are left out, and `Any`s of non-protobuf types print as
 * `{"@type", "value"}` instead of failing.
 *
 * @param schema the message's schema
 * @param message the message
 * @returns a JSON value (usually an object)
 * @throws Error when a registered `Any` type holds bytes that do not parse
 */
export function messageToJson<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): JsonValue {
  const copy = clone(schema, message);
  const patches: Array<[Path, JsonValue]> = [];
  if (schema.typeName === ANY) stripAny(copy as unknown as Any, [], patches);
  else stripOpaqueAnys(schema, copy as unknown as Record<string, unknown>, [], patches);
  let json: JsonValue = toJson(schema, copy, { registry: typeRegistry, alwaysEmitImplicit: false });
  for (const [path, value] of patches) json = setAt(json, path, value);
  return json;
}

/** Calls `visit` for every message-typed JSON node of `node`, with the field and the node's location. */
function forEachMessageNode(
  desc: DescMessage,
  node: JsonObject,
  visit: (field: DescMessage, child: JsonObject, key: Array<string | number>) => void,
): void {
  for (const field of desc.fields) {
    const name = field.jsonName in node ? field.jsonName : field.name in node ? field.name : undefined;
    if (name === undefined || !field.message) continue;
    const v = node[name];
    if (field.fieldKind === "message") {
      if (isObject(v)) visit(field.message, v, [name]);
    } else if (field.fieldKind === "list" && Array.isArray(v)) {
      v.forEach((e, i) => isObject(e) && visit(field.message!, e, [name, i]));
    } else if (field.fieldKind === "map" && isObject(v)) {
      for (const [k, e] of Object.entries(v)) if (isObject(e)) visit(field.message, e, [name, k]);
    }
  }
}

/** Returns a copy of `node` where every opaque `Any` is `{}`, so protobuf-es can parse it. */
function blankOpaqueAnys(desc: DescMessage, node: JsonObject): JsonObject {
  const out: Record<string, JsonValue> = { ...node };
  forEachMessageNode(desc, node, (child, value, key) => {
    const replaced = child.typeName === ANY
      ? blankAny(value)
      : hasOwnJsonForm(child)
      ? value
      : blankOpaqueAnys(child, value);
    const [name, index] = key as [string, string | number | undefined];
    if (index === undefined) {
      out[name] = replaced;
      return;
    }
    if (out[name] === node[name]) {
      const orig = node[name];
      out[name] = Array.isArray(orig) ? [...orig] : { ...(orig as JsonObject) };
    }
    (out[name] as Record<string | number, JsonValue>)[index] = replaced;
  });
  return out;
}

function blankAny(node: JsonObject): JsonObject {
  const url = node["@type"];
  if (typeof url !== "string") return node;
  const desc = schemaOfUrl(url);
  if (!desc) return {};
  if (desc.typeName === ANY) return isObject(node.value) ? { ...node, value: blankAny(node.value) } : node;
  return hasOwnJsonForm(desc) ? node : blankOpaqueAnys(desc, node);
}

/** Sets opaque `Any`s from their JSON and restores every type URL exactly as written. */
function restoreAnys(desc: DescMessage, msg: Record<string, unknown>, node: JsonObject): void {
  forEachMessageNode(desc, node, (child, value, key) => {
    let target = msg[fieldLocalName(desc, key[0] as string)] as Record<string | number, unknown> | undefined;
    if (key.length === 2 && target) target = target[key[1]] as Record<string, unknown> | undefined;
    if (!target) return;
    if (child.typeName === ANY) restoreAny(target as unknown as Any, value);
    else if (!hasOwnJsonForm(child)) restoreAnys(child, target as Record<string, unknown>, value);
  });
}

function fieldLocalName(desc: DescMessage, jsonKey: string): string {
  return desc.fields.find((f) => f.jsonName === jsonKey || f.name === jsonKey)!.localName;
}

function restoreAny(any: Any, node: JsonObject): void {
  const url = node["@type"];
  if (typeof url !== "string") return;
  const desc = schemaOfUrl(url);
  if (!desc) {
    any.value = opaqueAnyValue(node.value);
  } else if (desc.typeName === ANY) {
    const inner = fromBinary(AnySchema, any.value);
    if (isObject(node.value)) restoreAny(inner, node.value);
    any.value = toBinary(AnySchema, inner);
  } else if (!hasOwnJsonForm(desc)) {
    const inner = fromBinary(desc, any.value);
    restoreAnys(desc, inner as unknown as Record<string, unknown>, node);
    any.value = toBinary(desc, inner);
  }
  any.typeUrl = url;
}

/**
 * Parses protobuf JSON into a message with {@link typeRegistry}; `Any` type
 * URLs are kept exactly as written (bare stays bare), and `Any`s of
 * non-protobuf types take `{"@type": URL, "value": V}` where V is a JSON
 * document (sent as its UTF-8 text) or a base64 string (sent as its bytes).
 *
 * @param schema the message's schema
 * @param json the parsed JSON (`undefined`/`null` gives an empty message)
 * @returns the message
 * @throws Error with protobuf-es's message when the JSON does not match the schema
 * @example
 * ```ts
 * const req = messageFromJson(CreateTaskRequestSchema, {
 *   id: "c1", options: { "@type": "containerd.runc.v1.Options", root: "/run/runc" },
 * });
 * // req.options.typeUrl === "containerd.runc.v1.Options"
 * ```
 */
export function messageFromJson<Desc extends DescMessage>(
  schema: Desc,
  json: JsonValue | undefined,
): MessageShape<Desc> {
  if (json === undefined || json === null) return create(schema);
  if (schema.typeName === ANY && isObject(json)) {
    const any = fromJson(AnySchema, blankAny(json), { registry: typeRegistry });
    restoreAny(any, json);
    return any as unknown as MessageShape<Desc>;
  }
  if (!isObject(json) || hasOwnJsonForm(schema)) return fromJson(schema, json, { registry: typeRegistry });
  const msg = fromJson(schema, blankOpaqueAnys(schema, json), { registry: typeRegistry });
  restoreAnys(schema, msg as unknown as Record<string, unknown>, json);
  return msg;
}
