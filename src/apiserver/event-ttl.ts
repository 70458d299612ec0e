/**
 * Events expire one TTL after their last write, as kube-apiserver's `--event-ttl` (default 1h) does with an etcd
 * lease on every event write. Without it every pod start's 4-5 Events stay in SQLite and the watch cache forever.
 *
 * How: the sweeper watches the Events cache (core/v1 and events.k8s.io/v1 share `/registry/core/events/`), keeps
 * one deadline per event key and a min-heap ordered by deadline, and a single timer set to the earliest one.
 * A write moves the key's deadline to now + TTL without touching the heap (deadlines only ever move later): when
 * the stale heap entry comes due, it is pushed again at the newer deadline. So the heap holds one entry per event,
 * and no tick scans all events. An expired event is deleted through the store with its last seen revision as the
 * precondition, so watchers see DELETED, the revision advances, and a concurrent update wins (it reschedules).
 *
 * Restart: the store keeps revisions, not write times. Events present when the sweeper starts get the latest of
 * their own timestamps (metadata.creationTimestamp, lastTimestamp, firstTimestamp, eventTime,
 * series.lastObservedTime, managedFields[].time — the server stamps the last on every write that changes fields)
 * as their last write, capped at now. That is a lower bound: an event rewritten without any timestamp moving may
 * expire up to one TTL early after a restart, never late — a restart never makes an event live longer.
 */
import type { Store } from '../storage/types.js';
import { ConflictError, KeyNotFoundError } from '../storage/types.js';
import type { CacheEvent, WatchCacheFeed } from '../apimachinery/watchcache.js';
import type { KubeObject } from '../apimachinery/object.js';
import type { Logger } from '../common/logger.js';

/** Where both Event APIs keep their objects (events.k8s.io/v1 converts to core/v1 on the way in). */
export const EVENTS_PREFIX = '/registry/core/events/';
export const DEFAULT_EVENT_TTL_MS = 60 * 60_000;

export { parseGoDuration } from '../common/duration.js';

/** The latest write time an event's own fields prove (ms since epoch), or 0 if none parses. */
export function lastWriteLowerBound(obj: KubeObject): number {
  // Both Event shapes: core/v1 (first/lastTimestamp) and events.k8s.io/v1 (eventTime, series).
  const o = obj as KubeObject & { lastTimestamp?: unknown; firstTimestamp?: unknown; eventTime?: unknown; series?: { lastObservedTime?: unknown } };
  const candidates: unknown[] = [
    obj.metadata?.creationTimestamp, o.lastTimestamp, o.firstTimestamp, o.eventTime, o.series?.lastObservedTime,
    ...((obj.metadata?.managedFields ?? []) as { time?: unknown }[]).map((f) => f.time),
  ];
  let best = 0;
  for (const c of candidates) {
    const t = typeof c === 'string' ? Date.parse(c) : c instanceof Date ? c.getTime() : NaN;
    if (Number.isFinite(t) && t > best) best = t;
  }
  return best;
}

interface HeapEntry { at: number; key: string }

/** Min-heap of deadlines. */
class DeadlineHeap {
  private readonly a: HeapEntry[] = [];
  get size(): number { return this.a.length; }
  peek(): HeapEntry | undefined { return this.a[0]; }
  push(e: HeapEntry): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.at <= e.at) break;
      a[i] = a[p]!; i = p;
    }
    a[i] = e;
  }
  pop(): HeapEntry | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (!a.length || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < a.length && a[l]!.at < mAt) { m = l; mAt = a[l]!.at; }
      if (r < a.length && a[r]!.at < mAt) m = r;
      if (m === i) break;
      a[i] = a[m]!; i = m;
    }
    a[i] = last;
    return top;
  }
}

export interface EventTtlOptions {
  store: Store;
  feed: WatchCacheFeed;
  /** Milliseconds an event lives after its last write; 0 disables expiry (upstream attaches no lease then). */
  ttlMs: number;
  log?: Logger;
  /** Clock (tests). */
  now?: () => number;
  /** Arm a timer for the next deadline (default true; tests call sweep() themselves). */
  timers?: boolean;
}

/** How many deletes are in flight at once: at scale an hour-old burst of pod starts expires together. */
const DELETE_CONCURRENCY = 64;

export class EventTtlSweeper {
  /**
   * Event key → its current deadline, the revision that deadline belongs to, and the deadline of its one live heap
   * entry (`queuedAt`): an entry whose deadline differs is a stray (the key was deleted and created again) and is dropped.
   */
  private readonly due = new Map<string, { at: number; revision: number; queuedAt: number }>();
  private readonly heap = new DeadlineHeap();
  private timer: NodeJS.Timeout | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private unwatch: (() => void) | undefined;
  private sweeping: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: EventTtlOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Events being tracked (tests, metrics). */
  get tracked(): number { return this.due.size; }

