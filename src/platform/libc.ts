/**
 * The few libc calls no runtime offers, made through the runtime's FFI:
 * `bun:ffi` `dlopen` on Bun, `Deno.dlopen` on Deno: `mkfifo(3)`, and an
 * `open(2)` whose fd no `node:fs` table knows about. libc is opened once per
 * process, on first use. Where FFI is missing or refused (another
 * runtime, Deno without `--allow-ffi`, a libc that cannot be found) the
 * binding is `undefined` and callers fall back (a helper process, a polling reader).
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

/** The libc calls bound through FFI. */
export interface Libc {
  /**
   * `mkfifo(3)`.
   *
   * @param path the FIFO's path
   * @param mode permission bits (the process umask applies, as for the C call)
   * @returns 0 on success, else the errno value
   */
  mkfifo(path: string, mode: number): number;
  /**
   * `open(2)` with `O_CLOEXEC` added. The fd is unknown to `node:fs`: whoever receives it owns it.
   *
   * @param path the file
   * @param flags open flags (`O_RDWR | O_NONBLOCK`, …)
   * @returns the file descriptor, or the negated errno value
   */
  open(path: string, flags: number): number;
  /**
   * `close(2)`, for an fd from {@link Libc.open} that was never handed on.
   *
   * @param fd the file descriptor
   */
  close(fd: number): void;
}

/** Linux `O_CLOEXEC` (the same on x86-64 and arm64); `node:fs` does not export it. */
const O_CLOEXEC = 0o2000000;

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

let binding: Promise<Libc | undefined> | undefined;

/**
 * Returns the libc calls, binding libc through FFI on the first call (once per process).
 *
 * @returns the calls, or undefined when this runtime cannot call libc (callers fall back)
 */
export function libc(): Promise<Libc | undefined> {
  return binding ??= bind().catch(() => undefined);
}

async function bind(): Promise<Libc | undefined> {
  const g = globalThis as unknown as RuntimeGlobals;
  const encoder = new TextEncoder();
  const cString = (s: string) => encoder.encode(`${s}\0`);
  let call: Record<string, (...args: unknown[]) => unknown>;
  let errno: () => number;
  if (g.Bun) {
    // A non-literal specifier: Deno's type checker must not try to resolve "bun:ffi".
    const specifier = "bun:ffi";
    const ffi = (await import(specifier)) as BunFfi;
    const lib = openFirst((name) =>
      ffi.dlopen(name, {
        mkfifo: { args: ["ptr", "u32"], returns: "i32" },
        open: { args: ["ptr", "i32", "u32"], returns: "i32" },
        close: { args: ["i32"], returns: "i32" },
        __errno_location: { args: [], returns: "ptr" },
      })
    );
    if (!lib) return undefined;
    call = lib.symbols;
    errno = () => ffi.read.i32(call.__errno_location(), 0);
  } else if (g.Deno) {
    const deno = g.Deno;
    const lib = openFirst((name) =>
      deno.dlopen(name, {
        mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
        open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
        close: { parameters: ["i32"], result: "i32" },
        __errno_location: { parameters: [], result: "pointer" },
      })
    );
    if (!lib) return undefined;
    call = lib.symbols;
    errno = () => new deno.UnsafePointerView(call.__errno_location()).getInt32(0);
  } else {
    return undefined;
  }
  // errno is read right after the failing call, on the same thread, before any other libc call of ours.
  return {
    mkfifo: (path, mode) => (call.mkfifo(cString(path), mode) === 0 ? 0 : errno()),
    open: (path, flags) => {
      const fd = call.open(cString(path), flags | O_CLOEXEC, 0) as number;
      return fd >= 0 ? fd : -errno();
    },
    close: (fd) => {
      call.close(fd);
    },
  };
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
