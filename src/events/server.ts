/**
 * The events listener of a state dir: serves
 * `containerd.services.events.ttrpc.v1.Events/Forward` on the state's events
 * socket (the shims' `TTRPC_ADDRESS`) and appends every event to the journal,
 * which is how every shimkit process, listener or not, receives events.
 *
 * Only one process per state dir listens. Whoever finds the socket taken by
 * a live listener stays passive and retries periodically, so events keep
 * flowing when the first listener exits. The listener checks on the same
 * period that the socket file still names its socket; if another process
 * replaced it (both judged a dead listener's file stale at once), it steps
 * down and becomes passive, so no process serves a socket nobody can reach.
 * A closing listener removes its file before it stops accepting, so a shim
 * publishing meanwhile sees ENOENT, which it retries for 5 s, rather than
 * ECONNREFUSED, which makes it drop to a slow requeue. The socket and journal paths come
 * from `bundle/layout.ts` (`eventsSocketPath`, `eventsJournalPath`).
 *
 * @module
 */

import { Server } from "../../vendor/ttrpc-ts/mod.ts";
import { InvalidArgumentError, kindOf } from "../errors.ts";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import type { Envelope } from "../gen/containerd/types/event_pb.ts";
import type { Logger } from "../log/logger.ts";
import { nullLogger } from "../log/logger.ts";
import { timestampToDate } from "../taskapi/timestamp.ts";
import { appendJournalLine, formatJournalLine, type JournalRecord } from "./journal.ts";
import { decodeEventValue } from "./topics.ts";

/** sockaddr_un's sun_path holds 108 bytes including the terminating NUL. */
export const SOCKET_PATH_MAX = 107;

/** Options for {@link EventsListener.start}. */
export interface EventsListenerOptions {
  /** The events socket path (`TTRPC_ADDRESS` of the shims). */
  socketPath: string;
  /** The journal every received event is appended to. */
  journalPath: string;
  /** Logs listener changes and bad events. */
  logger?: Logger;
  /**
   * How often a passive process retries to become the listener, and how often the listener checks
   * that the socket file is still its own, in ms (default 250; 0 = never).
   */
  retryMs?: number;
  /** Called after each event was journaled. */
  onEvent?: (rec: JournalRecord) => void;
}

/**
 * Checks that a unix socket path fits sockaddr_un.
 *
 * @param path the socket path
 * @returns the path
 * @throws InvalidArgumentError naming the path and its length when it is too long
 */
export function checkSocketPath(path: string): string {
  const len = new TextEncoder().encode(path).length;
  if (len > SOCKET_PATH_MAX) {
    throw new InvalidArgumentError(
      `socket path "${path}" is ${len} bytes: the limit is ${SOCKET_PATH_MAX}; use a shorter state dir`,
    );
  }
  return path;
}

/** The events listener role of one process for one state dir. */
export class EventsListener {
  readonly #opts: EventsListenerOptions;
  readonly #log: Logger;
  #server: Server | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #attempt: Promise<boolean> | undefined;

  private constructor(opts: EventsListenerOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? nullLogger;
  }

  /**
   * Becomes the listener if no live process is one, else stays passive and
   * retries every `retryMs`.
   *
   * @param opts socket and journal paths, logger, retry period
   * @returns the listener role (check {@link EventsListener.listening})
   * @throws InvalidArgumentError when the socket path is too long
   */
  static async start(opts: EventsListenerOptions): Promise<EventsListener> {
    checkSocketPath(opts.socketPath);
    const l = new EventsListener(opts);
    await l.tryListen();
    return l;
  }

  /** True while this process serves the socket. */
  get listening(): boolean {
    return this.#server !== undefined;
  }

  /**
   * Tries once to become the listener (a no-op when it already is).
   *
   * @returns true when this process now serves the socket
   */
  tryListen(): Promise<boolean> {
    if (this.#server) return Promise.resolve(true);
    this.#attempt ??= this.#listenOnce().finally(() => (this.#attempt = undefined));
    return this.#attempt;
  }

  async #listenOnce(): Promise<boolean> {
    if (this.#closed) return false;
    const server = new Server();
    server.register(Events, { forward: (req) => this.#forward(req.envelope) });
    try {
      // listen() removes a stale socket file (nothing accepting) and fails with EADDRINUSE on a live one.
      await server.listen(this.#opts.socketPath);
    } catch (err) {
      await server.close().catch(() => {});
      if ((err as { code?: string }).code !== "EADDRINUSE" && kindOf(err) !== "already_exists") {
        this.#log.warn("events listener failed", { socket: this.#opts.socketPath, err });
      } else {
        this.#log.debug("events socket has a listener; staying passive", { socket: this.#opts.socketPath });
      }
      this.#schedule();
      return false;
    }
    if (this.#closed) {
      await server.close();
      return false;
    }
    this.#server = server;
    this.#log.debug("events listener started", { socket: this.#opts.socketPath });
    this.#schedule();
    return true;
  }

  /** While listening: steps down when the socket file no longer names this server's socket. */
  async #checkOwnership(): Promise<void> {
    const server = this.#server;
    if (!server || this.#closed) return;
    if (await server.socketsIntact()) return;
    if (this.#server !== server) return;
    this.#server = undefined;
    this.#log.debug("events socket was replaced by another process; now passive", {
      socket: this.#opts.socketPath,
    });
    // Connections already accepted keep being served until their shims reconnect elsewhere.
    await server.shutdown({ timeoutMs: 1000 }).catch(() => {});
  }

  #schedule(): void {
    const ms = this.#opts.retryMs ?? 250;
    if (this.#closed || ms <= 0 || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void (async () => {
        if (this.#server) await this.#checkOwnership();
        if (!this.#server) await this.tryListen();
        else this.#schedule();
      })();
    }, ms);
    // A passive retry must not keep the process alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  async #forward(env: Envelope | undefined): Promise<void> {
    if (!env) return;
    const rec: JournalRecord = {
      timestamp: timestampToDate(env.timestamp) ?? new Date(),
      namespace: env.namespace,
      topic: env.topic,
      typeUrl: env.event?.typeUrl ?? "",
      value: env.event?.value ?? new Uint8Array(0),
    };
    let event: Record<string, unknown> | undefined;
    try {
      event = decodeEventValue(rec.typeUrl, rec.value);
    } catch (err) {
      this.#log.warn("undecodable event", { topic: rec.topic, typeUrl: rec.typeUrl, err });
    }
    await appendJournalLine(this.#opts.journalPath, formatJournalLine(rec, event));
    this.#opts.onEvent?.(rec);
  }

  /**
   * Stops listening (removing the socket) and stops retrying. Idempotent.
   *
   * @returns when the socket is closed
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#attempt;
    const s = this.#server;
    this.#server = undefined;
    await s?.shutdown({ timeoutMs: 1000 });
  }
}
