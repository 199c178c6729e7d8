/**
 * An unbounded single-consumer message queue: the producer pushes, ends or
 * fails it; the consumer awaits `next()`. Streams use it on both sides.
 *
 * @module
 */

/** A push-fed queue consumed with `next()` or `for await`. */
export class MessageQueue<T> {
  #items: T[] = [];
  #head = 0;
  #waiter:
    | { resolve(v: IteratorResult<T>): void; reject(err: unknown): void }
    | null = null;
  #done = false;
  #error: unknown = undefined;
  #failed = false;

  /** True once `end` or `fail` was called. */
  get closed(): boolean {
    return this.#done;
  }

  /** Number of items waiting to be consumed. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Adds an item; ignored after `end` or `fail`.
   *
   * @param item the item
   */
  push(item: T): void {
    if (this.#done) return;
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w.resolve({ value: item, done: false });
      return;
    }
    this.#items.push(item);
  }

  /** Marks the end: the consumer gets the remaining items, then `done`. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /**
   * Fails the queue: the consumer gets the remaining items, then `err`.
   *
   * @param err the error the consumer receives
   */
  fail(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#failed = true;
    this.#error = err;
    const w = this.#waiter;
    if (w !== null) {
      this.#waiter = null;
      w.reject(err);
    }
  }

  /**
   * Fails the queue and drops anything not yet consumed.
   *
   * @param err the error the consumer receives
   */
  abort(err: unknown): void {
    this.#items = [];
    this.#head = 0;
    this.#done = false;
    this.fail(err);
  }

  /**
   * Takes the next item.
   *
   * @returns the next item, or `done` after `end`
   * @throws the error given to `fail`, once the queue is drained
   */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#items[this.#head];
      this.#items[this.#head++] = undefined as T;
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#done) {
      return this.#failed ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
    }
    if (this.#waiter !== null) {
      return Promise.reject(new Error("concurrent next() on a message queue"));
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }
}
