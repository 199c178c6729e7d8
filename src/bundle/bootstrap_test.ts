import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { InvalidArgumentError, NotFoundError, NotImplementedError } from "../errors.ts";
import {
  type BootstrapInfo,
  MAX_BOOTSTRAP_BYTES,
  parseStartResponse,
  peekBootstrapAddress,
  readBootstrap,
  restoreBootstrap,
  writeBootstrap,
} from "./bootstrap.ts";

const ADDR = "unix:///run/containerd/s/dd42c5b1c87b1dd8e4b2d76d2e1a1b1f3a2e6b0f9c0e1d2c3b4a5968778695a4";

function bootstrapResult(
  version: number,
  address: string,
  protocol: string,
  extra?: (w: BinaryWriter) => void,
): Uint8Array {
  const w = new BinaryWriter();
  if (version) w.tag(1, WireType.Varint).int32(version);
  if (address) w.tag(2, WireType.LengthDelimited).string(address);
  if (protocol) w.tag(3, WireType.LengthDelimited).string(protocol);
  extra?.(w);
  return w.finish();
}

describe("parseStartResponse()", () => {
  const cases: Array<
    {
      name: string;
      input: string | Uint8Array;
      want?: BootstrapInfo;
      error?: new (...a: never[]) => Error;
      re?: RegExp;
    }
  > = [
    {
      name: "reads a v2 plain address with a trailing newline",
      input: ADDR + "\n",
      want: { version: 2, address: ADDR, protocol: "ttrpc" },
    },
    {
      name: "reads a 1.6 plain address without a newline",
      input: new TextEncoder().encode(ADDR),
      want: { version: 2, address: ADDR, protocol: "ttrpc" },
    },
    {
      name: "reads a v3 protobuf BootstrapResult",
      input: bootstrapResult(3, ADDR, "ttrpc"),
      want: { version: 3, address: ADDR, protocol: "ttrpc" },
    },
    {
      name: "reads protobuf with capabilities and metadata it does not know",
      input: bootstrapResult(3, ADDR, "grpc", (w) => {
        w.tag(4, WireType.Varint).int32(0);
        w.tag(5, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string("k").tag(
          2,
          WireType.LengthDelimited,
        ).string("v").join();
      }),
      want: { version: 3, address: ADDR, protocol: "grpc" },
    },
    {
      name: "reads grpc JSON",
      input: `{"version":3,"address":"${ADDR}","protocol":"grpc"}`,
      want: { version: 3, address: ADDR, protocol: "grpc" },
    },
    {
      name: "reads JSON with surrounding whitespace",
      input: `  {"version":2,"address":"${ADDR}","protocol":"ttrpc"}\n`,
      want: { version: 2, address: ADDR, protocol: "ttrpc" },
    },
    {
      name: "defaults an absent protocol to ttrpc",
      input: `{"version":3,"address":"${ADDR}"}`,
      want: { version: 3, address: ADDR, protocol: "ttrpc" },
    },
    {
      name: "treats garbage as a raw address",
      input: "random",
      want: { version: 2, address: "random", protocol: "ttrpc" },
    },
    {
      name: "treats JSON with version < 2 as a raw address",
      input: `{"version":1,"address":"x"}`,
      want: { version: 2, address: `{"version":1,"address":"x"}`, protocol: "ttrpc" },
    },
    {
      name: "treats JSON with a mistyped version as a raw address",
      input: `{"version":"3","address":"x"}`,
      want: { version: 2, address: `{"version":"3","address":"x"}`, protocol: "ttrpc" },
    },
    {
      name: "treats an abstract address as a raw address",
      input: "@/containerd-shim/default/c1/shim.sock",
      want: { version: 2, address: "@/containerd-shim/default/c1/shim.sock", protocol: "ttrpc" },
    },
    (() => {
      // One stray byte after a valid message makes it "not protobuf"; the text fallback then takes all of it.
      const pb = bootstrapResult(3, "unix:///x", "ttrpc");
      const input = new Uint8Array([...pb, 0xff]);
      return {
        name: "treats protobuf with trailing garbage as a raw address",
        input,
        want: { version: 2, address: new TextDecoder().decode(input).trim(), protocol: "ttrpc" },
      };
    })(),
    {
      name: "rejects an unsupported JSON version",
      input: `{"version":4,"address":"${ADDR}","protocol":"ttrpc"}`,
      error: NotImplementedError,
      re: /^parse shim start response: unsupported shim version \(4\)$/,
    },
    {
      name: "rejects an unsupported protobuf version",
      input: bootstrapResult(5, ADDR, "ttrpc"),
      error: NotImplementedError,
      re: /unsupported shim version \(5\)/,
    },
    { name: "rejects empty output", input: "", error: InvalidArgumentError, re: /empty output/ },
    {
      name: "rejects whitespace-only output",
      input: " \n\t",
      error: InvalidArgumentError,
      re: /empty output/,
    },
    {
      name: "rejects output larger than any bootstrap (16 KiB)",
      input: "unix:///" + "a".repeat(16 * 1024),
      error: InvalidArgumentError,
      re: /^parse shim start response: 16392 bytes, more than the 16384 a bootstrap can hold$/,
    },
    {
      name: "rejects JSON without an address",
      input: `{"version":3}`,
      error: InvalidArgumentError,
      re: /no address/,
    },
  ];
  for (const tc of cases) {
    it(`parseStartResponse() ${tc.name}`, () => {
      if (tc.want) {
        assert.deepEqual(parseStartResponse(tc.input), tc.want);
      } else {
        assert.throws(
          () => parseStartResponse(tc.input),
          (e: unknown) => e instanceof tc.error! && tc.re!.test((e as Error).message),
        );
      }
    });
  }
});

describe("bootstrap.json", () => {
  let dir = "";
  let n = 0;
  const bundle = async () => {
    const path = join(dir, `b${n++}`);
    await import("node:fs/promises").then((fs) => fs.mkdir(path));
    return { path };
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "shimkit-bootstrap-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("peekBootstrapAddress() reads bootstrap.json, else the address file, and writes nothing", async () => {
    const none = await bundle();
    assert.equal(peekBootstrapAddress(none), undefined);
    const legacy = await bundle();
    await writeFile(join(legacy.path, "address"), `${ADDR}\n`);
    assert.equal(peekBootstrapAddress(legacy), ADDR);
    assert.deepEqual(await readdir(legacy.path), ["address"], "no bootstrap.json written");
    await writeFile(join(legacy.path, "address"), "");
    assert.equal(peekBootstrapAddress(legacy), undefined);
    const current = await bundle();
    await writeBootstrap(current, { version: 2, address: "unix:///x.sock", protocol: "ttrpc" });
    assert.equal(peekBootstrapAddress(current), "unix:///x.sock");
  });

  it("writeBootstrap() writes containerd's JSON with mode 0644 and readBootstrap() reads it back", async () => {
    const b = await bundle();
    const info = { version: 3, address: ADDR, protocol: "ttrpc" };
    await writeBootstrap(b, info);
    const file = join(b.path, "bootstrap.json");
    assert.equal(await readFile(file, "utf8"), `{"version":3,"address":"${ADDR}","protocol":"ttrpc"}`);
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.deepEqual(await readBootstrap(b), info);
    assert.deepEqual(await readdir(b.path), ["bootstrap.json"]);
  });

  it("readBootstrap() reports a missing file as NotFound", async () => {
    await assert.rejects(readBootstrap(await bundle()), NotFoundError);
  });

  // Mirrors containerd's TestRestoreBootstrapParams.
  it("restoreBootstrap() migrates the address file to bootstrap.json", async () => {
    const b = await bundle();
    await writeFile(join(b.path, "address"), "unix://123");
    const want = { version: 2, address: "unix://123", protocol: "ttrpc" };
    assert.deepEqual(await restoreBootstrap(b), want);
    assert.deepEqual(JSON.parse(await readFile(join(b.path, "bootstrap.json"), "utf8")), want);
    assert.deepEqual(await restoreBootstrap(b), want);
  });

  it("restoreBootstrap() prefers an existing bootstrap.json", async () => {
    const b = await bundle();
    await writeFile(join(b.path, "address"), "unix:///old");
    await writeBootstrap(b, { version: 3, address: "unix:///new", protocol: "ttrpc" });
    assert.deepEqual(await restoreBootstrap(b), { version: 3, address: "unix:///new", protocol: "ttrpc" });
  });

  it("restoreBootstrap() rejects an empty address file", async () => {
    const b = await bundle();
    await writeFile(join(b.path, "address"), "\n");
    await assert.rejects(
      restoreBootstrap(b),
      (e: unknown) => e instanceof InvalidArgumentError && /is empty$/.test((e as Error).message),
    );
    assert.deepEqual(await readdir(b.path), ["address"]);
  });

  it("restoreBootstrap() reports NotFound when neither file exists", async () => {
    await assert.rejects(restoreBootstrap(await bundle()), NotFoundError);
  });

  it("a bootstrap.json or address file larger than any real one is refused, not read, and the error is one short line", async () => {
    const b = await bundle();
    const big = new Uint8Array(10_000_000); // what a damaged disk left: 10 MB of NULs
    await writeFile(join(b.path, "bootstrap.json"), big);
    const short = (e: unknown, re: RegExp) =>
      e instanceof InvalidArgumentError && re.test((e as Error).message) && (e as Error).message.length < 300;
    await assert.rejects(
      readBootstrap(b),
      (e: unknown) => short(e, /is 10000000 bytes: more than the 16384/),
    );
    await assert.rejects(restoreBootstrap(b), (e: unknown) => short(e, /is 10000000 bytes/));
    assert.equal(peekBootstrapAddress(b), undefined);
    const legacy = await bundle();
    await writeFile(join(legacy.path, "address"), "unix:///" + "a".repeat(MAX_BOOTSTRAP_BYTES));
    await assert.rejects(
      restoreBootstrap(legacy),
      (e: unknown) => short(e, /^restore bootstrap: ".*address" is 16392 bytes: more than the 16384/),
    );
    assert.equal(peekBootstrapAddress(legacy), undefined);
    assert.deepEqual(await readdir(legacy.path), ["address"], "nothing written");
  });
});
