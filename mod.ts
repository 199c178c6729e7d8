/**
 * shimkit: start, drive, restore and test containerd runtime shims without
 * containerd, from Deno or Bun.
 *
 * This file is the public library API and only re-exports. It is kept in
 * sections, one per module; add a module's exports to its section.
 *
 * @example
 * ```ts
 * import { isNotFound, loadConfig } from "./mod.ts";
 * try {
 *   const { config } = await loadConfig("/etc/shimkit/config.toml");
 *   console.log(config.timeouts.start);
 * } catch (e) {
 *   if (!isNotFound(e)) throw e;
 * }
 * ```
 *
 * @module
 */

// ── errors ─────────────────────────────────────────────────────────────────
export {
  AbortedError,
  AlreadyExistsError,
  CanceledError,
  DeadlineExceededError,
  type ErrorKind,
  FailedPreconditionError,
  fromErrno,
  InternalError,
  InvalidArgumentError,
  isAlreadyExists,
  isDeadlineExceeded,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  isNotImplemented,
  isUnavailable,
  kindFromStatusCode,
  kindOf,
  newError,
  NotFoundError,
  NotImplementedError,
  PermissionDeniedError,
  ResourceExhaustedError,
  ShimkitError,
  statusCodeOfKind,
  UnavailableError,
  withContext,
} from "./src/errors.ts";

// ── logging ────────────────────────────────────────────────────────────────
export {
  createLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  nullLogger,
  parseLogLevel,
} from "./src/log/logger.ts";

// ── config ─────────────────────────────────────────────────────────────────
export {
  type Config,
  CONFIG_VERSION,
  DEFAULT_CONFIG,
  defaultConfig,
  FAKE_RUNTIME,
  formatConfig,
  parseConfig,
  type ParsedConfig,
  RUNC_RUNTIME,
  type RuntimeConfig,
  socketDirOf,
  type TimeoutsConfig,
} from "./src/config/config.ts";
export { DEFAULT_CONFIG_PATH, loadConfig } from "./src/config/load.ts";
export { migrateConfigTable, type MigrationResult } from "./src/config/migrate.ts";
export { formatDuration, parseDuration } from "./src/config/duration.ts";

// ── ids, runtimes, bundles, the shim binary protocol, specs ───────────────
export { ID_MAX_LENGTH, validateId, validateNamespace, validateRuntimeName } from "./src/ids.ts";
export { binaryName, classifyRuntime, type RuntimeRef } from "./src/runtime/name.ts";
export {
  createRuntimeResolver,
  type RuntimeResolver,
  type RuntimeResolverOptions,
} from "./src/runtime/resolve.ts";
export {
  type Bundle,
  type BundleEntry,
  type BundleLocation,
  createBundle,
  type CreateBundleOptions,
  deleteBundle,
  finishInterruptedDelete,
  type InterruptedDelete,
  listBundles,
  listInterruptedDeletes,
  loadBundle,
} from "./src/bundle/bundle.ts";
export {
  type BootstrapInfo,
  CURRENT_SHIM_VERSION,
  parseStartResponse,
  readBootstrap,
  restoreBootstrap,
  writeBootstrap,
} from "./src/bundle/bootstrap.ts";
export {
  runShimDelete,
  runShimInfo,
  runShimStart,
  runShimVersion,
  type ShimCallOptions,
  type ShimDeleteResult,
  type ShimStartOptions,
} from "./src/shim/binary.ts";
export { shimSocketAddress, SOCKET_PATH_MAX, validateSocketPath } from "./src/shim/socket.ts";
export {
  type DefaultSpecOptions,
  generateDefaultSpec,
  type OciMount,
  type OciProcess,
  type OciSpec,
} from "./src/spec/default_spec.ts";
export { parseLogUri, parseMount, parseUser, type SpecUser } from "./src/spec/parse.ts";
export { ensureBusyboxRootfs, findStaticBusybox } from "./src/rootfs/busybox.ts";

// ── tasks, shims and events ──────────────────────────────────────────────
export {
  createConfiguredResolver,
  type CreateTaskOptions,
  Task,
  TaskManager,
  type TaskManagerOptions,
  type TaskSummary,
} from "./src/task/manager.ts";
export type {
  AnyValue,
  ConnectInfo,
  ExitInfo,
  Mount,
  ProcessInfo,
  StdioOptions,
  TaskState,
  TaskStatus,
} from "./src/taskapi/types.ts";
export {
  normalizeStdio,
  type TaskApiVersion,
  type TaskCallOptions,
  TaskClient,
} from "./src/taskapi/client.ts";
export { type ContainerRecord, listRecords, readRecord } from "./src/bundle/records.ts";
export { eventsJournalPath, eventsSocketPath } from "./src/bundle/layout.ts";
export { encodeRuntimeOptionsValue, RUNC_OPTIONS_TYPE_URL } from "./src/task/options.ts";
export {
  DEAD_SHIM_EXIT_STATUS,
  type LoadShimOptions,
  parseSandboxAddress,
  Shim,
  type ShimEventPublisher,
  ShimManager,
  type ShimManagerOptions,
  type ShimRef,
  type ShimTimeouts,
  type StartShimOptions,
  type SynthesizedTaskEvent,
  type SynthesizedTopic,
} from "./src/shim/manager.ts";
export { NAMESPACE_HEADER, type OpenConnectionOptions, ShimConnection } from "./src/shim/connection.ts";
export { EventBus, type EventSubscription, type SubscribeOptions } from "./src/events/bus.ts";
export { type EventFilter, matchesEventFilter, type TaskEvent, TOPIC_SCHEMAS } from "./src/events/topics.ts";
export { EventsListener, type EventsListenerOptions } from "./src/events/server.ts";
export { journalEventPublisher, type PublishedEvent, publishEvent } from "./src/events/publish.ts";

// ── restore, gc, doctor and locks ────────────────────────────────────────
export {
  chooseRuntime,
  type CleanedPath,
  type CleanupOptions,
  cleanupWorkDirs,
  type DialOutcome,
  dialOutcomeOf,
  INTERRUPTED_DELETE_GRACE_MS,
  isInterruptedDelete,
  type KeptShim,
  type LoadError,
  loadExisting,
  type LoadHost,
  type LoadOptions,
  type LoadReport,
  type ReapedShim,
  type RuntimeChoice,
  type ShimLiveness,
  shouldCleanupShim,
} from "./src/shim/loader.ts";
export {
  doctor,
  type DoctorOptions,
  type DoctorReport,
  probeBundle,
  takeInventory,
} from "./src/doctor/doctor.ts";
export {
  type BundleHealth,
  type BundleProbe,
  type BundleReport,
  classifyBundle,
  classifyInventory,
  type Diagnosis,
  type Inventory,
  type Problem,
  type ProblemCode,
  type Severity,
} from "./src/doctor/classify.ts";
export {
  acquireContainerLock,
  type ContainerLock,
  isStaleLockOwner,
  liveLockOwner,
  type LockOptions,
  type LockOwner,
  readLockOwner,
  removeStaleLocks,
  withContainerLock,
} from "./src/bundle/lock.ts";
