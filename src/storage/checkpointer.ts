/**
 * The background WAL checkpointer: a worker thread (checkpointer-worker.ts) with its own connection to the
 * store's file. SQLite's autocheckpoint runs inside the commit that crosses 1,000 WAL pages, on the
 * committing thread, and fsyncs twice there; at fleet scale that was ~5% of the API server's thread
 * (bench/RESULTS.md, fleet). This moves it to a thread of its own.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CHECKPOINT_SLOTS, CheckpointSlot, type CheckpointerWorkerData } from './checkpointer-slots.js';

export interface CheckpointerOptions {
  /** Pause between rounds, ms. */
  intervalMs: number;
  /** WAL frames left after the PASSIVE rounds that make the checkpointer RESTART the WAL. */
  restartFrames: number;
  /** Called when the thread fails to start later on or dies: the store then checkpoints inline. */
  onFailure(err: Error): void;
  /** Called for an error inside one round (the thread keeps going). */
  onRoundError(message: string): void;
}

export interface CheckpointerStats {
  rounds: number;
  restarts: number;
  walFrames: number;
  lastRoundMs: number;
  lastRoundAt: number;
  errors: number;
}

/** Built code runs `.js`; from source (tsx, tests) the sibling `.ts` is what exists. */
function runnableUrl(url: URL): { url: URL; fromSource: boolean } {
  if (existsSync(fileURLToPath(url))) return { url, fromSource: false };
  return { url: new URL(url.href.replace(/\.js$/, '.ts')), fromSource: true };
}

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly slots: Float64Array;
  private stopping = false;
  private readonly exited: Promise<number>;

  private constructor(worker: Worker, slots: Float64Array, options: CheckpointerOptions) {
    this.worker = worker;
    this.slots = slots;
    this.exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('message', (m: { type?: string; error?: string }) => {
      if (m.type === 'error') options.onRoundError(m.error ?? 'unknown error');
    });
    worker.on('error', (err) => {
      if (!this.stopping) options.onFailure(err);
    });
    void this.exited.then((code) => {
      if (!this.stopping) options.onFailure(new Error(`checkpointer thread exited (code ${code})`));
    });
    // The thread only copies pages: it must not keep a process alive that has nothing else to do.
    worker.unref();
  }

  /** Start the thread on the store file at `path`; resolves once its connection is open. */
  static async start(path: string, options: CheckpointerOptions): Promise<BackgroundCheckpointer> {
    const shared = new SharedArrayBuffer(CHECKPOINT_SLOTS * Float64Array.BYTES_PER_ELEMENT);
    const data: CheckpointerWorkerData = {
      path,
      shared,
      intervalMs: options.intervalMs,
      busyTimeoutMs: 1000,
      catchUpRounds: 4,
      restartFrames: options.restartFrames,
    };
    const entry = runnableUrl(new URL('./checkpointer-worker.js', import.meta.url));
    // From source the worker needs tsx's loader first (a worker does not run the parent's --import).
    const worker = entry.fromSource
      ? new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.url.href)}); })`, {
          eval: true,
          name: 'sqlite-checkpointer',
          workerData: data,
        })
      : new Worker(entry.url, { name: 'sqlite-checkpointer', workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { type?: string }) => m.type === 'started' && resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`checkpointer thread exited (code ${code}) before it started`)));
    });
    return new BackgroundCheckpointer(worker, new Float64Array(shared), options);
  }

  stats(): CheckpointerStats {
    const s = this.slots;
    return {
      rounds: s[CheckpointSlot.Rounds]!,
      restarts: s[CheckpointSlot.Restarts]!,
      walFrames: s[CheckpointSlot.WalFrames]!,
      lastRoundMs: s[CheckpointSlot.LastRoundMs]!,
      lastRoundAt: s[CheckpointSlot.LastRoundAt]!,
      errors: s[CheckpointSlot.Errors]!,
    };
  }

  /** Ask the thread to close its connection and end; a thread stuck in SQLite is terminated after 5 s. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.worker.ref(); // something must keep the event loop alive while we wait for the thread to end
    this.worker.postMessage({ type: 'stop' });
    const timeout = new Promise<void>((r) => setTimeout(r, 5_000).unref());
    await Promise.race([this.exited, timeout]);
    await this.worker.terminate();
  }
}
