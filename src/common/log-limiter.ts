/**
 * Rate limit for repeated log lines: the first occurrence of each distinct key is logged, repeats within
 * `intervalMs` are counted instead, and the next line logged for that key says how many were suppressed.
 * For failures that repeat on every retry (a node that cannot reach its hub retries every few seconds):
 * the operator sees each distinct reason at once and then about once a minute, not a line per retry.
 */
export class LogRateLimiter {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100,
  ) {}

  /** Whether to log this occurrence of `key` now; when yes, `suppressed` repeats were left out since the last one. */
  admit(key: string): { log: true; suppressed: number } | { log: false } {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.suppressed++;
      return { log: false };
    }
    const suppressed = s?.suppressed ?? 0;
    this.seen.delete(key); // re-insert: the map stays in least-recently-logged order
    this.seen.set(key, { at: t, suppressed: 0 });
    // Keys with ever-changing text (ports, addresses) must not grow the map without bound.
    if (this.seen.size > this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    return { log: true, suppressed };
  }
}
