import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument, isNotFound } from "../errors.ts";
import { recordPath } from "./layout.ts";
import {
  type ContainerRecord,
  formatRecord,
  listRecordIds,
  listRecords,
  parseRecord,
  readRecord,
  removeRecord,
  writeRecord,
} from "./records.ts";

const rec: ContainerRecord = {
  namespace: "default",
  id: "c1",
  runtime: "io.containerd.runc.v2",
  runtimePath: "/usr/bin/containerd-shim-runc-v2",
  runtimeOptions: { typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([0x3a, 0x01, 0x78]) },
  spec: { inline: { ociVersion: "1.0.2" } },
  labels: { a: "b" },
  createdAt: new Date(1_700_000_000_000),
  sandboxId: "sb1",
};

describe("parseRecord()", () => {
  it("round-trips formatRecord()", () => {
    assert.deepEqual(parseRecord(formatRecord(rec), "x.json"), rec);
  });
  it("keeps a spec path and omits absent optional fields", () => {
    const r: ContainerRecord = { ...rec, spec: { path: "/b/config.json" }, labels: {} };
    delete r.runtimeOptions;
    delete r.sandboxId;
    assert.deepEqual(parseRecord(formatRecord(r), "x.json"), r);
  });

  const good = JSON.parse(formatRecord(rec));
  const bad: [string, string, RegExp][] = [
    ["invalid JSON", "{", /parse container record "\/r\/c1.json": /],
    ["a non-object", "[]", /not a JSON object/],
    ["a missing version", JSON.stringify({ ...good, version: undefined }), /invalid version/],
    ["a newer version", JSON.stringify({ ...good, version: 99 }), /unsupported version "99"/],
    ["a missing id", JSON.stringify({ ...good, id: "" }), /"id"/],
    ["a bad createdAt", JSON.stringify({ ...good, createdAt: "yesterday" }), /"createdAt"/],
    ["a missing spec", JSON.stringify({ ...good, spec: 3 }), /"spec"/],
    ["non-string labels", JSON.stringify({ ...good, labels: { a: 1 } }), /"labels"/],
    ["bad runtimeOptions", JSON.stringify({ ...good, runtimeOptions: { typeUrl: 1 } }), /"runtimeOptions"/],
  ];
  for (const [name, text, re] of bad) {
    it(`parseRecord() rejects ${name}, naming the file`, () => {
      assert.throws(() => parseRecord(text, "/r/c1.json"), (e: Error) => {
        assert.ok(isInvalidArgument(e));
        assert.match(e.message, re);
        assert.match(e.message, /"\/r\/c1.json"/);
        return true;
      });
    });
  }
});

describe("writeRecord() / readRecord() / listRecords() / removeRecord()", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await fsp.rm(d, { recursive: true, force: true });
  });

  it("persist, list and remove records; corrupt files are reported, not fatal", async () => {
    const root = await fsp.mkdtemp(join(tmpdir(), "shimkit-records-"));
    dirs.push(root);
    await writeRecord(root, rec);
    await writeRecord(root, { ...rec, namespace: "other", id: "c2" });
    assert.deepEqual(await readRecord(root, "default", "c1"), rec);
    const path = recordPath(root, "default", "c3");
    await fsp.writeFile(path, "{garbage");
    const all = await listRecords(root);
    assert.deepEqual(all.records.map((r) => `${r.namespace}/${r.id}`), ["default/c1", "other/c2"]);
    assert.equal(all.errors.length, 1);
    assert.match(all.errors[0].message, /c3\.json/);
    assert.deepEqual((await listRecords(root, "other")).records.map((r) => r.id), ["c2"]);
    await assert.rejects(readRecord(root, "default", "c3"), isInvalidArgument);
    assert.equal(await removeRecord(root, "default", "c1"), true);
    assert.equal(await removeRecord(root, "default", "c1"), false);
    await assert.rejects(readRecord(root, "default", "c1"), isNotFound);
    const left = await fsp.readdir(join(root, ".records", "default"));
    assert.deepEqual(left, ["c3.json"]);
  });

  it("listRecordIds() lists records by file name, parsed or not; skips hidden and invalid names", async () => {
    const root = await fsp.mkdtemp(join(tmpdir(), "shimkit-records-"));
    dirs.push(root);
    await writeRecord(root, rec);
    await fsp.writeFile(recordPath(root, "default", "c3"), "{garbage");
    for (const name of [".tmp.json", "bad..id.json", "notes.txt"]) {
      await fsp.writeFile(join(root, ".records", "default", name), "x");
    }
    await fsp.mkdir(join(root, ".records", "bad..ns"));
    const { ids, errors } = listRecordIds(root);
    assert.deepEqual(ids, [["default", "c1"], ["default", "c3"]]);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /invalid namespace "bad\.\.ns"/);
    assert.deepEqual(listRecordIds(root, "other").ids, []);
    assert.throws(() => listRecordIds(root, "../x"), isInvalidArgument);
  });
});
