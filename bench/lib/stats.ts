/**
 * Timing and distribution helpers for benchmarks: percentiles by nearest rank, a monotonic
 * stopwatch, and a bounded-concurrency runner that records per-operation latency.
 */

export interface Distribution {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0]!;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Summary of samples (any unit; the caller names it). Empty input gives NaNs and count 0. */
export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted.length ? sorted[0]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** Milliseconds since `start` (from `now()`), monotonic. */
export const now = (): number => performance.now();
export const since = (start: number): number => performance.now() - start;

/** Time one async call; returns its result and the elapsed ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const t0 = now();
  const result = await fn();
  return { result, ms: since(t0) };
}

export interface ConcurrentRun {
  ops: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  opsPerSecond: number;
  latencyMs: Distribution;
}

/**
 * Run `op(i)` for i = 0..total-1 with at most `concurrency` in flight; measures wall time,
 * throughput and per-op latency. Errors are counted (and the first kept), not thrown, so a
 * benchmark reports a failure rate instead of dying half-way.
 */
export async function runConcurrent(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<ConcurrentRun> {
  if (!(concurrency >= 1)) throw new Error(`concurrency must be >= 1, got ${concurrency}`);
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const t0 = now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const s = now();
      try {
        await op(i);
        latencies.push(since(s));
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, worker));
  const wallMs = since(t0);
  return {
    ops: total,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    wallMs,
    opsPerSecond: wallMs > 0 ? ((total - errors) / wallMs) * 1000 : 0,
    latencyMs: distribution(latencies),
  };
}

/** Round for display/JSON (keeps results readable without losing meaningful precision). */
export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const MiB = 1024 * 1024;
export const toMiB = (bytes: number): number => round(bytes / MiB, 1);

/** Human-readable size: KiB below 1 MiB, MiB above (small links must not read as "0 MiB"). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < MiB) return `${round(bytes / 1024, 1)} KiB`;
  return `${round(bytes / MiB, 1)} MiB`;
}

/** A parseArgs string option as an integer ≥ min, or an error naming the flag and what was expected. */
export function intOption(values: Record<string, unknown>, name: string, min = 0): number {
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(values[name])}`);
  return v;
}
