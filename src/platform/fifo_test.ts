import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, constants, openSync, readdirSync, writeSync } from "node:fs";
import { lstat, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FailedPreconditionError, isNotFound } from "../errors.ts";
import { makeFifo, makeFifos, openFifoReader } from "./fifo.ts";
import { libc } from "./libc.ts";

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

  // The FFI path where the runtime allows it, and the `mkfifo` program fallback everywhere.
  for (const [name, noFfi] of [["ffi", false], ["mkfifo program", true]] as const) {
    it(`makeFifos() (${name}) creates every fifo with the exact mode and keeps existing ones`, async () => {
      const paths = ["x1", "x2", "x3"].map((n) => join(dir, `${n}-${noFfi}`));
      // 0666 has bits a usual umask (022) clears: the mode must still be exact, as with `mkfifo -m`.
      await makeFifos(paths, { mode: 0o666, noFfi });
      for (const p of paths) {
        const st = await lstat(p);
        assert.ok(st.isFIFO(), p);
        assert.equal(st.mode & 0o777, 0o666, p);
      }
      await makeFifos(paths, { mode: 0o600, noFfi });
      assert.equal((await lstat(paths[0])).mode & 0o777, 0o666, "an existing fifo is kept as it is");
    });

    it(`makeFifos() (${name}) refuses a path that holds something else`, async () => {
      const p = join(dir, `file-${noFfi}`);
      await writeFile(p, "");
      await assert.rejects(makeFifos([p], { noFfi }), FailedPreconditionError);
    });

    it(`makeFifos() (${name}) names the path and the cause when the directory is missing`, async () => {
      const err = await makeFifos([join(dir, "missing", "log")], { noFfi }).then(() => undefined, (e) => e);
      assert.ok(err instanceof Error);
      assert.match(err.message, /make fifo ".*missing\/log": .*no such file/i);
      assert.ok(isNotFound(err), `kind of ${err.message}`);
    });
  }

  it("makeFifo() creates one fifo, mode 0700 by default", async () => {
    const p = join(dir, "a");
    await makeFifo(p);
    const st = await lstat(p);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o777, 0o700);
  });

  it("libc() binds mkfifo through FFI on Bun and Deno", async () => {
    const c = await libc();
    assert.ok(c, "FFI should be available to tests (deno test -A, bun)");
    assert.equal(c.mkfifo(join(dir, "nodir", "f"), 0o600), 2, "ENOENT");
    const fd = c.open(join(dir, "nodir", "f"), 0);
    assert.equal(fd, -2, "open reports -ENOENT");
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

  it("openFifoReader() close() delivers what a writer left in the pipe just before, in order", async () => {
    const p = join(dir, "left");
    await makeFifo(p);
    const chunks: Uint8Array[] = [];
    const reader = await openFifoReader(p, (c) => chunks.push(c));
    // 48 KiB (less than a pipe holds, so the write never blocks), then close at once: what the reader
    // had not read yet must still arrive, after what it had.
    const lines = Array.from({ length: 48 }, (_, i) => `${String(i).padStart(4, "0")}${"x".repeat(1018)}\n`);
    const w = openSync(p, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(w, lines.join(""));
    } finally {
      closeSync(w);
    }
    await reader.close();
    assert.equal(new TextDecoder().decode(Buffer.concat(chunks)), lines.join(""));
  });

  it("openFifoReader() closes its file descriptor", async () => {
    const p = join(dir, "c");
    await makeFifo(p);
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    const readers = [];
    for (let i = 0; i < 5; i++) readers.push(await openFifoReader(p, () => {}));
    assert.ok(fds() >= before + 5);
    for (const r of readers) await r.close();
    const deadline = Date.now() + 2000;
    while (fds() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Other tests' descriptors may close meanwhile: only more than before would be a leak.
    assert.ok(fds() <= before, `${fds()} open descriptors, ${before} before`);
  });

  it(
    "without FFI permission (Deno) falls back to the mkfifo program and the polling reader",
    { skip: "Deno" in globalThis ? false : "needs Deno: only Deno can refuse FFI (no --allow-ffi)" },
    async () => {
      const script = join(dir, "no_ffi_child.ts");
      const fifo = join(dir, "no-ffi");
      await writeFile(
        script,
        `import { makeFifo, openFifoReader } from ${
          JSON.stringify(new URL("./fifo.ts", import.meta.url).href)
        };
import { libc } from ${JSON.stringify(new URL("./libc.ts", import.meta.url).href)};
import { writeFileSync } from "node:fs";
const path = process.argv[2];
if ((await libc()) !== undefined) throw new Error("FFI unexpectedly available");
await makeFifo(path, 0o600);
let got = "";
const r = await openFifoReader(path, (c) => { got += new TextDecoder().decode(c); });
writeFileSync(path, "hello");
const end = Date.now() + 5000;
while (got !== "hello" && Date.now() < end) await new Promise((res) => setTimeout(res, 10));
await r.close();
console.log(got);
`,
      );
      const args = [
        "run",
        "--no-check",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "--allow-env",
        script,
        fifo,
      ];
      const out = await new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
        let text = "";
        let err = "";
        c.stdout!.on("data", (d: Uint8Array) => (text += new TextDecoder().decode(d)));
        c.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
        c.once("error", reject);
        c.once(
          "close",
          (code) => (code === 0 ? resolve(text) : reject(new Error(`child exited ${code}: ${err}`))),
        );
      });
      assert.equal(out.trim(), "hello");
      const st = await lstat(fifo);
      assert.ok(st.isFIFO());
      assert.equal(st.mode & 0o777, 0o600);
    },
  );

  it("openFifoReader() refuses a regular file", async () => {
    const p = join(dir, "plain");
    await writeFile(p, "x");
    await assert.rejects(openFifoReader(p, () => {}), FailedPreconditionError);
  });
});
