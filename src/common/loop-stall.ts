/**
 * Logs when this thread's event loop stops turning (a long synchronous step, a long GC pause) and when a single GC
 * pause is long. Every edge link on a hub thread waits on that loop: a stall of tens of seconds makes every node
 * declare its link dead at once, so the operator needs to see it in the log with its length and the heap's size.
 * One timer per thread, unref'd; the GC observer costs one entry per collection.
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import type { Logger } from './logger.js';

export interface LoopStallOptions {
  /** Log a stall when the loop comes back this much later than asked (default 1,000 ms). */
  stallMs?: number;
  /** Log a single GC pause this long or longer (default 500 ms). */
  gcPauseMs?: number;
  /** How often the loop is checked (default 250 ms). */
  periodMs?: number;
}

const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-callbacks' };

export function watchLoopStalls(log: Logger, o: LoopStallOptions = {}): () => void {
  const stallMs = o.stallMs ?? 1_000;
  const gcPauseMs = o.gcPauseMs ?? 500;
  const periodMs = o.periodMs ?? 250;
  const heapMiB = () => Math.round(process.memoryUsage().heapUsed / 1048576);
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - periodMs;
    last = now;
    if (late >= stallMs) log.warn({ stalledMs: Math.round(late), heapUsedMiB: heapMiB() }, 'event loop stalled');
  }, periodMs);
  timer.unref();
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (e.duration < gcPauseMs) continue;
      log.warn({ gcMs: Math.round(e.duration), kind: GC_KINDS[e.detail?.kind ?? 0] ?? String(e.detail?.kind), heapUsedMiB: heapMiB() }, 'long garbage-collection pause');
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  return () => {
    clearInterval(timer);
    gc.disconnect();
  };
}
