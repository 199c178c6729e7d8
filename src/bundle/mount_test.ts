import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountPointsUnder, parseMountPoints, unmountRecursive } from "./mount.ts";

const MOUNTINFO = [
  "22 1 0:21 / / rw,relatime - ext4 /dev/vda rw",
  "42 22 0:39 / /run/s/default/c1/rootfs rw,relatime - overlay overlay rw",
  "43 42 0:40 / /run/s/default/c1/rootfs/proc rw - proc proc rw",
  "44 42 0:41 / /run/s/default/c1/rootfs/dev/shm rw - tmpfs shm rw",
  "45 22 0:42 / /run/s/default/c1/rootfs2 rw - tmpfs t rw",
  "46 22 0:43 / /mnt/with\\040space rw - tmpfs t rw",
  "",
].join("\n");

describe("mount", () => {
  it("parseMountPoints() reads field 5 and decodes octal escapes", () => {
    assert.deepEqual(parseMountPoints(MOUNTINFO), [
      "/",
      "/run/s/default/c1/rootfs",
      "/run/s/default/c1/rootfs/proc",
      "/run/s/default/c1/rootfs/dev/shm",
      "/run/s/default/c1/rootfs2",
      "/mnt/with space",
    ]);
  });

  const cases: Array<[string, string, string[]]> = [
    ["deepest first, excluding a sibling prefix", "/run/s/default/c1/rootfs", [
      "/run/s/default/c1/rootfs/dev/shm",
      "/run/s/default/c1/rootfs/proc",
      "/run/s/default/c1/rootfs",
    ]],
    ["with a trailing slash", "/run/s/default/c1/rootfs/", [
      "/run/s/default/c1/rootfs/dev/shm",
      "/run/s/default/c1/rootfs/proc",
      "/run/s/default/c1/rootfs",
    ]],
    ["nothing mounted", "/var/empty", []],
    ["a decoded space", "/mnt/with space", ["/mnt/with space"]],
  ];
  for (const [name, dir, want] of cases) {
    it(`mountPointsUnder() ${name}`, () =>
      assert.deepEqual(mountPointsUnder(parseMountPoints(MOUNTINFO), dir), want));
  }

  it("unmountRecursive() runs nothing when nothing is mounted or the dir is gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shimkit-mount-"));
    try {
      const info = join(dir, "mountinfo");
      await writeFile(info, MOUNTINFO);
      assert.deepEqual(await unmountRecursive(dir, info), []);
      assert.deepEqual(await unmountRecursive(join(dir, "missing"), info), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
