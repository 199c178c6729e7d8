import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeRequest,
  decodeResponse,
  encodeMetadata,
  encodeRequest,
  encodeRequestPrefix,
  encodeResponse,
  type MetadataInit,
  requestSize,
  type StatusEnvelope,
  writeRequestFrame,
} from "./envelope.ts";
import { MESSAGE_HEADER_LENGTH } from "./frame.ts";
import { RequestSchema, ResponseSchema, StatusSchema } from "./gen/ttrpc_pb.ts";

interface ReqCase {
  name: string;
  service: string;
  method: string;
  payload?: Uint8Array;
  timeoutNano?: number;
  metadata?: MetadataInit;
}

const requestCases: ReqCase[] = [
  {
    name: "a bare call",
    service: "containerd.task.v2.Task",
    method: "Connect",
  },
  { name: "empty names", service: "", method: "" },
  {
    name: "a payload",
    service: "s.S",
    method: "M",
    payload: new Uint8Array([0x0a, 0x02, 0x63, 0x31]),
  },
  {
    name: "a 5 s timeout",
    service: "s.S",
    method: "M",
    timeoutNano: 4_999_998_123,
  },
  {
    name: "a huge timeout",
    service: "s.S",
    method: "M",
    timeoutNano: 2 ** 53 - 1,
  },
  {
    name: "a negative timeout",
    service: "s.S",
    method: "M",
    timeoutNano: -1_000,
  },
  {
    name: "metadata with repeated keys",
    service: "s.S",
    method: "M",
    metadata: {
      "containerd-namespace-ttrpc": "default",
      "x-multi": ["a", "", "c"],
    },
  },
  {
    name: "unicode strings",
    service: "ünï.Ŝervice",
    method: "Méthod",
    metadata: { "k": "värde ✓" },
  },
  {
    name: "a 300-byte payload",
    service: "s.S",
    method: "M",
    payload: new Uint8Array(300).fill(0x42),
  },
];

function pairs(
  md: MetadataInit | undefined,
): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  for (const [k, v] of Object.entries(md ?? {})) {
    for (const value of typeof v === "string" ? [v] : v) {
      out.push({ key: k.toLowerCase(), value });
    }
  }
  return out;
}

function reference(c: ReqCase): Uint8Array {
  return toBinary(
    RequestSchema,
    create(RequestSchema, {
      service: c.service,
      method: c.method,
      payload: c.payload ?? new Uint8Array(0),
      timeoutNano: BigInt(c.timeoutNano ?? 0),
      metadata: pairs(c.metadata),
    }),
  );
}

describe("encodeRequest()", () => {
  for (const c of requestCases) {
    it(`encodeRequest() matches protobuf-es for ${c.name}`, () => {
      assert.deepEqual([...encodeRequest(c)], [...reference(c)]);
    });
  }

  it("encodeMetadata() lowercases keys", () => {
    const md = encodeMetadata({ "Containerd-Namespace-TTRPC": "ns" });
    const req = decodeRequest(md);
    assert.deepEqual({ ...req.metadata }, {
      "containerd-namespace-ttrpc": ["ns"],
    });
  });

  it("writeRequestFrame() prepends the header to the same envelope", () => {
    const prefix = encodeRequestPrefix("a.B", "C");
    const payload = new Uint8Array([1, 2, 3]);
    const md = encodeMetadata({ k: "v" });
    const size = requestSize(prefix, payload, 1000, md);
    const frame = writeRequestFrame(7, 2, size, prefix, payload, 1000, md);
    assert.deepEqual([...frame.subarray(0, MESSAGE_HEADER_LENGTH)], [
      0,
      0,
      0,
      size,
      0,
      0,
      0,
      7,
      1,
      2,
    ]);
    assert.deepEqual(
      [...frame.subarray(MESSAGE_HEADER_LENGTH)],
      [...encodeRequest({
        service: "a.B",
        method: "C",
        payload,
        timeoutNano: 1000,
        metadata: { k: "v" },
      })],
    );
  });
});

