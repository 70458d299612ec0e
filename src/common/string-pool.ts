/**
 * One instance per distinct short string value in long-lived caches of decoded objects. JSON.parse gives every
 * string value its own copy, so 100,000 cached pods hold 100,000 copies of "IfNotPresent", their image, their
 * namespace, "/var/run/secrets/kubernetes.io/serviceaccount"... Measured on the fleet bench's pods: ~1.4 KiB of a
 * ~5 KiB decoded pod were such repeats (docs/design/server-memory.md). Interning a freshly decoded object makes
 * equal values share one string; the copies become garbage.
 *
 * The pool is bounded: once it holds `maxEntries` strings it is emptied and starts again, so values seen once
 * (names, uids, timestamps) cannot pile up; objects interned before a reset keep sharing what they share. Only
 * strings up to `maxLength` are pooled (long ones rarely repeat: tokens, certificates, JSON blobs).
 */
export class StringPool {
  private pool = new Map<string, string>();

  constructor(private readonly maxEntries = 16_384, private readonly maxLength = 128) {}

  intern(s: string): string {
    if (s.length > this.maxLength) return s;
    const hit = this.pool.get(s);
    if (hit !== undefined) return hit;
    if (this.pool.size >= this.maxEntries) this.pool.clear();
    this.pool.set(s, s);
    return s;
  }

  /**
   * Replaces every string value (not keys: JSON.parse already shares those) in a JSON value with the pool's
   * equal instance, in place, and returns it. Only for values decoded for the caller alone: it mutates them.
   */
  internAll<T>(value: T): T {
    this.walk(value as unknown);
    return value;
  }

  private walk(v: unknown): void {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (typeof x === 'string') v[i] = this.intern(x);
        else if (x !== null && typeof x === 'object') this.walk(x);
      }
      return;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if (typeof x === 'string') o[k] = this.intern(x);
      else if (x !== null && typeof x === 'object') this.walk(x);
    }
  }

  get size(): number {
    return this.pool.size;
  }
}

/** The pool this thread's caches share (each worker thread has its own). */
export const sharedStrings = new StringPool();
