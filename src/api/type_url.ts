/**
 * `Any` type URL helpers that need no descriptors: cheap to import, so the
 * hot paths (task client, events) use them without loading the type
 * registry and every generated file behind it (`registry.ts`).
 *
 * @module
 */

/** The prefix protobuf libraries put on type URLs by default; containerd does not use it. */
export const GOOGLE_TYPE_URL_PREFIX = "type.googleapis.com/";

/**
 * Returns the message type name an `Any` type URL names: the part after the
 * last `/`, so bare names and `type.googleapis.com/` URLs both work.
 *
 * @param typeUrl an `Any.type_url`
 * @returns the full message name ("" for an empty URL)
 */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
}

/**
 * Strips the `type.googleapis.com/` prefix protobuf-es puts on URLs it packs,
 * leaving every other URL unchanged.
 *
 * @param typeUrl an `Any.type_url`
 * @returns the bare form
 */
export function bareTypeUrl(typeUrl: string): string {
  return typeUrl.startsWith(GOOGLE_TYPE_URL_PREFIX) ? typeUrl.slice(GOOGLE_TYPE_URL_PREFIX.length) : typeUrl;
}
