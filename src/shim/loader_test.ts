import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dialOutcomeOf, shouldCleanupShim, type ShimLiveness } from "./loader.ts";
import { DeadlineExceededError, NotFoundError, ShimkitError, UnavailableError, withContext } from "../errors.ts";

describe("shouldCleanupShim()", () => {
  const other = new Error("some other error");
  const cases: Array<{ name: string; in: ShimLiveness; want: boolean }> = [
    { name: "keeps a sandbox shim", in: { sandboxed: true, pids: [] }, want: false },
    { name: "keeps a shim whose sandbox lookup failed", in: { sandboxed: "unknown", pids: [] }, want: false },
    { name: "reaps a non-sandbox shim with no pids", in: { sandboxed: false, pids: [] }, want: true },
    { name: "keeps a non-sandbox shim with pids", in: { sandboxed: false, pids: [{ pid: 1234 }] }, want: false },
    {
      name: "reaps a non-sandbox shim whose Pids is NotFound",
      in: { sandboxed: false, pidsError: new NotFoundError("container must be created") },
      want: true,
    },
    {
      name: "reaps on a wrapped NotFound",
      in: { sandboxed: false, pidsError: withContext(new NotFoundError("x"), 'pids "c1"') },
      want: true,
    },
    {
      name: "reaps on a raw TTRPC NotFound status",
      in: { sandboxed: false, pidsError: Object.assign(new Error("not found"), { name: "TtrpcError", code: 5 }) },
      want: true,
    },
    { name: "keeps on any other Pids error", in: { sandboxed: false, pidsError: other }, want: false },
    {
      name: "keeps on Unavailable (not proof of a leak)",
      in: { sandboxed: false, pidsError: new UnavailableError("connection closed") },
      want: false,
    },
    {
      // Not answering in time is not proof of a dead shim.
      name: "keeps a shim that answers slowly (DeadlineExceeded)",
      in: { sandboxed: false, pidsError: new DeadlineExceededError("pids: timed out") },
      want: false,
    },
    {
      name: "keeps a deadline that wraps a NotFound",
      in: {
        sandboxed: false,
        pidsError: new DeadlineExceededError("pids", { cause: new NotFoundError("x") }),
      },
      want: false,
    },
    { name: "keeps when timedOut is set", in: { sandboxed: false, timedOut: true, pids: [] }, want: false },
    { name: "keeps when nothing is known", in: { sandboxed: false }, want: false },
    {
      name: "keeps a recorded task that exited (exit status still to collect)",
      in: { sandboxed: false, pids: [], exited: true },
      want: false,
    },
    {
      name: "reaps a deleted task even when it had exited (NotFound)",
      in: { sandboxed: false, pidsError: new NotFoundError("container not created"), exited: true },
      want: true,
    },
    {
      name: "keeps an unknown-kind ShimkitError even with empty pids",
      in: { sandboxed: false, pidsError: new ShimkitError("boom"), pids: [] },
      want: false,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => assert.equal(shouldCleanupShim(tc.in), tc.want));
  }
});

describe("dialOutcomeOf()", () => {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const cases: Array<{ name: string; err: unknown; want: string }> = [
    { name: "ENOENT is a missing socket", err: errno("ENOENT"), want: "missing" },
    { name: "ECONNREFUSED is a refused socket", err: errno("ECONNREFUSED"), want: "refused" },
    { name: "a wrapped refusal", err: withContext(errno("ECONNREFUSED"), 'connect to shim "x"'), want: "refused" },
    { name: "ETIMEDOUT is a timeout", err: errno("ETIMEDOUT"), want: "timeout" },
    { name: "DeadlineExceeded is a timeout", err: new DeadlineExceededError("connect: timed out"), want: "timeout" },
    { name: "TTRPC deadline status is a timeout", err: Object.assign(new Error("x"), { name: "TtrpcError", code: 4 }), want: "timeout" },
    { name: "anything else is an error", err: new UnavailableError("connection closed"), want: "error" },
  ];
  for (const tc of cases) it(tc.name, () => assert.equal(dialOutcomeOf(tc.err), tc.want));
});
