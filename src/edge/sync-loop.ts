/**
 * A coalescing apply loop for node-local consumers that bring the kernel in line with the local store (the service
 * proxy, the NetworkPolicy enforcer): changes mark it dirty and start a `batchMs` timer; one `sync` runs at a time;
 * a failed sync is reported and retried with backoff (0.5 s doubling, at most 30 s).
 */
export interface SyncLoopOptions {
  batchMs: number;
  sync: () => Promise<void>;
  /** A sync failed; the loop retries in `retryInMs`. */
  onFailure: (err: unknown, retryInMs: number) => void;
}

export class SyncLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private dirty = false;
  private stopped = false;
  private failures = 0;

  constructor(private readonly o: SyncLoopOptions) {}

  /** Something changed: sync after `delay` (default the batch window), coalescing what comes meanwhile. */
  schedule(delay = this.o.batchMs): void {
    this.dirty = true;
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, delay);
    this.timer.unref();
  }

  /** Sync now if anything changed (without waiting for the timer); resolves when that sync is done. */
  now(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.dirty) return this.drain();
    return this.running;
  }

  /** Mark dirty and sync now (a start). */
  force(): Promise<void> {
    this.dirty = true;
    return this.now();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private drain(): Promise<void> {
    this.running = this.running.then(async () => {
      if (!this.dirty || this.stopped) return;
      this.dirty = false;
      try {
        await this.o.sync();
        this.failures = 0;
      } catch (err) {
        this.failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
        this.o.onFailure(err, delay);
        this.schedule(delay);
      }
    });
    return this.running;
  }
}
