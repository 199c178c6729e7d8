/**
 * Wraps a service implementation so every call first consults the fault
 * plan (via the pure `faultFor`) and then runs the real handler; shimkit
 * errors thrown by handlers become TTRPC statuses with the matching code.
 *
 * @module
 */

import type { DescService } from "@bufbuild/protobuf";
import { create } from "../api/protobuf.ts";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ShimkitError, statusCodeOfKind } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { Code, type ServerContext, TtrpcError } from "../../vendor/ttrpc-ts/mod.ts";
import { type FaultAction, faultFor, type FaultPlan } from "./faults.ts";

/** Per-daemon call counters, shared by every registered service. */
export class CallCounter {
  #global = 0;
  readonly #perMethod = new Map<string, number>();

  /**
   * Counts a call and returns its 0-based indexes.
   *
   * @param method the RPC method name
   * @returns the method's and the daemon's call index
   */
  next(method: string): { method: number; global: number } {
    const m = this.#perMethod.get(method) ?? 0;
    this.#perMethod.set(method, m + 1);
    return { method: m, global: this.#global++ };
  }
}

/** What the wrapper needs from the daemon. */
export interface InjectHooks {
  /** The fault plan. */
  plan: FaultPlan;
  /** Shared call counter. */
  counter: CallCounter;
  /** Ends the daemon at once (the `crash` fault). Never returns. */
  crash: (exitCode: number, method: string) => never;
  /** Logger. */
  log: Logger;
}

/** Unknown field number used to inflate oversized replies (any unused number works). */
const PADDING_FIELD = 15_999;

/**
 * Sleeps regardless of the call's deadline or connection: a hung shim does
 * not notice that its client gave up, and a slow one still answers late.
 * "forever" never resolves; the daemon's exit ends such calls.
 */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (Number.isFinite(ms)) setTimeout(resolve, ms);
  });
}

/**
 * Converts a handler failure into the status a runc shim would send.
 *
 * @param err any thrown value
 * @returns a TtrpcError
 */
export function toStatus(err: unknown): TtrpcError {
  if (err instanceof TtrpcError) return err;
  if (err instanceof ShimkitError) return new TtrpcError(statusCodeOfKind(err.kind), err.message);
  return TtrpcError.from(err);
}

type Handler = (req: unknown, ctx: ServerContext) => unknown;

/**
 * Builds a fault-injecting implementation of a service from a target object
 * whose methods are named by the service's method `localName`s.
 *
 * @param service the service descriptor (for method names and output schemas)
 * @param target the real handlers
 * @param hooks fault plan, counters, crash hook, logger
 * @returns an implementation to register with a ttrpc-ts Server
 */
export function withFaults(
  service: DescService,
  target: object,
  hooks: InjectHooks,
): Record<string, Handler> {
  const impl: Record<string, Handler> = {};
  for (const m of service.methods) {
    const real = (target as Record<string, Handler | undefined>)[m.localName];
    if (typeof real !== "function") continue;
    const fn = real.bind(target);
    impl[m.localName] = async (req, ctx) => {
      const idx = hooks.counter.next(m.name);
      const actions = faultFor(hooks.plan, m.name, idx.method, idx.global);
      if (actions.length > 0) {
        hooks.log.info("injecting fault", { method: m.name, faults: actions.map((a) => a.name).join("+") });
        const early = await applyFaults(actions, ctx, m.name, hooks);
        if (early === "oversize") {
          const bytes = Number(actions.find((a) => a.name === "oversize")!.params.bytes);
          return oversized(m.output, bytes);
        }
      }
      try {
        return await fn(req, ctx);
      } catch (err) {
        throw toStatus(err);
      }
    };
  }
  return impl;
}

/** Applies the actions in order; returns "oversize" when the reply must be replaced. */
async function applyFaults(
  actions: FaultAction[],
  ctx: ServerContext,
  method: string,
  hooks: InjectHooks,
): Promise<"oversize" | undefined> {
  for (const a of actions.filter((x) => x.name === "latency")) await sleep(Number(a.params.duration));
  for (const a of actions) {
    switch (a.name) {
      case "error":
        throw new TtrpcError(Number(a.params.code), String(a.params.message));
      case "hang":
        await sleep(Number(a.params.duration));
        break;
      case "crash":
        hooks.crash(Number(a.params.exit_code), method);
        break;
      case "close":
        ctx.abortConnection();
        throw new TtrpcError(Code.Unavailable, "connection closed by fault");
      case "oversize":
        return "oversize";
    }
  }
  return undefined;
}

function oversized(output: Parameters<typeof create>[0], bytes: number) {
  const msg = create(output);
  const data = new BinaryWriter().bytes(new Uint8Array(bytes)).finish();
  msg.$unknown = [{ no: PADDING_FIELD, wireType: WireType.LengthDelimited, data }];
  return msg;
}
