import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotFound } from "../errors.ts";
import {
  APPLETS,
  buildBusyboxRootfsIfMissing,
  BUSYBOX_PATHS,
  elfLinkage,
  ensureBusyboxRootfs,
  findBusybox,
  findStaticBusybox,
  isBusyboxRootfs,
} from "./busybox.ts";

const HOST_BUSYBOX = BUSYBOX_PATHS.find((p) => existsSync(p));
const skipBusybox = HOST_BUSYBOX ? false : "needs /bin/busybox (busybox-static)";

/** A minimal ELF image: header plus program headers of the given types. */
function elf(opts: { bits: 32 | 64; little: boolean; types: number[]; phoff?: number }): Uint8Array {
  const is64 = opts.bits === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const phoff = opts.phoff ?? ehsize;
  const buf = new Uint8Array(Math.max(ehsize, phoff + opts.types.length * phentsize));
  const view = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, opts.little ? 1 : 2, 1]);
  if (is64) view.setBigUint64(0x20, BigInt(phoff), opts.little);
  else view.setUint32(0x1c, phoff, opts.little);
  view.setUint16(is64 ? 0x36 : 0x2a, phentsize, opts.little);
  view.setUint16(is64 ? 0x38 : 0x2c, opts.types.length, opts.little);
  opts.types.forEach((t, i) => view.setUint32(phoff + i * phentsize, t, opts.little));
  return buf;
}

describe("elfLinkage()", () => {
  const PT_LOAD = 1;
  const PT_INTERP = 3;
  const PT_NOTE = 4;
  const cases: Array<[string, Uint8Array, "static" | "dynamic" | "unknown"]> = [
    [
      "a 64-bit little-endian static image",
      elf({ bits: 64, little: true, types: [PT_LOAD, PT_NOTE] }),
      "static",
    ],
    [
      "a 64-bit image with PT_INTERP",
      elf({ bits: 64, little: true, types: [PT_LOAD, PT_INTERP] }),
      "dynamic",
    ],
    ["a 32-bit little-endian static image", elf({ bits: 32, little: true, types: [PT_LOAD] }), "static"],
    [
      "a 32-bit big-endian image with PT_INTERP",
      elf({ bits: 32, little: false, types: [PT_INTERP] }),
      "dynamic",
    ],
    ["a 64-bit big-endian static image", elf({ bits: 64, little: false, types: [PT_LOAD] }), "static"],
    ["an image without program headers", elf({ bits: 64, little: true, types: [] }), "static"],
    [
      "a truncated program header table",
      elf({ bits: 64, little: true, types: [PT_LOAD] }).subarray(0, 80),
      "unknown",
    ],
    ["a shell script", new TextEncoder().encode("#!/bin/sh\necho hi\n".padEnd(80, " ")), "unknown"],
    ["an empty file", new Uint8Array(0), "unknown"],
  ];
  for (const [name, head, want] of cases) {
    it(`elfLinkage() calls ${name} ${want}`, () => assert.equal(elfLinkage(head), want));
  }
  it("elfLinkage() reads a header that is a view into a larger buffer", () => {
    const img = elf({ bits: 64, little: true, types: [PT_INTERP] });
    const big = new Uint8Array(img.length + 7);
    big.set(img, 7);
    assert.equal(elfLinkage(big.subarray(7)), "dynamic");
  });
});

describe("findStaticBusybox()", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("findStaticBusybox() skips missing, non-file and dynamic candidates and says why", async () => {
    const d = await mkdtemp(join(tmpdir(), "sk-bb-"));
    dirs.push(d);
    const dynamic = join(d, "dynamic");
    const script = join(d, "script");
    await writeFile(dynamic, elf({ bits: 64, little: true, types: [1, 3] }));
    await writeFile(script, "#!/bin/sh\n");
    const fake = join(d, "static");
    await writeFile(fake, elf({ bits: 64, little: true, types: [1] }));
    const r = await findStaticBusybox([join(d, "missing"), d, dynamic, script, fake]);
    assert.equal(r.path, fake);
    assert.deepEqual(r.problems, [
      `"${d}" is not a regular file`,
      `"${dynamic}" is dynamically linked`,
      `"${script}" is not a static ELF executable`,
    ]);
  });

  it("findStaticBusybox() finds nothing among missing candidates", async () => {
    assert.deepEqual(await findStaticBusybox(["/nonexistent/busybox"]), { problems: [] });
    assert.equal(await findBusybox(["/nonexistent/busybox"]), undefined);
  });

  it("findStaticBusybox() takes the host's busybox-static", { skip: skipBusybox }, async () => {
    assert.equal((await findStaticBusybox()).path, HOST_BUSYBOX);
  });
});