describe("decodeRequest()", () => {
  for (const c of requestCases) {
    it(`decodeRequest() reads protobuf-es output for ${c.name}`, () => {
      const r = decodeRequest(reference(c));
      assert.equal(r.service, c.service);
      assert.equal(r.method, c.method);
      assert.deepEqual([...r.payload], [...(c.payload ?? [])]);
      assert.equal(r.hasPayload, (c.payload?.length ?? 0) > 0);
      assert.equal(r.timeoutNano, c.timeoutNano ?? 0);
      const want: Record<string, string[]> = {};
      for (const { key, value } of pairs(c.metadata)) {
        (want[key] ??= []).push(value);
      }
      assert.deepEqual({ ...r.metadata }, want);
    });
  }

  it("decodeRequest() skips unknown fields", () => {
    const known = encodeRequest({ service: "a", method: "b" });
    const extra = new Uint8Array([
      ...known,
      0x30,
      0x05,
      0x3a,
      0x01,
      0x78,
      0x45,
      1,
      2,
      3,
      4,
    ]);
    const r = decodeRequest(extra);
    assert.equal(r.service, "a");
    assert.equal(r.method, "b");
  });

  const bad: Array<[string, number[]]> = [
    ["a truncated string", [0x0a, 0x05, 0x61]],
    ["a truncated varint", [0x20, 0x80]],
    ["field number 0", [0x00, 0x01]],
    ["an end-group wire type", [0x0c]],
    ["invalid UTF-8", [0x0a, 0x01, 0xff]],
  ];
  for (const [name, bytes] of bad) {
    it(`decodeRequest() rejects ${name}`, () => {
      assert.throws(() => decodeRequest(new Uint8Array(bytes)));
    });
  }
});

describe("Response envelope", () => {
  const any = create(AnySchema, {
    typeUrl: "type.googleapis.com/x.Y",
    value: new Uint8Array([8, 1]),
  });
  const cases: Array<[string, StatusEnvelope | undefined, Uint8Array]> = [
    ["success without status", undefined, new Uint8Array([0x08, 0xb8, 0x51])],
    ["an empty success", undefined, new Uint8Array(0)],
    ["a status", {
      code: 5,
      message: "container not created: not found",
      details: [],
    }, new Uint8Array(0)],
    [
      "an explicit OK status",
      { code: 0, message: "", details: [] },
      new Uint8Array([1]),
    ],
    [
      "a negative code",
      { code: -3, message: "neg", details: [] },
      new Uint8Array(0),
    ],
    [
      "details",
      { code: 2, message: "ünïcode", details: [any, any] },
      new Uint8Array(0),
    ],
  ];
  for (const [name, status, payload] of cases) {
    it(`encodeResponse() matches protobuf-es for ${name}`, () => {
      const ref = toBinary(
        ResponseSchema,
        create(ResponseSchema, {
          status: status && create(StatusSchema, status),
          payload,
        }),
      );
      assert.deepEqual([...encodeResponse(status, payload)], [...ref]);
    });
    it(`decodeResponse() reads protobuf-es output for ${name}`, () => {
      const ref = toBinary(
        ResponseSchema,
        create(ResponseSchema, {
          status: status && create(StatusSchema, status),
          payload,
        }),
      );
      const r = decodeResponse(ref);
      assert.deepEqual([...r.payload], [...payload]);
      if (status === undefined) assert.equal(r.status, undefined);
      else {
        assert.equal(r.status?.code, status.code);
        assert.equal(r.status?.message, status.message);
        assert.deepEqual(
          r.status?.details.map((d) => [d.typeUrl, [...d.value]]),
          status.details.map((d) => [d.typeUrl, [...d.value]]),
        );
      }
    });
  }

  it("decodeResponse() reads the bytes a Go shim sent for Connect", () => {
    const r = decodeResponse(new Uint8Array([0x12, 0x03, 0x08, 0xb8, 0x51]));
    assert.equal(r.status, undefined);
    assert.deepEqual([...r.payload], [0x08, 0xb8, 0x51]);
  });

  it("encodeResponse() output parses with protobuf-es", () => {
    const bytes = encodeResponse({
      code: 8,
      message: "too big",
      details: [any],
    }, new Uint8Array([1, 2]));
    const m = fromBinary(ResponseSchema, bytes);
    assert.equal(m.status?.code, 8);
    assert.equal(m.status?.message, "too big");
    assert.equal(m.status?.details[0].typeUrl, any.typeUrl);
    assert.deepEqual([...m.payload], [1, 2]);
  });
});
