/**
 * Typed clients from protobuf-es service descriptors: {@link createClient}
 * returns one method per RPC, keyed by the method's `localName`.
 *
 * @module
 */

import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { type CallOptions, type Client, type ClientStream, kUnary } from "./client.ts";
import { encodeRequestPrefix } from "./envelope.ts";
import { encodeInit } from "./encoder.ts";
import { decodeMessage } from "./decoder.ts";

/** Requests for a client- or bidi-streaming method: any (async) iterable of messages or inits. */
export type RequestStream<I extends DescMessage> =
  | AsyncIterable<MessageInitShape<I>>
  | Iterable<MessageInitShape<I>>;

/** A unary method: one request, one response. */
export type UnaryMethod<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/** A server-streaming method: the call starts when iteration starts. */
export type ServerStreamingMethod<
  I extends DescMessage,
  O extends DescMessage,
> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<O>>;

/** A client-streaming method: sends every request, then resolves to the single response. */
export type ClientStreamingMethod<
  I extends DescMessage,
  O extends DescMessage,
> = (
  requests: RequestStream<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/** A bidi-streaming method: requests are sent while responses are iterated. */
export type BidiStreamingMethod<I extends DescMessage, O extends DescMessage> = (
  requests: RequestStream<I>,
  options?: CallOptions,
) => AsyncIterable<MessageShape<O>>;

/** The client function type for one method descriptor. */
export type ClientMethod<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
} ? UnaryMethod<I, O>
  : M extends {
    methodKind: "server_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? ServerStreamingMethod<I, O>
  : M extends {
    methodKind: "client_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? ClientStreamingMethod<I, O>
  : M extends {
    methodKind: "bidi_streaming";
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  } ? BidiStreamingMethod<I, O>
  : never;

/** The typed client of a service: one function per method, keyed by `localName`. */
export type ServiceClient<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethod<S["method"][K]>;
};

/**
 * Creates a typed client for `service` on `client`. Per-method encoders,
 * decoders and request prefixes are prepared once per service and shared by
 * every client of it.
 *
 * @param service a protobuf-es (codegenv2) service descriptor, e.g. the generated `Task`
 * @param client the connection to call on
 * @returns an object with one method per RPC, e.g. `await task.connect({ id: "c1" })`
 * @example
 * ```ts
 * const client = await Client.dial("unix:///run/shim.sock", {
 *   metadata: { "containerd-namespace-ttrpc": "default" },
 * });
 * const task = createClient(Task, client);
 * const { shimPid } = await task.connect({ id: "c1" }, { timeoutMs: 2000 });
 * ```
 */
export function createClient<S extends DescService>(
  service: S,
  client: Client,
): ServiceClient<S> {
  const out: Record<string, unknown> = {};
  for (const codec of codecsOf(service)) {
    out[codec.localName] = methodFn(client, codec);
  }
  return out as ServiceClient<S>;
}

/** What a method's client function needs that does not depend on the connection. */
interface MethodCodec {
  localName: string;
  kind: DescMethod["methodKind"];
  /** The encoded Request fields 1 and 2 (service and method names). */
  prefix: Uint8Array;
  encode: (init: unknown) => Uint8Array;
  decode: (bytes: Uint8Array) => unknown;
}

/**
 * Per-service codecs, built on a service's first client and shared by every
 * later one: a manager holding 100 shims makes 100 Task clients, and each
 * used to build 17 request prefixes and 34 closures of its own.
 */
const codecCache = new WeakMap<DescService, readonly MethodCodec[]>();

function codecsOf(service: DescService): readonly MethodCodec[] {
  let codecs = codecCache.get(service);
  if (codecs === undefined) {
    codecs = service.methods.map((method) => {
      const input = method.input;
      const output = method.output;
      return {
        localName: method.localName,
        kind: method.methodKind,
        prefix: encodeRequestPrefix(service.typeName, method.name),
        encode: (init: unknown) => encodeInit(input, init),
        decode: (bytes: Uint8Array) => decodeMessage(output, bytes),
      };
    });
    codecCache.set(service, codecs);
  }
  return codecs;
}

function methodFn(client: Client, { kind, prefix, encode, decode }: MethodCodec): unknown {
  switch (kind) {
    case "unary":
      return (request: unknown, options?: CallOptions) => {
        let payload: Uint8Array;
        try {
          payload = encode(request);
        } catch (err) {
          return Promise.reject(err);
        }
        return client[kUnary](prefix, payload, options, decode);
      };
    case "server_streaming":
      return (request: unknown, options?: CallOptions) => ({
        [Symbol.asyncIterator]: () =>
          receive(
            client.openStream(prefix, "server_streaming", {
              ...options,
              payload: encode(request),
            }),
            decode,
          ),
      });
    case "client_streaming":
      return async (
        requests: RequestStream<DescMessage>,
        options?: CallOptions,
      ) => {
        const stream = client.openStream(prefix, "client_streaming", options);
        const response = stream.recv();
        response.catch(() => {});
        const pumped = pump(stream, requests, encode).then(() => response);
        const bytes = await Promise.race([response, pumped]);
        return decode(bytes ?? new Uint8Array(0));
      };
    case "bidi_streaming":
      return (requests: RequestStream<DescMessage>, options?: CallOptions) => ({
        [Symbol.asyncIterator]: () => {
          const stream = client.openStream(prefix, "bidi_streaming", options);
          pump(stream, requests, encode).catch(() => {});
          return receive(stream, decode);
        },
      });
  }
}

/** Sends every request, then closes the sending side; on a failing iterable, cancels with its error. */
async function pump(
  stream: ClientStream,
  requests: RequestStream<DescMessage>,
  encode: (init: unknown) => Uint8Array,
): Promise<void> {
  try {
    for await (const r of requests) {
      if (stream.finished) return;
      stream.send(encode(r));
    }
    stream.closeSend();
  } catch (err) {
    stream.cancel(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

function receive<T>(
  stream: ClientStream,
  decode: (b: Uint8Array) => T,
): AsyncIterator<T> {
  const it = stream[Symbol.asyncIterator]();
  return {
    async next(): Promise<IteratorResult<T>> {
      const r = await it.next();
      return r.done ? { value: undefined, done: true } : { value: decode(r.value), done: false };
    },
    return(): Promise<IteratorResult<T>> {
      void it.return?.();
      return Promise.resolve({ value: undefined, done: true });
    },
  };
}
