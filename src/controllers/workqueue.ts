/**
 * A rate-limited work queue with client-go's semantics: a key is queued at most once (dedup), a key being
 * processed is never handed to a second worker (if it is re-added meanwhile it is queued again on done()),
 * and failed keys come back after a per-key exponential backoff.
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called whenever the depth changes (for metrics). */
  onDepth?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  /** Keys waiting for a delayed add: the timer and the deadline it fires at. */
  private readonly delayed = new Map<string, { timer: NodeJS.Timeout; readyAt: number }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.opts.onDepth?.(this.queue.length);
  }

  /**
   * Adds the key after delayMs. A key already waiting keeps the earliest deadline, as client-go's delaying queue
   * does: a later addAfter never postpones it (a requeue-after must not starve a pending retry), an earlier one
   * moves it up.
   */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const readyAt = Date.now() + delayMs;
    const waiting = this.delayed.get(key);
    if (waiting) {
      if (waiting.readyAt <= readyAt) return;
      clearTimeout(waiting.timer);
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { timer, readyAt });
  }

  /** Re-adds after base * 2^failures (capped); returns the delay used. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.baseDelayMs * 2 ** n, this.maxDelayMs);
    this.addAfter(key, delay);
    return delay;
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Stops backing off this key (call after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Next key to process, or undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.opts.onDepth?.(this.queue.length);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const w of this.delayed.values()) clearTimeout(w.timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
