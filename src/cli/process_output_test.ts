import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fdWriter } from "./process_output.ts";

const errno = (code: string) => Object.assign(new Error(code), { code });
const text = (chunks: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(chunks));

describe("fdWriter()", () => {
  it("writes UTF-8 to fd 1 or 2 synchronously, finishing partial writes", () => {
    const calls: Array<[number, Uint8Array]> = [];
    const w = fdWriter("stderr", (fd, bytes) => {
      calls.push([fd, bytes.slice(0, 3)]);
      return Math.min(3, bytes.length); // a pipe that takes 3 bytes at a time
    });
    w("héllo\n");
    assert.ok(calls.every(([fd]) => fd === 2));
    assert.equal(text(calls.map(([, b]) => b)), "héllo\n");
  });

  it("switches to the stream for the rest when the fd would block, keeping order and the unwritten tail", () => {
    const synced: Uint8Array[] = [];
    const streamed: Array<string | Uint8Array> = [];
    let calls = 0;
    const w = fdWriter(
      "stdout",
      (fd, bytes) => {
        assert.equal(fd, 1);
        if (++calls === 2) throw errno("EAGAIN");
        synced.push(bytes.slice(0, 2));
        return 2;
      },
      () => ({ write: (chunk: string | Uint8Array) => (streamed.push(chunk), true) }),
    );
    w("abcdef");
    w("gh");
    assert.equal(text(synced), "ab");
    assert.equal(
      streamed.map((c) => typeof c === "string" ? c : new TextDecoder().decode(c)).join(""),
      "cdefgh",
    );
    assert.equal(calls, 2, "no more sync writes after EAGAIN");
  });

  it("drops output once the reader is gone (EPIPE), as `shimkit ps | head -1` needs", () => {
    let calls = 0;
    const w = fdWriter("stdout", () => {
      calls++;
      throw errno("EPIPE");
    }, () => assert.fail("no stream fallback for EPIPE"));
    w("a");
    w("b");
    assert.equal(calls, 1);
  });

  it("throws other errors", () => {
    const w = fdWriter("stdout", () => {
      throw errno("EIO");
    });
    assert.throws(() => w("x"), /EIO/);
  });

  it("writes nothing for empty text", () => {
    const w = fdWriter("stdout", () => assert.fail("no write"));
    w("");
  });
});
