/**
 * client-go's EventCorrelator (tools/record/events_cache.go) for core/v1 Events, shared by the controllers' event
 * recorder and the edge agent (whose events reach the API through the hub):
 *
 * - aggregation: more than 10 events that differ only by message (same source, object, type, reason) within
 *   10 minutes become one Event "(combined from similar events): <latest message>";
 * - logging: an event identical to one seen before (same source, object incl. fieldPath, type, reason, message)
 *   updates that Event: same name, count + 1, the first occurrence's firstTimestamp, a new lastTimestamp;
 *   so `kubectl describe` shows `(x7 over 3m)` instead of seven rows;
 * - spam filter: per source and object, a token bucket of 25 events refilled at one per 5 minutes; events past it
 *   are dropped (their occurrences still count in the cache, as upstream).
 *
 * Caches are LRU-bounded (4096 entries each, as upstream).
 */
import type { CoreV1Event } from '@kubernetes/client-node';

export interface CorrelatorOptions {
  /** Entries per cache (default 4096). */
  lruSize?: number;
  /** Spam filter burst (default 25) and refill per second (default 1/300). */
  burst?: number;
  qps?: number;
  /** Similar events (differing by message) before they are combined (default 10), within this window (600 s). */
  maxSimilar?: number;
  similarWindowMs?: number;
  now?: () => number;
}

export interface CorrelatedEvent {
  /** The Event to write: named, counted, timestamped. */
  event: CoreV1Event;
  /**
   * An Event of this name was written before: update its count, lastTimestamp and message (upstream PATCHes
   * exactly those). When the update finds no such Event (expired by the API server's TTL), create `event` instead.
   */
  update: boolean;
}

/** Map with least-recently-used eviction. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: V): void {
    this.map.delete(key);
    this.map.set(key, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

interface Observed { name: string; count: number; firstTimestamp: string }
interface Similar { messages: Set<string>; lastMs: number }
interface Bucket { tokens: number; atMs: number }

/** Upstream's event timestamps: RFC 3339, whole seconds. */
export const eventTimestamp = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const COMBINED_PREFIX = '(combined from similar events): ';

function objectKey(e: CoreV1Event): string[] {
  const io = e.involvedObject ?? {};
  return [e.source?.component ?? '', e.source?.host ?? '', io.kind ?? '', io.namespace ?? '', io.name ?? '', io.uid ?? '', io.apiVersion ?? ''];
}

export class EventCorrelator {
  private readonly observed: Lru<Observed>;
  private readonly similar: Lru<Similar>;
  private readonly buckets: Lru<Bucket>;
  private readonly burst: number;
  private readonly qps: number;
  private readonly maxSimilar: number;
  private readonly similarWindowMs: number;
  private readonly now: () => number;
  private lastNameStamp = 0n;

  constructor(opts: CorrelatorOptions = {}) {
    const size = opts.lruSize ?? 4096;
    this.observed = new Lru(size);
    this.similar = new Lru(size);
    this.buckets = new Lru(size);
    this.burst = opts.burst ?? 25;
    this.qps = opts.qps ?? 1 / 300;
    this.maxSimilar = opts.maxSimilar ?? 10;
    this.similarWindowMs = opts.similarWindowMs ?? 600_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Correlate one occurrence (a core/v1 Event with involvedObject, reason, message, type and source; name and
   * timestamps are filled in here). Returns what to write, or undefined when the spam filter drops it.
   */
  correlate(input: CoreV1Event): CorrelatedEvent | undefined {
    const nowMs = this.now();
    const stamp = eventTimestamp(nowMs);
    const io = input.involvedObject ?? {};
    let event: CoreV1Event = { ...input, type: input.type ?? 'Normal', count: 1, firstTimestamp: stamp as unknown as Date, lastTimestamp: stamp as unknown as Date };

    // Aggregation: the similar-events key leaves the message out.
    const similarKey = [...objectKey(event), event.type ?? '', event.reason ?? '', event.reportingComponent ?? '', event.reportingInstance ?? ''].join('\u0000');
    let similar = this.similar.get(similarKey);
    if (!similar || nowMs - similar.lastMs > this.similarWindowMs) similar = { messages: new Set(), lastMs: nowMs };
    similar.messages.add(event.message ?? '');
    similar.lastMs = nowMs;
    this.similar.set(similarKey, similar);
    let key: string;
    if (similar.messages.size >= this.maxSimilar) {
      event = { ...event, message: COMBINED_PREFIX + (event.message ?? '') };
      key = similarKey;
    } else {
      key = [...objectKey(event), io.fieldPath ?? '', event.type ?? '', event.reason ?? '', event.message ?? ''].join('\u0000');
    }

    // Logging: an identical event seen before updates that Event.
    const seen = this.observed.get(key);
    let update = false;
    if (seen) {
      seen.count++;
      event = { ...event, metadata: { ...event.metadata, name: seen.name }, count: seen.count, firstTimestamp: seen.firstTimestamp as unknown as Date };
      update = true;
    } else {
      const name = input.metadata?.name || `${io.name ?? 'unknown'}.${this.nameSuffix(nowMs)}`;
      event = { ...event, metadata: { ...event.metadata, name } };
      this.observed.set(key, { name, count: 1, firstTimestamp: stamp });
    }

    if (!this.takeToken(objectKey(event).join('\u0000'), nowMs)) return undefined;
    return { event, update };
  }

  /** Token bucket per source and object: `burst` tokens, refilled at `qps`. */
  private takeToken(key: string, nowMs: number): boolean {
    const b = this.buckets.get(key) ?? { tokens: this.burst, atMs: nowMs };
    b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.atMs) / 1000) * this.qps);
    b.atMs = nowMs;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Upstream names events `<object>.<hex nanoseconds>`; strictly increasing here so two in one ms differ. */
  private nameSuffix(nowMs: number): string {
    const candidate = BigInt(Math.floor(nowMs)) * 1_000_000n;
    const stamp = candidate > this.lastNameStamp ? candidate : this.lastNameStamp + 1n;
    this.lastNameStamp = stamp;
    return stamp.toString(16);
  }
}
