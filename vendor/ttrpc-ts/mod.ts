/**
 * ttrpc-ts: a TTRPC client and server for TypeScript (Deno, Bun, Node).
 *
 * TTRPC is containerd's lightweight RPC protocol for local sockets: protobuf
 * messages in small frames, many calls multiplexed on one connection. This
 * package speaks it on both sides, unary and streaming, driven by protobuf-es
 * service descriptors.
 *
 * ```ts
 * import { Client, createClient } from "@shimkit/ttrpc";
 * import { Task } from "./gen/shim_pb.ts";
 *
 * const client = await Client.dial("unix:///run/containerd/s/abc", {
 *   metadata: { "containerd-namespace-ttrpc": "default" },
 * });
 * const task = createClient(Task, client);
 * const { shimPid } = await task.connect({ id: "c1" }, { timeoutMs: 2000 });
 * client.close();
 * ```
 *
 * @module
 */

export {
  encodeFrame,
  Flags,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  MESSAGE_HEADER_LENGTH,
  MESSAGE_LENGTH_MAX,
  MessageType,
  oversizedMessage,
  writeHeader,
} from "./src/frame.ts";
export { Code, codeName, TtrpcError } from "./src/status.ts";
export {
  type Conn,
  type ConnHandler,
  dial,
  DialError,
  type DialOptions,
  dialSocket,
  parseAddress,
  type ParsedAddress,
  socketConn,
} from "./src/conn.ts";
export {
  decodeRequest,
  decodeResponse,
  encodeMetadata,
  encodeRequest,
  encodeResponse,
  type Metadata,
  type MetadataInit,
  type RequestEnvelope,
  type ResponseEnvelope,
  type StatusEnvelope,
} from "./src/envelope.ts";
export {
  type CallOptions,
  Client,
  type ClientDialOptions,
  type ClientOptions,
  ClientStream,
  type StreamKind,
  type StreamOptions,
} from "./src/client.ts";
export {
  type BidiStreamingMethod,
  type ClientMethod,
  type ClientStreamingMethod,
  createClient,
  type RequestStream,
  type ServerStreamingMethod,
  type ServiceClient,
  type UnaryMethod,
} from "./src/service_client.ts";
export {
  type BidiStreamingHandler,
  type ClientStreamingHandler,
  type HandlerFor,
  type ResponseInit,
  Server,
  type ServerContext,
  type ServerOptions,
  type ServerStreamingHandler,
  type ServiceImpl,
  type ShutdownOptions,
  type UnaryHandler,
} from "./src/server.ts";
