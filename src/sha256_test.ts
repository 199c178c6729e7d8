import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256, sha256Hex } from "./sha256.ts";

describe("sha256Hex()", () => {
  // FIPS 180-4 / NIST example vectors.
  const vectors: Array<[string, string]> = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
  ];
  for (const [input, want] of vectors) {
    it(`hashes ${JSON.stringify(input.slice(0, 12))} (${input.length} bytes) to the standard digest`, () => {
      assert.equal(sha256Hex(input), want);
    });
  }

  it("hashes one million 'a' to the standard digest", () => {
    assert.equal(
      sha256Hex("a".repeat(1_000_000)),
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
  });

  it("agrees with node:crypto at every length around the block and padding boundaries, and on UTF-8", () => {
    for (let n = 0; n <= 200; n++) {
      const s = "x".repeat(n);
      assert.equal(sha256Hex(s), createHash("sha256").update(s).digest("hex"), `length ${n}`);
    }
    for (
      const s of ["/run/containerd/containerd.sock.ttrpc/default/c1", "héllo wörld ✓", "\u{1F600}".repeat(40)]
    ) {
      assert.equal(sha256Hex(s), createHash("sha256").update(s).digest("hex"), s);
    }
  });

  it("agrees with node:crypto on random bytes", () => {
    for (let i = 0; i < 50; i++) {
      const data = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 300)));
      assert.deepEqual(sha256(data), new Uint8Array(createHash("sha256").update(data).digest()));
    }
  });
});
