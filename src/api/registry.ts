/**
 * The one place that knows every generated protobuf file: the TTRPC services
 * shimkit can call by name, a type registry for `Any` and JSON, and `Any`
 * helpers that use containerd's bare type URLs.
 *
 * Importing this module decodes the descriptors of every generated file, so
 * only commands that need them all (`call`, `info`, the fake shim) import it.
 * The task client and the events code import their own generated files, and
 * the type-URL helpers live in `type_url.ts` (re-exported here).
 *
 * @module
 */

import {
  create,
  createRegistry,
  type DescMessage,
  type DescMethod,
  type DescService,
} from "@bufbuild/protobuf";
import type { Message, MessageShape, Registry } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
import {
  type Any,
  anyUnpack,
  file_google_protobuf_duration,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_wrappers,
} from "@bufbuild/protobuf/wkt";
// Any, Empty and Timestamp are our own generated copies, the very descriptors our messages refer to.
import { AnySchema, file_google_protobuf_any } from "../gen/google/protobuf/any_pb.ts";
import { file_google_protobuf_empty } from "../gen/google/protobuf/empty_pb.ts";
import { file_google_protobuf_timestamp } from "../gen/google/protobuf/timestamp_pb.ts";
import { InvalidArgumentError, NotFoundError } from "../errors.ts";
import { typeNameOfUrl } from "./type_url.ts";
import { file_containerd_events_task } from "../gen/containerd/events/task_pb.ts";
import { file_containerd_runc_v1_runc } from "../gen/containerd/runc/v1/runc_pb.ts";
import { file_containerd_runtime_bootstrap_v1_bootstrap } from "../gen/containerd/runtime/bootstrap/v1/bootstrap_pb.ts";
import {
  file_containerd_runtime_linux_shim_v1_shim,
  Shim as ShimV1,
} from "../gen/containerd/runtime/linux/shim/v1/shim_pb.ts";
import {
  Events as EventsTtrpcV1,
  file_containerd_services_events_ttrpc_v1_events,
} from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { file_containerd_services_events_v1_events } from "../gen/containerd/services/events/v1/events_pb.ts";
import { file_containerd_task_v2_task, Task as TaskV2 } from "../gen/containerd/task/v2/task_pb.ts";
import { file_containerd_task_v3_task, Task as TaskV3 } from "../gen/containerd/task/v3/task_pb.ts";
import { file_containerd_types_event } from "../gen/containerd/types/event_pb.ts";
import { file_containerd_types_introspection } from "../gen/containerd/types/introspection_pb.ts";
import { file_containerd_types_mount } from "../gen/containerd/types/mount_pb.ts";
import { file_containerd_v1_types_task } from "../gen/containerd/v1/types/task_pb.ts";

/**
 * The TTRPC services shimkit can call by full name: task v2 and v3, the
 * events Forward service and the v1 shim. The gRPC-only
 * `containerd.services.events.v1.Events` is not here: shims never serve it.
 */
export const KNOWN_SERVICES: ReadonlyMap<string, DescService> = new Map<string, DescService>(
  [TaskV2, TaskV3, EventsTtrpcV1, ShimV1].map((s) => [s.typeName, s]),
);

/**
 * Every message and enum shimkit defines, plus the well-known types, so
 * `Any` values can be packed, unpacked and printed as JSON.
 */
export const typeRegistry: Registry = createRegistry(
  file_google_protobuf_any,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  file_containerd_types_mount,
  file_containerd_types_introspection,
  file_containerd_types_event,
  file_containerd_v1_types_task,
  file_containerd_task_v2_task,
  file_containerd_task_v3_task,
  file_containerd_events_task,
  file_containerd_services_events_ttrpc_v1_events,
  file_containerd_services_events_v1_events,
  file_containerd_runc_v1_runc,
  file_containerd_runtime_bootstrap_v1_bootstrap,
  file_containerd_runtime_linux_shim_v1_shim,
);

export { bareTypeUrl, typeNameOfUrl } from "./type_url.ts";

/**
 * Packs a message into an `Any` with a bare type URL (`containerd.runc.v1.Options`),
 * the form containerd uses: 1.6 shims reject the `type.googleapis.com/` prefix
 * (protocol-facts.md §2.2).
 *
 * @param schema the message's schema
 * @param message the message to pack
 * @returns an `Any` whose `typeUrl` is the message's full name
 * @example
 * ```ts
 * const any = packAny(OptionsSchema, create(OptionsSchema, { root: "/run/runc" }));
 * // any.typeUrl === "containerd.runc.v1.Options"
 * ```
 */
export function packAny<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Any {
  return create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, message) });
}

/**
 * Unpacks an `Any` holding any message in {@link typeRegistry}; accepts bare
 * and `type.googleapis.com/`-prefixed type URLs.
 *
 * @param any the value to unpack
 * @returns the message, or `undefined` when the `Any` is empty or its type is
 *   not protobuf-known (e.g. the JSON-valued `types.containerd.io/...` types)
 * @throws Error when the bytes do not parse as the named type
 */
export function unpackAny(any: Any): Message | undefined {
  if (any.typeUrl === "") return undefined;
  return anyUnpack(any, typeRegistry);
}

/**
 * True when the type URL names a message in {@link typeRegistry}.
 *
 * @param typeUrl an `Any.type_url`, bare or prefixed
 * @returns boolean
 */
export function isKnownTypeUrl(typeUrl: string): boolean {
  return typeUrl !== "" && typeRegistry.getMessage(typeNameOfUrl(typeUrl)) !== undefined;
}

/** A resolved `SERVICE/METHOD`. */
export interface ResolvedMethod {
  /** The service descriptor (its `typeName` is the TTRPC service name). */
  service: DescService;
  /** The method descriptor (its `name` is the TTRPC method name). */
  method: DescMethod;
}

/**
 * Resolves `SERVICE/METHOD` (or grpcurl's `SERVICE.METHOD`) against
 * {@link KNOWN_SERVICES}.
 *
 * @param spec e.g. `containerd.task.v2.Task/Connect`
 * @returns the service and method descriptors
 * @throws InvalidArgumentError when the text has no method part
 * @throws NotFoundError naming the known services, or the service's methods
 */
export function resolveMethod(spec: string): ResolvedMethod {
  const cut = spec.includes("/") ? spec.lastIndexOf("/") : spec.lastIndexOf(".");
  if (cut <= 0 || cut === spec.length - 1) {
    throw new InvalidArgumentError(
      `invalid method "${spec}": want SERVICE/METHOD, e.g. "containerd.task.v2.Task/Connect"`,
    );
  }
  const serviceName = spec.slice(0, cut);
  const methodName = spec.slice(cut + 1);
  const service = KNOWN_SERVICES.get(serviceName);
  if (!service) {
    throw new NotFoundError(
      `unknown service "${serviceName}": known services are ${[...KNOWN_SERVICES.keys()].join(", ")}`,
    );
  }
  const method = service.methods.find((m) => m.name === methodName) ??
    service.methods.find((m) => m.name.toLowerCase() === methodName.toLowerCase());
  if (!method) {
    throw new NotFoundError(
      `unknown method "${methodName}" of service "${serviceName}": known methods are ${
        service.methods.map((m) => m.name).join(", ")
      }`,
    );
  }
  return { service, method };
}