describe("ensureBusyboxRootfs()", { skip: skipBusybox }, () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), "sk-rootfs-"));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("ensureBusyboxRootfs() builds busybox, applet links, mount points and /etc files", async () => {
    const dest = join(await tempDir(), "cache", ".rootfs", "busybox");
    assert.equal(await ensureBusyboxRootfs(dest), dest);
    assert.ok(await isBusyboxRootfs(dest));
    const bin = await readFile(join(dest, "bin", "busybox"));
    assert.deepEqual(bin, await readFile(HOST_BUSYBOX!));
    assert.equal((await stat(join(dest, "bin", "busybox"))).mode & 0o777, 0o755);
    for (const a of APPLETS) assert.equal(await readlink(join(dest, "bin", a)), "busybox", a);
    for (const d of ["proc", "sys", "dev", "tmp", "etc", "root", "run"]) {
      assert.ok((await stat(join(dest, d))).isDirectory(), d);
    }
    assert.equal((await stat(join(dest, "tmp"))).mode & 0o7777, 0o1777);
    assert.equal((await stat(dest)).mode & 0o777, 0o755, "a rootfs / is world-readable");
    assert.match(await readFile(join(dest, "etc", "passwd"), "utf8"), /^root:x:0:0:/);
    assert.match(await readFile(join(dest, "etc", "group"), "utf8"), /^root:x:0:/);
    assert.deepEqual(await readdir(join(dest, "..")), ["busybox"], "no temp dir left beside it");
  });

  it("ensureBusyboxRootfs() reuses a rootfs that exists", async () => {
    const dest = join(await tempDir(), "busybox");
    await ensureBusyboxRootfs(dest);
    const before = await lstat(join(dest, "bin", "sh"));
    await writeFile(join(dest, "marker"), "kept");
    await ensureBusyboxRootfs(dest, { busybox: "/nonexistent/busybox" });
    assert.equal(await readFile(join(dest, "marker"), "utf8"), "kept");
    assert.equal((await lstat(join(dest, "bin", "sh"))).ino, before.ino);
  });

  it("buildBusyboxRootfsIfMissing() says whether this call built the rootfs", async () => {
    const dest = join(await tempDir(), "busybox");
    assert.equal(await buildBusyboxRootfsIfMissing(dest), true);
    assert.equal(await buildBusyboxRootfsIfMissing(dest, { busybox: "/nonexistent/busybox" }), false);
    const built = await Promise.all(Array.from({ length: 4 }, () => buildBusyboxRootfsIfMissing(dest + "2")));
    assert.equal(built.filter((b) => b).length, 1, "one of racing callers built it");
  });

  it("ensureBusyboxRootfs() called concurrently builds one rootfs and leaves no temp dirs", async () => {
    const parent = await tempDir();
    const dest = join(parent, "busybox");
    const results = await Promise.all(Array.from({ length: 6 }, () => ensureBusyboxRootfs(dest)));
    assert.deepEqual(results, Array(6).fill(dest));
    assert.ok(await isBusyboxRootfs(dest));
    assert.deepEqual(await readdir(parent), ["busybox"]);
  });

  it("ensureBusyboxRootfs() fails with NotFound for a busybox that does not exist and cleans up", async () => {
    const parent = await tempDir();
    const dest = join(parent, "busybox");
    await assert.rejects(ensureBusyboxRootfs(dest, { busybox: join(parent, "nope") }), (e: unknown) => {
      assert.ok(isNotFound(e), String(e));
      assert.match((e as Error).message, /^build busybox rootfs ".*busybox" from ".*nope": /);
      return true;
    });
    assert.deepEqual(await readdir(parent), []);
  });

  it("ensureBusyboxRootfs() replaces nothing when the destination is a non-rootfs directory", async () => {
    const dest = join(await tempDir(), "busybox");
    await mkdir(join(dest, "something"), { recursive: true });
    await assert.rejects(ensureBusyboxRootfs(dest));
    assert.deepEqual(await readdir(dest), ["something"]);
  });
});
