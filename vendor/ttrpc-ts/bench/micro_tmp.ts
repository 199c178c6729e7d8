import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { encodeRequestPrefix, encodeMetadata, requestSize, writeRequestFrame, decodeResponse, writeResponseFrame, decodeRequest } from "../src/envelope.ts";
import { FrameDecoder } from "../src/frame.ts";
import { ConnectRequestSchema, ConnectResponseSchema } from "./gen/task_min_pb.ts";
const N = 500000;
function bench(name: string, f: () => void) {
  for (let i = 0; i < 20000; i++) f();
  const t = performance.now();
  for (let i = 0; i < N; i++) f();
  console.log(name.padEnd(28), ((performance.now() - t) * 1e6 / N).toFixed(0), "ns");
}
const prefix = encodeRequestPrefix("containerd.task.v2.Task", "Connect");
const md = encodeMetadata({ "containerd-namespace-ttrpc": "bench" });
let payload = toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { id: "rtt-1234" }));
bench("create+toBinary", () => { payload = toBinary(ConnectRequestSchema, create(ConnectRequestSchema, { id: "rtt-1234" })); });
let frame!: Uint8Array;
bench("writeRequestFrame", () => { const s = requestSize(prefix, payload, 0, md); frame = writeRequestFrame(1, 0, s, prefix, payload, 0, md); });
const respPayload = toBinary(ConnectResponseSchema, create(ConnectResponseSchema, { shimPid: 1234, taskPid: 4242 }));
const resp = writeResponseFrame(1, undefined, respPayload);
const dec = new FrameDecoder();
bench("FrameDecoder.push", () => { dec.push(resp); });
bench("decodeResponse", () => { decodeResponse(resp.subarray(10)); });
bench("fromBinary", () => { fromBinary(ConnectResponseSchema, respPayload); });
bench("decodeRequest", () => { decodeRequest(frame.subarray(10)); });
bench("writeResponseFrame", () => { writeResponseFrame(1, undefined, respPayload); });
bench("promise+closure", () => { new Promise((r) => r(1)); });
const m = create(ConnectRequestSchema, { id: "rtt-1234" });
bench("create only", () => { create(ConnectRequestSchema, { id: "rtt-1234" }); });
bench("toBinary only", () => { toBinary(ConnectRequestSchema, m); });