  async start(): Promise<void> {
    if (this.o.ttlMs <= 0) return;
    const cache = await this.o.feed.cache(EVENTS_PREFIX);
    let initial = true;
    const onEvent = (ev: CacheEvent): boolean => {
      if (this.stopped) return false;
      if (ev.type === 'DELETED') { this.due.delete(ev.key); return true; }
      const now = this.now();
      // Written now (live), or stored before we started (initial state): then its own timestamps, capped at now.
      const written = initial ? Math.min(lastWriteLowerBound(ev.obj), now) : now;
      this.track(ev.key, written + this.o.ttlMs, ev.revision);
      return true;
    };
    this.unwatch = cache.watchWithInitialState({
      onEvent,
      // The feed is rebuilding its caches (store watch lost): once it has dropped the old ones, start over from a fresh
      // cache, keeping known deadlines (track() never moves one earlier).
      onClose: () => {
        if (this.stopped) return;
        this.unwatch = undefined;
        this.rewatchTimer = setTimeout(() => { void this.start().catch((err) => this.o.log?.warn({ err }, 'event ttl: re-watch failed')); }, 100);
      },
    });
    initial = false;
    this.arm();
  }

  private track(key: string, at: number, revision: number): void {
    const cur = this.due.get(key);
    if (cur) {
      // Deadlines only move later; the heap entry at the older deadline re-queues itself when it comes due.
      cur.at = Math.max(cur.at, at);
      cur.revision = revision;
      return;
    }
    this.due.set(key, { at, revision, queuedAt: at });
    this.heap.push({ at, key });
    if (at < this.timerAt) this.arm();
  }

  private arm(): void {
    if (this.o.timers === false || this.stopped) return;
    const next = this.heap.peek();
    if (!next) return;
    if (this.timer && this.timerAt <= next.at) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    // setTimeout's limit is ~24.8 days; a later deadline just re-arms.
    const delay = Math.min(Math.max(0, next.at - this.now()), 0x7fffffff);
    this.timer = setTimeout(() => { this.timer = undefined; this.timerAt = Infinity; void this.sweep(); }, delay);
    this.timer.unref();
  }

  /** Delete every event whose deadline has passed. Concurrent calls share one pass. */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => { this.sweeping = undefined; this.arm(); });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const now = this.now();
    const expired: { key: string; revision: number }[] = [];
    for (let top = this.heap.peek(); top && top.at <= now; top = this.heap.peek()) {
      this.heap.pop();
      const cur = this.due.get(top.key);
      if (!cur || cur.queuedAt !== top.at) continue; // deleted meanwhile, or a stray from an earlier incarnation
      if (cur.at > now) { this.requeue(top.key, cur); continue; } // written again: later deadline
      cur.queuedAt = -1; // in flight: no heap entry until a failed delete puts it back
      expired.push({ key: top.key, revision: cur.revision });
    }
    for (let i = 0; i < expired.length && !this.stopped; i += DELETE_CONCURRENCY) {
      await Promise.all(expired.slice(i, i + DELETE_CONCURRENCY).map((e) => this.expire(e.key, e.revision)));
    }
    if (expired.length) this.o.log?.debug({ expired: expired.length }, 'events expired');
  }

  private async expire(key: string, revision: number): Promise<void> {
    try {
      await this.o.store.delete(key, revision);
      // The cache's DELETED removes it from `due`; drop it now too in case that event is still on its way.
      if (this.due.get(key)?.revision === revision) this.due.delete(key);
    } catch (err) {
      const entry = this.due.get(key);
      if (!entry) return; // its DELETED already arrived
      if (err instanceof KeyNotFoundError && entry.revision === revision) { this.due.delete(key); return; }
      // Rewritten after we looked (ConflictError, or deleted and created again), or the store failed (busy,
      // closing): the event stays queued, at its new deadline once the cache delivers that write, else in a second.
      entry.at = Math.max(entry.at, this.now() + 1000);
      this.requeue(key, entry);
      if (!(err instanceof ConflictError || err instanceof KeyNotFoundError)) this.o.log?.warn({ err, key }, 'event ttl: delete failed');
    }
  }

  private requeue(key: string, entry: { at: number; queuedAt: number }): void {
    entry.queuedAt = entry.at;
    this.heap.push({ at: entry.at, key });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.rewatchTimer);
    this.timer = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
  }
}
