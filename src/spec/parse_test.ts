import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../errors.ts";
import { parseLogUri, parseMount, parseUser } from "./parse.ts";

describe("parseUser()", () => {
  const ok: Array<[string, { uid: number; gid: number }]> = [
    ["0", { uid: 0, gid: 0 }],
    ["1000", { uid: 1000, gid: 0 }],
    ["1000:100", { uid: 1000, gid: 100 }],
    ["65534:65534", { uid: 65534, gid: 65534 }],
    ["4294967294:0", { uid: 4294967294, gid: 0 }],
  ];
  for (const [value, want] of ok) {
    it(`parseUser("${value}") is ${JSON.stringify(want)}`, () => assert.deepEqual(parseUser(value), want));
  }
  const bad: Array<[string, RegExp]> = [
    [
      "bob",
      /^invalid --user "bob": want UID or UID:GID in numbers \(names are not looked up\), got uid "bob"$/,
    ],
    ["1000:staff", /got gid "staff"$/],
    ["", /got uid ""$/],
    ["1:2:3", /^invalid --user "1:2:3": want UID or UID:GID$/],
    ["-1", /got uid "-1"/],
    ["4294967295", /uid 4294967295 is above 4294967294$/],
    ["1000:", /got gid ""$/],
  ];
  for (const [value, message] of bad) {
    it(`parseUser("${value}") is an invalid argument naming it`, () => {
      assert.throws(
        () => parseUser(value),
        (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      );
    });
  }
});

describe("parseMount()", () => {
  const ok: Array<[string, object]> = [
    [
      "type=bind,src=/srv/data,dst=/data,options=rbind:ro",
      { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind", "ro"] },
    ],
    ["src=/srv/data,dst=/data", {
      destination: "/data",
      type: "bind",
      source: "/srv/data",
      options: ["rbind"],
    }],
    ["source=data,target=/data,options=ro", {
      destination: "/data",
      type: "bind",
      source: "/home/u/data",
      options: ["rbind", "ro"],
    }],
    ["type=bind,src=/a,destination=/b,options=bind", {
      destination: "/b",
      type: "bind",
      source: "/a",
      options: ["bind"],
    }],
    ["type=tmpfs,dst=/scratch,options=size=64m:mode=1777", {
      destination: "/scratch",
      type: "tmpfs",
      options: ["size=64m", "mode=1777"],
    }],
    ["type=tmpfs,src=tmpfs,dst=/t", { destination: "/t", type: "tmpfs", source: "tmpfs" }],
  ];
  for (const [value, want] of ok) {
    it(`parseMount("${value}")`, () => assert.deepEqual(parseMount(value, "/home/u"), want));
  }
  const bad: Array<[string, RegExp]> = [
    ["type=bind,src=/a", /^invalid --mount "type=bind,src=\/a": no dst \(the path in the container\)$/],
    ["src=/a,dst=data", /dst "data" must be an absolute path$/],
    ["dst=/data", /a bind mount needs src$/],
    ["src=/a,dst=/b,ro", /unknown field "ro" \(want type=, src=, dst= and options=\)$/],
    ["src=/a,dst=/b,readonly=true", /unknown field "readonly=true"/],
    ["src=/a,src=/c,dst=/b", /src given twice$/],
    ["", /unknown field ""/],
  ];
  for (const [value, message] of bad) {
    it(`parseMount("${value}") is an invalid argument naming it`, () => {
      assert.throws(
        () => parseMount(value, "/"),
        (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      );
    });
  }
});

describe("parseLogUri()", () => {
  const ok: Array<[string, string]> = [
    ["out.log", "file:///srv/out.log"],
    ["/var/log/c1.log", "file:///var/log/c1.log"],
    ["file:///var/log/c1.log", "file:///var/log/c1.log"],
    ["binary:///usr/bin/logger?tag=c1", "binary:///usr/bin/logger?tag=c1"],
    ["FILE:///x", "FILE:///x"],
  ];
  for (const [value, want] of ok) {
    it(`parseLogUri("${value}") is ${want}`, () => assert.equal(parseLogUri(value, "/srv"), want));
  }
  const bad: Array<[string, RegExp]> = [
    ["", /^invalid --log-uri "": want a path, file:\/\/\/PATH or binary:\/\/\/PATH$/],
    ["http://host/x", /^invalid --log-uri "http:\/\/host\/x": scheme "http" is not file or binary$/],
    ["file://relative/x", /want an absolute path after file:\/\/$/],
    ["file:///", /want an absolute path after file:\/\/$/],
    ["binary://", /want an absolute path after binary:\/\/$/],
  ];
  for (const [value, message] of bad) {
    it(`parseLogUri("${value}") is an invalid argument naming it`, () => {
      assert.throws(
        () => parseLogUri(value, "/"),
        (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      );
    });
  }
});
