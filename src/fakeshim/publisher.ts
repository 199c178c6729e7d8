/**
 * The fake shim's event publisher: an in-order queue of task events sent to
 * `TTRPC_ADDRESS` with `containerd.services.events.ttrpc.v1.Events/Forward`,
 * the way pkg/shim's publisher does (protocol-facts.md §5): lazy dial,
 * ENOENT retried for a while, failed events retried a bounded number of times
 * and then dropped. Publishing never blocks an RPC.
 *
 * @module
 */

import { create } from "../api/protobuf.ts";
import type { Any } from "@bufbuild/protobuf/wkt";
import { Client, Code, createClient, TtrpcError } from "../../vendor/ttrpc-ts/mod.ts";
import { Events } from "../gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { EnvelopeSchema } from "../gen/containerd/types/event_pb.ts";
import type { Logger } from "../log/logger.ts";
import { dateToTimestamp } from "../taskapi/timestamp.ts";
import { NAMESPACE_HEADER } from "./task_service.ts";

/** Options of {@link EventPublisher}. */
export interface PublisherOptions {
  /** TTRPC_ADDRESS: a socket path, `unix://` prefix allowed. */
  address: string;
  /** Namespace put in every envelope and in the request header. */
  namespace: string;
  /** Logger for failures. */
  log: Logger;
  /** Sends per event before it is dropped (default 5, like pkg/shim). */
  attempts?: number;
  /** Delay unit between attempts; attempt n waits n × this (default 1000 ms). */
  retryDelayMs?: number;
  /** How long ENOENT/ECONNREFUSED dials are retried, every 10 ms (default 5000 ms). */
  dialTimeoutMs?: number;
  /** Per-Forward timeout (default 5000 ms). */
  callTimeoutMs?: number;
  /** Most queued events; newer ones are dropped beyond it (default 2048). */
  capacity?: number;
}

interface Item {
  topic: string;
  event: Any;
  at: Date;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The error a call gets when its connection closed under it (ttrpc.ErrClosed in Go). */
function isClosedConnection(err: unknown): boolean {
  return err instanceof TtrpcError && err.code === Code.Unavailable && err.message === "ttrpc: closed";
}

/** Publishes task events in order, one at a time, to a TTRPC Events service. */
export class EventPublisher {
  readonly #opts: Required<PublisherOptions>;
  readonly #queue: Item[] = [];
  #client: Client | undefined;
  #running = false;
  #closed = false;
  #idle: Array<() => void> = [];

  /** @param opts where and how to publish */
  constructor(opts: PublisherOptions) {
    this.#opts = {
      attempts: 5,
      retryDelayMs: 1000,
      dialTimeoutMs: 5000,
      callTimeoutMs: 5000,
      capacity: 2048,
      ...opts,
      address: opts.address.replace(/^unix:\/\//, ""),
    };
  }

  /** Events not yet sent (or dropped). */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Queues an event; returns at once.
   *
   * @param topic e.g. `/tasks/exit`
   * @param event the event message packed in an Any (bare type URL)
   */
  publish(topic: string, event: Any): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#opts.capacity) {
      this.#opts.log.warn("event queue full, dropping event", { topic });
      return;
    }
    this.#queue.push({ topic, event, at: new Date() });
    if (!this.#running) void this.#run();
  }

  /**
   * Waits until the queue is empty, or the timeout passes.
   *
   * @param timeoutMs the bound
   * @returns true when everything was sent or dropped
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (!this.#running && this.#queue.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.#idle.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Drops queued events and closes the connection. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#client?.close();
    this.#client = undefined;
    for (const w of this.#idle.splice(0)) w();
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0 && !this.#closed) {
      const item = this.#queue[0];
      await this.#send(item);
      this.#queue.shift();
    }
    this.#running = false;
    for (const w of this.#idle.splice(0)) w();
  }

  async #send(item: Item): Promise<void> {
    let redialed = false;
    for (let attempt = 1; attempt <= this.#opts.attempts && !this.#closed; attempt++) {
      const reused = this.#client !== undefined;
      try {
        const client = await this.#connect();
        await createClient(Events, client).forward(
          {
            envelope: create(EnvelopeSchema, {
              timestamp: dateToTimestamp(item.at),
              namespace: this.#opts.namespace,
              topic: item.topic,
              event: item.event,
            }),
          },
          { timeoutMs: this.#opts.callTimeoutMs },
        );
        return;
      } catch (err) {
        this.#client?.close();
        this.#client = undefined;
        if (this.#closed) return;
        if (reused && !redialed && isClosedConnection(err)) {
          // The listener that accepted our connection went away (its process exited) since the
          // last event: reconnect and resend at once, without counting an attempt (pkg/shim's
          // publisher does the same on ttrpc.ErrClosed).
          redialed = true;
          attempt--;
          this.#opts.log.debug("events connection closed; reconnecting", { topic: item.topic });
          continue;
        }
        this.#opts.log.warn("post event failed", { topic: item.topic, attempt, error: err });
        if (attempt < this.#opts.attempts) await sleep(attempt * this.#opts.retryDelayMs);
      }
    }
    this.#opts.log.error("dropping event after retries", { topic: item.topic });
  }

  async #connect(): Promise<Client> {
    if (this.#client?.closed) this.#client = undefined;
    if (this.#client) return this.#client;
    const deadline = Date.now() + this.#opts.dialTimeoutMs;
    for (;;) {
      try {
        this.#client = await Client.dial(this.#opts.address, {
          metadata: { [NAMESPACE_HEADER]: this.#opts.namespace },
          dialTimeoutMs: Math.max(100, deadline - Date.now()),
        });
        return this.#client;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() >= deadline || this.#closed) {
          throw err;
        }
        await sleep(10);
      }
    }
  }
}
