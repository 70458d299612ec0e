/** Exponential back-off per key (the kubelet's flowcontrol.Backoff): base, doubling, capped. */
export class Backoff {
  private readonly entries = new Map<string, { delayMs: number; until: number }>();

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
  ) {}

  inBackoff(key: string, now = Date.now()): boolean {
    const e = this.entries.get(key);
    return !!e && now < e.until;
  }

  /** Remaining back-off in ms (0 when none). */
  remaining(key: string, now = Date.now()): number {
    const e = this.entries.get(key);
    return e ? Math.max(0, e.until - now) : 0;
  }

  /** Records a failure: the next attempt must wait base, 2×base, 4×base … up to max. */
  next(key: string, now = Date.now()): number {
    const prev = this.entries.get(key);
    const delayMs = prev ? Math.min(prev.delayMs * 2, this.maxMs) : this.baseMs;
    this.entries.set(key, { delayMs, until: now + delayMs });
    return delayMs;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  forgetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
