/**
 * Periodic compaction with a retained window, as the Kubernetes API server does for etcd (every
 * 5 minutes). Keeping the newest `retainRevisions` revisions lets watchers that reconnect after a
 * short break resume instead of getting 410 Gone.
 */
import type { Store } from './types.js';

export interface AutoCompactionOptions {
  /** How often to compact (Kubernetes: 5 minutes). */
  intervalMs: number;
  /** Revisions of history to keep behind the current one. */
  retainRevisions: number;
  /** Told about a failed compaction; the next tick tries again. */
  onError?: (err: Error) => void;
}

export interface AutoCompaction {
  /** Compact now (what each tick does); resolves to the revision compacted through, or null if none. */
  runOnce(): Promise<number | null>;
  stop(): void;
}

export function startAutoCompaction(store: Store, options: AutoCompactionOptions): AutoCompaction {
  let running: Promise<number | null> | null = null;
  const runOnce = async (): Promise<number | null> => {
    const target = (await store.currentRevision()) - Math.max(0, options.retainRevisions);
    if (target <= (await store.compactedRevision())) return null;
    await store.compact(target);
    return target;
  };
  const timer = setInterval(() => {
    if (running) return; // a slow compaction is still going: skip this tick
    running = runOnce()
      .catch((err: Error) => {
        options.onError?.(err);
        return null;
      })
      .finally(() => {
        running = null;
      });
  }, options.intervalMs);
  // Compaction alone must not keep the process alive.
  timer.unref();
  return {
    runOnce,
    stop: () => clearInterval(timer),
  };
}
