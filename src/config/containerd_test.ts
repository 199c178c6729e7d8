import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { adoptContainerdConfig, containerdKeyOf } from "./containerd.ts";

const CRI = "io.containerd.grpc.v1.cri";

describe("containerdKeyOf()", () => {
  const cases: Array<[string, Record<string, unknown>, string | undefined]> = [
    ["a shimkit config", { version: 3, state: "/run/x", debug: true, timeouts: { load: "5s" } }, undefined],
    ["an empty table", {}, undefined],
    ["plugins", { version: 2, plugins: {} }, "plugins"],
    ["grpc", { grpc: { address: "/run/c.sock" } }, "grpc"],
    ["a [debug] table", { debug: { level: "info" } }, "debug"],
    [
      "a containerd timeout",
      { timeouts: { "io.containerd.timeout.shim.load": "5s" } },
      'timeouts."io.containerd.timeout.shim.load"',
    ],
  ];
  for (const [name, table, want] of cases) {
    it(`${name}: ${want ?? "not containerd's"}`, () => assert.equal(containerdKeyOf(table), want));
  }
});

describe("adoptContainerdConfig()", () => {
  const cases: Array<{
    name: string;
    input: Record<string, unknown>;
    table: Record<string, unknown>;
    warnings?: RegExp[];
  }> = [
    {
      name: "leaves a shimkit config alone (root and state kept)",
      input: { version: 3, root: "/var/lib/sk", state: "/run/sk", runtimes: { "a.b": { path: "/x" } } },
      table: { version: 3, root: "/var/lib/sk", state: "/run/sk", runtimes: { "a.b": { path: "/x" } } },
    },
    {
      name: "drops containerd's root and state, and daemon settings, naming each",
      input: {
        version: 3,
        root: "/var/lib/containerd",
        state: "/run/containerd",
        grpc: { uid: 0 },
        oom_score: 0,
      },
      table: { version: 3 },
      warnings: [
        /^root: "\/var\/lib\/containerd" is containerd's own dir; .*dropped$/,
        /^state: "\/run\/containerd" is containerd's own dir; .*dropped$/,
        /^grpc: a containerd daemon setting, dropped$/,
        /^oom_score: a containerd daemon setting, dropped$/,
      ],
    },
    {
      name: "maps debug level debug or trace to debug = true, drops other levels",
      input: { version: 3, debug: { level: "trace", address: "/run/d.sock" } },
      table: { version: 3, debug: true },
    },
    {
      name: "drops a [debug] table at level info",
      input: { version: 3, debug: { level: "info" } },
      table: { version: 3 },
      warnings: [/^debug: containerd's daemon log settings; only level "debug" maps/],
    },
    {
      name: "maps the three shim timeouts and drops the others",
      input: {
        version: 3,
        timeouts: {
          "io.containerd.timeout.shim.cleanup": "6s",
          "io.containerd.timeout.shim.load": "7s",
          "io.containerd.timeout.shim.shutdown": "8s",
          "io.containerd.timeout.bolt.open": "0s",
        },
      },
      table: { version: 3, timeouts: { cleanup: "6s", load: "7s", shutdown: "8s" } },
      warnings: [/^timeouts\."io\.containerd\.timeout\.bolt\.open": not a shim timeout, dropped$/],
    },
    {
      name: "carries CRI runtimes over: default first, path and options, one entry per runtime type",
      input: {
        version: 3,
        plugins: {
          [CRI]: {
            sandbox_image: "pause",
            containerd: {
              default_runtime_name: "runc-systemd",
              runtimes: {
                runc: { runtime_type: "io.containerd.runc.v2" },
                "runc-systemd": { runtime_type: "io.containerd.runc.v2", options: { SystemdCgroup: true } },
                kata: {
                  runtime_type: "io.containerd.kata.v2",
                  runtime_path: "/opt/kata/shim",
                  pod_annotations: [],
                },
                bad: { runtime_type: "kata" },
              },
            },
          },
          "io.containerd.gc.v1.scheduler": { pause_threshold: 0.02 },
        },
      },
      table: {
        version: 3,
        default_runtime: "io.containerd.runc.v2",
        runtimes: {
          "io.containerd.runc.v2": { options: { SystemdCgroup: true } },
          "io.containerd.kata.v2": { path: "/opt/kata/shim" },
        },
      },
      warnings: [
        /runtimes\."runc": runtime "io\.containerd\.runc\.v2" is already configured \(by handler "runc-systemd"\)/,
        /runtimes\."kata": pod_annotations: no equivalent in shimkit, dropped$/,
        /runtimes\."bad": no runtime_type like "io\.containerd\.runc\.v2", dropped$/,
        /^plugins\."io\.containerd\.grpc\.v1\.cri": the CRI settings have no equivalent \(its runtimes were carried over\)/,
        /^plugins\."io\.containerd\.gc\.v1\.scheduler": no equivalent in shimkit, dropped$/,
      ],
    },
    {
      name: "keeps a runtime the file already configures the shimkit way, and reads 2.x's CRI plugin name",
      input: {
        version: 3,
        runtimes: { "io.containerd.runc.v2": { path: "/opt/runc-shim" } },
        plugins: {
          "io.containerd.cri.v1.runtime": {
            containerd: { runtimes: { runc: { runtime_type: "io.containerd.runc.v2" } } },
          },
        },
      },
      table: { version: 3, runtimes: { "io.containerd.runc.v2": { path: "/opt/runc-shim" } } },
      warnings: [
        /runtimes\."runc": runtime "io\.containerd\.runc\.v2" is already configured; /,
        /CRI settings/,
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.input);
      const r = adoptContainerdConfig(c.input);
      assert.deepEqual(r.table, c.table);
      assert.equal(r.warnings.length, (c.warnings ?? []).length, r.warnings.join("\n"));
      (c.warnings ?? []).forEach((w, i) => assert.match(r.warnings[i], w));
      assert.deepEqual(c.input, before, "the input is not modified");
    });
  }
});
