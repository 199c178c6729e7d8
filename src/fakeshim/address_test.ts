import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { BootstrapResultSchema } from "../gen/containerd/runtime/bootstrap/v1/bootstrap_pb.ts";
import {
  defaultSocketDir,
  formatStartOutput,
  groupIdOf,
  SOCKET_PATH_MAX,
  socketPath,
  v1ListenAddress,
} from "./address.ts";
import { shimSocketAddress } from "../shim/socket.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("socketPath()", () => {
  it("socketPath() hashes join(address, ns, id) like runc-v2", () => {
    assert.equal(
      socketPath("/run/x", "/run/containerd/containerd.sock", "fsns", "c1"),
      `/run/x/${sha("/run/containerd/containerd.sock/fsns/c1")}`,
    );
  });
  it("socketPath() agrees with the manager's shimSocketAddress()", () => {
    const want = shimSocketAddress({
      socketDir: "/run/x",
      grpcAddress: "/a.sock",
      namespace: "ns",
      id: "g1",
    });
    assert.equal("unix://" + socketPath("/run/x", "/a.sock", "ns", "g1"), want);
  });
  it("socketPath() cleans the joined path like Go's filepath.Join", () => {
    assert.equal(socketPath("/d", "", "ns", "id"), `/d/${sha("ns/id")}`);
    assert.equal(socketPath("/d/", "/a//b/", "ns", "id"), `/d/${sha("/a/b/ns/id")}`);
  });
  it("socketPath() shortens the hash to keep the path within the limit", () => {
    const dir = "/" + "d".repeat(60);
    const p = socketPath(dir, "a", "n", "i");
    assert.equal(p.length, SOCKET_PATH_MAX);
    assert.ok(sha("a/n/i").startsWith(p.slice(dir.length + 1)));
  });
  it("socketPath() rejects a directory too long for any socket name", () => {
    assert.throws(() => socketPath("/" + "d".repeat(100), "a", "n", "i"), /too long/);
  });
});

describe("address helpers", () => {
  it("groupIdOf() prefers the runc group, then the sandbox id, then the id", () => {
    assert.equal(
      groupIdOf({ "io.containerd.runc.v2.group": "g", "io.kubernetes.cri.sandbox-id": "s" }, "c"),
      "g",
    );
    assert.equal(groupIdOf({ "io.kubernetes.cri.sandbox-id": "s" }, "c"), "s");
    assert.equal(groupIdOf(undefined, "c"), "c");
  });
  it("defaultSocketDir() depends on the user", () => {
    assert.equal(defaultSocketDir(0, "/run/user/0", "/tmp"), "/run/shimkit/fake");
    assert.equal(defaultSocketDir(1000, "/run/user/1000", "/tmp"), "/run/user/1000/shimkit-fake");
    assert.equal(defaultSocketDir(1000, undefined, "/tmp"), "/tmp/shimkit-fake-1000");
  });
  it("v1ListenAddress() maps unix:// to a path and anything else to an abstract name", () => {
    assert.equal(v1ListenAddress("unix:///run/s.sock"), "/run/s.sock");
    assert.equal(v1ListenAddress("/containerd-shim/ns/id/shim.sock"), "\0/containerd-shim/ns/id/shim.sock");
    assert.throws(() => v1ListenAddress("unix:///" + "x".repeat(110)), /too long/);
  });
});

describe("formatStartOutput()", () => {
  const addr = "unix:///run/x/abc";
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  it("formatStartOutput() prints each format without a newline", () => {
    assert.equal(dec(formatStartOutput("plain", addr)), addr);
    assert.deepEqual(JSON.parse(dec(formatStartOutput("json-v2", addr))), {
      version: 2,
      address: addr,
      protocol: "ttrpc",
    });
    assert.deepEqual(JSON.parse(dec(formatStartOutput("json-v3", addr))), {
      version: 3,
      address: addr,
      protocol: "ttrpc",
    });
    const pb = fromBinary(BootstrapResultSchema, formatStartOutput("protobuf", addr));
    assert.deepEqual([pb.version, pb.address, pb.protocol], [3, addr, "ttrpc"]);
  });
  it("formatStartOutput() claims an unsupported version for the version fault", () => {
    assert.equal(JSON.parse(dec(formatStartOutput("protobuf", addr, 4))).version, 4);
  });
});
