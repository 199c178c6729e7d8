import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { lstat, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError } from "../errors.ts";
import { makeFifo, openFifoReader } from "./fifo.ts";

function write(path: string, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn("/bin/sh", ["-c", `printf '%s' "$1" > "$2"`, "sh", data, path], { stdio: "ignore" });
    c.once("error", reject);
    c.once("exit", () => resolve());
  });
}

describe("fifo", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "shimkit-fifo-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("makeFifo() creates a fifo with the exact mode and keeps an existing one", async () => {
    const p = join(dir, "a");
    await makeFifo(p, 0o700);
    const st = await lstat(p);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o700);
    await makeFifo(p, 0o700);
  });

  it("makeFifo() refuses a path that holds something else", async () => {
    const p = join(dir, "file");
    await writeFile(p, "");
    await assert.rejects(makeFifo(p), FailedPreconditionError);
  });

  it("makeFifo() names mkfifo's complaint when the directory is missing", async () => {
    await assert.rejects(makeFifo(join(dir, "missing", "log")), /make fifo ".*missing\/log": .*No such file/);
  });

  it("openFifoReader() delivers every byte across writers, and close() is idempotent", async () => {
    const p = join(dir, "b");
    await makeFifo(p);
    const chunks: Uint8Array[] = [];
    const reader = await openFifoReader(p, (c) => chunks.push(c));
    try {
      await write(p, "one ");
      await write(p, "two");
      const deadline = Date.now() + 3000;
      const got = () => new TextDecoder().decode(Buffer.concat(chunks));
      while (got() !== "one two" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got(), "one two");
    } finally {
      await reader.close();
      await reader.close();
    }
  });

  it("openFifoReader() refuses a regular file", async () => {
    const p = join(dir, "plain");
    await writeFile(p, "x");
    await assert.rejects(openFifoReader(p, () => {}), FailedPreconditionError);
  });
});
