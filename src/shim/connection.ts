/**
 * One TTRPC connection to a shim: dialed once with no retry (a missing or
 * refused socket fails at once), the namespace header on every call, the
 * task API version picked from the bootstrap version and lowered from 3 to 2
 * when the shim answers NotImplemented, and a hook for connection loss that
 * does not fire when we close it ourselves.
 *
 * @module
 */

import { Client } from "../../vendor/ttrpc-ts/mod.ts";
import { dialConn } from "../platform/ttrpc_conn.ts";
import { isNotImplemented, withContext } from "../errors.ts";
import { type TaskApiVersion, TaskClient } from "../taskapi/client.ts";
import type { ConnectInfo } from "../taskapi/types.ts";

/** The TTRPC metadata key carrying the namespace; the runc shim's Create fails without it. */
export const NAMESPACE_HEADER = "containerd-namespace-ttrpc";

/** Options for {@link ShimConnection.open}. */
export interface OpenConnectionOptions {
  /** The dial address (`unix:///path`, `/path`, `unix://@name`, `\0name`). */
  address: string;
  /** Namespace sent in the metadata header of every call. */
  namespace: string;
  /** Container id, sent in the first `Connect`. */
  id: string;
  /** The task API version from the bootstrap data (default 2); 3 is lowered to 2 on NotImplemented. */
  version?: TaskApiVersion;
  /** Bound for dial plus the first `Connect`, in ms (default 5000). */
  timeoutMs?: number;
}

/** A live connection to a shim with its typed Task client. */
export class ShimConnection {
  /** The address dialed. */
  readonly address: string;
  /** The namespace of every call. */
  readonly namespace: string;
  /** The task API version in use after negotiation. */
  readonly version: TaskApiVersion;
  /** The typed Task client. */
  readonly task: TaskClient;
  /** What the first `Connect` reported (shim pid, task pid, shim version). */
  readonly info: ConnectInfo;
  readonly #client: Client;
  #closing = false;
  readonly #lost = new Set<(err?: Error) => void>();

  private constructor(
    address: string,
    namespace: string,
    client: Client,
    task: TaskClient,
    info: ConnectInfo,
  ) {
    this.address = address;
    this.namespace = namespace;
    this.#client = client;
    this.task = task;
    this.version = task.version;
    this.info = info;
    client.onClose((err) => {
      if (this.#closing) return;
      this.#closing = true;
      for (const cb of [...this.#lost]) {
        try {
          cb(err);
        } catch {
          // A failing hook must not keep the others from running.
        }
      }
      this.#lost.clear();
    });
  }

  /**
   * Dials the shim and runs `Connect`, lowering the task API version from 3
   * to 2 when the shim does not serve v3.
   *
   * @param opts address, namespace, id, version, timeout
   * @returns the open connection
   * @throws NotFoundError / UnavailableError when the socket is missing or refuses (no retry);
   *   DeadlineExceededError past the timeout; the Connect error otherwise
   */
  static async open(opts: OpenConnectionOptions): Promise<ShimConnection> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    let client: Client;
    try {
      // The runtime's cheapest socket: Deno.connect on Deno, node:net elsewhere (platform/ttrpc_conn.ts).
      client = new Client(await dialConn(opts.address, { timeoutMs }), {
        metadata: { [NAMESPACE_HEADER]: opts.namespace },
      });
    } catch (err) {
      throw withContext(err, `connect to shim "${opts.address}"`);
    }
    let version: TaskApiVersion = opts.version ?? 2;
    try {
      for (;;) {
        const task = new TaskClient(client, version);
        try {
          const info = await task.connect(opts.id, { timeoutMs: Math.max(1, deadline - Date.now()) });
          return new ShimConnection(opts.address, opts.namespace, client, task, info);
        } catch (err) {
          if (version === 3 && isNotImplemented(err)) {
            version = 2;
            continue;
          }
          throw err;
        }
      }
    } catch (err) {
      client.close();
      throw withContext(err, `connect to shim "${opts.address}"`);
    }
  }

  /** True once closed by us or lost. */
  get closed(): boolean {
    return this.#client.closed;
  }

  /**
   * Registers a callback for an unexpected end of the connection (the shim
   * died or closed it). It never runs after {@link ShimConnection.close}.
   *
   * @param cb receives the socket error, if any
   * @returns a function that unregisters it
   */
  onLost(cb: (err?: Error) => void): () => void {
    this.#lost.add(cb);
    return () => this.#lost.delete(cb);
  }

  /**
   * Marks the connection as going away on purpose: a close that follows
   * (ours, or the shim's after `Shutdown`) does not count as a loss.
   */
  expectClose(): void {
    this.#closing = true;
  }

  /** Closes the connection; pending calls fail with Unavailable. Idempotent; fires no loss hook. */
  close(): void {
    this.#closing = true;
    this.#client.close();
  }
}
