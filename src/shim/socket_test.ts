import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { InvalidArgumentError, NotImplementedError } from "../errors.ts";
import {
  dialPath,
  isFilesystemAddress,
  shimSocketAddress,
  SOCKET_PATH_MAX,
  socketFileOf,
  validateSocketPath,
} from "./socket.ts";

describe("socketFileOf()", () => {
  it("names the file of a unix:// address, nothing for abstract, empty or unparsable ones", () => {
    assert.equal(socketFileOf("unix:///run/s/abc"), "/run/s/abc");
    assert.equal(socketFileOf("/run/s/abc"), undefined, "no scheme: an abstract name, as in containerd");
    assert.equal(socketFileOf(""), undefined);
    assert.equal(socketFileOf("tcp://127.0.0.1:1"), undefined);
  });
});

describe("dialPath()", () => {
  const ok: Array<[string, string]> = [
    ["unix:///run/containerd/s/abc", "/run/containerd/s/abc"],
    ["ttrpc+unix:///run/shimkit/s/sb1", "/run/shimkit/s/sb1"],
    ["UNIX:///x", "/x"],
    ["unix://@shimkit-test", "\0shimkit-test"],
    ["/containerd-shim/default/c1/shim.sock", "\0/containerd-shim/default/c1/shim.sock"],
    ["\0already-abstract", "\0already-abstract"],
    ["plain-name", "\0plain-name"],
  ];
  for (const [address, want] of ok) {
    it(`dialPath() maps ${JSON.stringify(address)}`, () => assert.equal(dialPath(address), want));
  }
  const bad: Array<[string, new (...a: never[]) => Error, RegExp]> = [
    ["", InvalidArgumentError, /empty/],
    ["unix://relative/sock", InvalidArgumentError, /must be absolute/],
    ["unix://", InvalidArgumentError, /must be absolute/],
    ["unix://@", InvalidArgumentError, /abstract name is empty/],
    ["vsock://3:1024", NotImplementedError, /"vsock:\/\/3:1024": vsock transport is not supported/],
    ["hvsock:///run/x.sock:1024", NotImplementedError, /hvsock transport is not supported/],
    ["tcp://127.0.0.1:1", NotImplementedError, /scheme "tcp" is not supported/],
    ["unix:///" + "a".repeat(200), InvalidArgumentError, /exceeds the unix socket limit of 107/],
    ["x".repeat(108), InvalidArgumentError, /abstract name length 108 bytes exceeds the limit of 107/],
    // A damaged bootstrap's address: the message quotes 120 characters and the length, not the megabyte.
    [
      "\0".repeat(1_000_000),
      InvalidArgumentError,
      /^shim address "(\\u0000){120}"… \(1000000 characters\): abstract name length 999999 bytes/,
    ],
  ];
  for (const [address, cls, re] of bad) {
    it(`dialPath() rejects ${JSON.stringify(address.length > 30 ? address.slice(0, 30) + "…" : address)}`, () => {
      assert.throws(
        () => dialPath(address),
        (e: unknown) => e instanceof cls && re.test((e as Error).message),
      );
    });
  }
  it("isFilesystemAddress() tells paths from abstract names", () => {
    assert.equal(isFilesystemAddress("unix:///x"), true);
    assert.equal(isFilesystemAddress("/x"), false);
  });
});

describe("validateSocketPath()", () => {
  it("validateSocketPath() accepts exactly the limit and rejects one byte more", () => {
    const at = "/" + "a".repeat(SOCKET_PATH_MAX - 1);
    assert.equal(validateSocketPath(at), at);
    assert.throws(
      () => validateSocketPath(at + "a"),
      /length 107 bytes exceeds the unix socket limit of 106/,
    );
  });
  it("validateSocketPath() counts bytes, not characters", () => {
    const path = "/" + "é".repeat(53); // 107 bytes, 54 characters
    assert.throws(() => validateSocketPath(path), /length 107 bytes/);
  });
});

describe("shimSocketAddress()", () => {
  const hex = (s: string) => createHash("sha256").update(s).digest("hex");
  const cases: Array<[string, Parameters<typeof shimSocketAddress>[0], string]> = [
    [
      "hashes join(address, ns, id) under /run/containerd/s",
      { grpcAddress: "/run/containerd/containerd.sock", namespace: "default", id: "c1" },
      `unix:///run/containerd/s/${hex("/run/containerd/containerd.sock/default/c1")}`,
    ],
    [
      "cleans the joined path like filepath.Join",
      { grpcAddress: "/run//containerd/./x.sock/", namespace: "fsns", id: "c1" },
      `unix:///run/containerd/s/${hex("/run/containerd/x.sock/fsns/c1")}`,
    ],
    [
      "drops an empty address",
      { grpcAddress: "", namespace: "ns", id: "id" },
      `unix:///run/containerd/s/${hex("ns/id")}`,
    ],
    [
      "uses a configured socket dir",
      { socketDir: "/run/shimkit/s", grpcAddress: "/a", namespace: "ns", id: "id" },
      `unix:///run/shimkit/s/${hex("/a/ns/id")}`,
    ],
  ];
  for (const [name, inputs, want] of cases) {
    it(`shimSocketAddress() ${name}`, () => assert.equal(shimSocketAddress(inputs), want));
  }
  it("shimSocketAddress() rejects a socket dir that makes the path too long", () => {
    assert.throws(
      () => shimSocketAddress({ socketDir: "/" + "d".repeat(60), grpcAddress: "", namespace: "n", id: "i" }),
      InvalidArgumentError,
    );
  });
});
