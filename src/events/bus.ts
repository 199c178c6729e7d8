/**
 * In-process event delivery: an {@link EventBus} fans published events out to
 * subscribers, each an async iterable with its own bounded queue.
 *
 * @module
 */

import { type EventFilter, matchesEventFilter, type TaskEvent } from "./topics.ts";

/** A live subscription: iterate it with `for await`; `close()` ends the iteration. */
export interface EventSubscription extends AsyncIterable<TaskEvent> {
  /** Ends the subscription; a pending `next()` resolves as done. Idempotent. */
  close(): void;
  /** True once closed. */
  readonly closed: boolean;
}

/** Options for {@link EventBus.subscribe}. */
export interface SubscribeOptions {
  /** Events kept for a slow consumer before the oldest are dropped (default 4096). */
  maxQueued?: number;
  /** Called once when the subscription closes. */
  onClose?: () => void;
}

class Subscriber implements EventSubscription {
  #queue: TaskEvent[] = [];
  #head = 0;
  #waiters: ((r: IteratorResult<TaskEvent>) => void)[] = [];
  #closed = false;
  dropped = 0;

  constructor(
    readonly filter: EventFilter,
    readonly max: number,
    private readonly onClose: (s: Subscriber) => void,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  push(ev: TaskEvent): void {
    if (this.#closed || !matchesEventFilter(ev, this.filter)) return;
    const w = this.#waiters.shift();
    if (w) {
      w({ value: ev, done: false });
      return;
    }
    if (this.#queue.length - this.#head >= this.max) {
      this.#head++;
      this.dropped++;
    }
    this.#queue.push(ev);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.onClose(this);
  }

  next(): Promise<IteratorResult<TaskEvent>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<TaskEvent> {
    return {
      next: () => this.next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Fans events out to in-process subscribers. */
export class EventBus {
  #subs = new Set<Subscriber>();

  /** Number of open subscriptions. */
  get size(): number {
    return this.#subs.size;
  }

  /**
   * Delivers an event to every subscriber whose filter matches.
   *
   * @param ev the event
   */
  publish(ev: TaskEvent): void {
    for (const s of this.#subs) s.push(ev);
  }

  /**
   * Opens a subscription.
   *
   * @param filter namespace and topics to receive (default: everything)
   * @param opts queue bound and close hook
   * @returns the subscription
   * @example
   * ```ts
   * const sub = bus.subscribe({ topics: ["/tasks/exit"] });
   * for await (const ev of sub) { console.log(ev.containerId); sub.close(); }
   * ```
   */
  subscribe(filter: EventFilter = {}, opts: SubscribeOptions = {}): EventSubscription {
    const sub = new Subscriber(filter, opts.maxQueued ?? 4096, (s) => {
      this.#subs.delete(s);
      opts.onClose?.();
    });
    this.#subs.add(sub);
    return sub;
  }

  /** Closes every subscription. */
  closeAll(): void {
    for (const s of [...this.#subs]) s.close();
  }
}
