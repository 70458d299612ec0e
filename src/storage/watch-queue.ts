/**
 * Delivery side of a watch whose events are pushed by a remote engine (etcd's watch stream): a bounded
 * per-watcher queue with the contract's backpressure (a handler's promise holds further delivery), overflow
 * (WatchOverflowError past the bound; the engine is never slowed) and deliveredThrough().
 *
 * Backends that replay from a log they can read (SQLite, PostgreSQL) use WatchHub instead, which also owns the
 * replay-then-live switch.
 */
import { WatchOverflowError, type WatchEvent, type WatchHandlers, type Watcher } from './types.js';

export class PushedWatchQueue implements Watcher {
  private queue: WatchEvent[] = [];
  private head = 0;
  private waiting = false;
  private done = false;
  private lastDelivered: number;
  /** Everything matching at or below this revision has been queued or delivered (the engine sent it). */
  private pushedThrough: number;

  constructor(
    fromRevision: number,
    private readonly handlers: WatchHandlers,
    private readonly bufferLimit: number,
    private readonly onEnd: () => void,
  ) {
    this.lastDelivered = fromRevision;
    this.pushedThrough = fromRevision;
  }

  get closed(): boolean {
    return this.done;
  }

  /** Resume point after a lost engine stream: everything at or below it was received. */
  get cursor(): number {
    return this.pushedThrough;
  }

  /** Events in revision order; `through` (optional) says the engine has sent everything up to it. */
  push(events: WatchEvent[], through = 0): void {
    if (this.done) return;
    for (const event of events) {
      if (event.revision <= this.pushedThrough) continue;
      this.pushedThrough = event.revision;
      this.queue.push(event);
    }
    if (through > this.pushedThrough) this.pushedThrough = through;
    this.advance();
    if (this.queue.length - this.head > this.bufferLimit) this.fail(new WatchOverflowError(this.lastDelivered, this.bufferLimit));
  }

  deliveredThrough(): number {
    return this.head < this.queue.length ? this.queue[this.head]!.revision - 1 : this.pushedThrough;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.queue = [];
    this.onEnd();
  }

  fail(err: Error): void {
    if (this.done) return;
    this.cancel();
    try {
      this.handlers.onError(err);
    } catch {
      // A failing error handler must not break the engine's event path.
    }
  }

  private advance(): void {
    while (!this.done && !this.waiting && this.head < this.queue.length) {
      const event = this.queue[this.head++]!;
      this.lastDelivered = event.revision;
      deliverEvent(this.handlers, event, this);
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  /** @internal deliverEvent: the handler's promise is pending (true) or settled (false). */
  setWaiting(waiting: boolean): void {
    this.waiting = waiting;
    if (!waiting) this.advance();
  }
}

/** What deliverEvent needs of a watcher: stop on an error, hold delivery while the handler's promise is pending. */
export interface DeliveryTarget {
  fail(err: Error): void;
  /** true: hold further delivery; false: the promise settled, go on delivering. */
  setWaiting(waiting: boolean): void;
}

/**
 * Hand one event to a watcher's handler with the contract's backpressure: a returned promise holds delivery until it
 * settles (setWaiting), a throw or a rejection ends the watcher (fail). Shared by WatchHub and PushedWatchQueue.
 */
export function deliverEvent(handlers: WatchHandlers, event: WatchEvent, target: DeliveryTarget): void {
  const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
  let result: void | Promise<void>;
  try {
    result = handlers.onEvent(event);
  } catch (err) {
    target.fail(asError(err));
    return;
  }
  if (result && typeof (result as Promise<void>).then === 'function') {
    target.setWaiting(true);
    (result as Promise<void>).then(
      () => target.setWaiting(false),
      (err: unknown) => target.fail(asError(err)),
    );
  }
}
