import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultConfig } from "../config/config.ts";
import { InvalidArgumentError } from "../errors.ts";
import { createConfiguredResolver, defaultCreateTimeoutMs, TaskManager } from "./manager.ts";

describe("createConfiguredResolver()", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });
  const shimIn = async (dir: string, name: string) => {
    const path = join(dir, name);
    await fsp.writeFile(path, "#!/bin/sh\n", { mode: 0o755 });
    return path;
  };

  it("createConfiguredResolver() prefers a configured runtime path, then searches the given PATH", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-resolver-"));
    dirs.push(dir);
    const configured = await shimIn(dir, "my-shim");
    const onPath = await shimIn(dir, "containerd-shim-other-v2");
    const config = defaultConfig();
    config.runtimes = { "io.containerd.mine.v2": { path: configured, options: {} } };
    const r = createConfiguredResolver(config, { PATH: dir });
    assert.equal(await r.resolve("io.containerd.mine.v2"), configured);
    assert.equal(await r.resolve("io.containerd.other.v2"), onPath);
  });
});

describe("TaskManager.open()", () => {
  it("TaskManager.open() rejects a state dir whose events socket path is too long, creating nothing", async () => {
    const dir = await fsp.mkdtemp(join(tmpdir(), "shimkit-open-"));
    try {
      const state = join(dir, "s".repeat(110));
      for (const events of [true, false]) {
        await assert.rejects(
          TaskManager.open({ state, root: join(dir, "root"), events }),
          (e: unknown) =>
            e instanceof InvalidArgumentError && /is \d+ bytes: the limit is 107/.test(String(e)),
        );
      }
      assert.deepEqual(await fsp.readdir(dir), []);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("defaultCreateTimeoutMs()", () => {
  const cases: [string, number, number][] = [
    ["doubles the default start budget", 5000, 10_000],
    ["doubles a larger start budget", 30_000, 60_000],
    ["keeps 5 s for a small start budget (runc create takes seconds on a loaded host)", 500, 5000],
    ["doubles a start budget just over the floor", 3000, 6000],
  ];
  for (const [name, startMs, want] of cases) {
    it(`defaultCreateTimeoutMs() ${name}`, () => assert.equal(defaultCreateTimeoutMs(startMs), want));
  }
});
