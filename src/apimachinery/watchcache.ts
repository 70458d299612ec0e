/**
 * The watch cache: ONE store watch over a root prefix feeds an in-memory copy of every resource that someone
 * lists or watches. Lists are answered from memory (10,000 pods without touching the store), and any number of
 * watchers fan out from the same event stream instead of each opening a store watch.
 *
 * Consistency: the feed applies events in revision order; `waitFresh()` waits until the feed has seen the store's
 * current revision, so a list served after a write acknowledged by this process always contains that write.
 */
import type { KeyValue, Store, WatchEvent, Watcher as StoreWatcher } from '../storage/types.js';
import { decodeKv, type KubeObject } from './object.js';
import { sharedStrings } from '../common/string-pool.js';
import { tooLargeResourceVersion, tooOldResourceVersion } from './status.js';
import { SHARED_LABEL, TENANT_LABEL } from '../common/tenancy.js';

/**
 * Labels whose values index a cache (besides metadata.namespace), so a tenant's objects are listed from their
 * bucket instead of a scan of the whole resource (docs/design/tenancy.md): the tenant label and the NodePool label
 * (a Tenant may own pools).
 */
const INDEXED_LABELS = [TENANT_LABEL, SHARED_LABEL, 'apps.openyurt.io/nodepool'] as const;

/** An index bucket's name: objects of one namespace, or with one value of an indexed label. */
export function namespaceBucket(namespace: string): string { return `ns\u0000${namespace}`; }
export function labelBucket(label: string, value: string): string { return `label\u0000${label}\u0000${value}`; }

function bucketsOf(obj: KubeObject): string[] {
  const out = [namespaceBucket(obj.metadata?.namespace ?? '')];
  const labels = obj.metadata?.labels;
  if (labels) for (const l of INDEXED_LABELS) { const v = labels[l]; if (v !== undefined) out.push(labelBucket(l, v)); }
  return out;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CachedObject {
  readonly key: string;
  /** The decoded object. Shared by every reader: never mutate it (copy first). */
  readonly obj: KubeObject;
  /** JSON text of obj (resourceVersion included), reused by every response that carries it. */
  readonly raw: string;
  readonly revision: number;
}

export interface CacheEvent extends CachedObject {
  readonly type: EventType;
  /** The object as it was before this event (for selector transitions: MODIFIED out of a selector = DELETED). */
  readonly prev?: CachedObject;
}

/**
 * One cached version of an object. Its JSON text is kept only while the version is among the newest changes
 * (`WatchCacheOptions.rawWindow`): that is when it pays (every watcher's event, the update that soon follows
 * a write, a watch resuming a moment later). Older versions render on demand without keeping the text: a
 * pod's text is ~3.3 KiB next to ~5 KiB of decoded object, and 100,000 pods' texts would be ~330 MiB that
 * only a full relist reads.
 */
export class CacheEntry implements CachedObject {
  private text: string | undefined;
  /** Whether `raw` keeps the text it computes (set while the version is among the newest changes). */
  hot = false;

  constructor(readonly key: string, readonly obj: KubeObject, readonly revision: number) {}

  get raw(): string {
    if (this.text !== undefined) return this.text;
    const text = JSON.stringify(this.obj);
    if (this.hot) this.text = text;
    return text;
  }

  /** Whether the JSON text is held (for tests and memory accounting). */
  get holdsText(): boolean {
    return this.text !== undefined;
  }

  /** The version left the window of newest changes: drop its text. */
  cool(): void {
    this.hot = false;
    this.text = undefined;
  }
}

/** A change of one object; shares its new version's entry (and so its JSON text) with the cache's items. */
class CacheChange implements CacheEvent {
  constructor(readonly entry: CachedObject, readonly type: EventType, readonly prev: CachedObject | undefined) {}
  get key(): string { return this.entry.key; }
  get obj(): KubeObject { return this.entry.obj; }
  get revision(): number { return this.entry.revision; }
  get raw(): string { return this.entry.raw; }
}

export interface CacheWatcher {
  /** Return false to say "this watcher is done/too slow"; it is then removed. */
  onEvent(ev: CacheEvent): boolean;
  onClose?(err?: Error): void;
}

export interface WatchCacheOptions {
  /** How many recent events each resource remembers for watches that start at an older resourceVersion. */
  historySize?: number;
  /** Longest wait for freshness before answering 504 (ms). */
  freshnessTimeoutMs?: number;
  /** How many of each resource's newest changes keep their JSON text (see CacheEntry). Default 1,000. */
  rawWindow?: number;
}

/** A store value decoded for the cache: equal short strings share one instance (common/string-pool.ts, ~20% of a pod). */
function cachedObject(kv: KeyValue): KubeObject {
  return sharedStrings.internAll(decodeKv(kv));
}

/** The in-memory state of one resource prefix. */
export class ResourceCache {
  readonly items = new Map<string, CachedObject>();
  private history: CacheChange[] = [];
  /** Events with revision > oldestRevision can be replayed to a new watcher. */
  oldestRevision = 0;
  /** Revision of the newest change applied here: the cached state equals the state at any revision ≥ this. */
  lastChangeRevision = 0;
  private watchers = new Set<CacheWatcher>();
  /** Index: bucket name (namespaceBucket / labelBucket) → the objects in it, kept with `items`. */
  private readonly buckets = new Map<string, Map<string, CachedObject>>();
  private pending: WatchEvent[] | null = [];
  /** The current load attempt (resolved once one succeeded); a failed one is retried after a backoff. */
  private loading: Promise<void>;
  private loadFailures = 0;
  private lastLoadError: Error | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Why the feed dropped this cache (it gets no more events): set once, and every watcher is ended. */
  private endedWith: { err?: Error } | undefined;

  constructor(readonly prefix: string, private readonly historySize: number, private readonly feed: WatchCacheFeed, startRevision: number, private readonly rawWindow = 1000) {
    this.oldestRevision = startRevision;
    this.lastChangeRevision = startRevision;
    this.loading = this.attemptLoad(startRevision);
  }

  /**
   * Resolves once the initial list is loaded. A failed load is not remembered: it is retried in the background
   * with capped exponential backoff (as a reflector relists); while it waits for the next attempt, callers get
   * the last failure at once (they retry; nobody hangs on a store that is down).
   */
  ready(): Promise<void> {
    if (this.endedWith) return Promise.reject(this.endedWith.err ?? new Error(`watch cache for ${this.prefix} was dropped`));
    if (this.retryTimer && this.lastLoadError) return Promise.reject(this.lastLoadError);
    return this.loading;
  }

  /** Whether the feed dropped this cache (a feed restart or a deleted resource). */
  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  private attemptLoad(rev: number): Promise<void> {
    const attempt = this.load(rev);
    attempt.catch((err: unknown) => {
      if (this.endedWith) return;
      this.lastLoadError = err instanceof Error ? err : new Error(String(err));
      const delayMs = Math.min(LOAD_RETRY_BASE_MS * 2 ** this.loadFailures++, LOAD_RETRY_MAX_MS);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.endedWith) return;
        // List at what the feed has applied: every event up to it is in the list, later ones queue in `pending`.
        const at = this.feed.revision;
        this.pending = [];
        this.items.clear();
        this.buckets.clear();
        this.oldestRevision = at;
        this.lastChangeRevision = at;
        this.loading = this.attemptLoad(at);
      }, delayMs);
      this.retryTimer.unref?.();
    });
    return attempt;
  }

  private async load(rev: number): Promise<void> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.feed.store.list(this.prefix, { revision: rev, limit: 5000, startAfter });
      for (const kv of page.items) {
        this.put(new CacheEntry(kv.key, cachedObject(kv), kv.modRevision));
      }
      if (!page.more || page.items.length === 0) break;
      startAfter = page.items[page.items.length - 1]!.key;
    }
    const pending = this.pending ?? [];
    this.pending = null;
    for (const ev of pending) if (ev.revision > rev) this.apply(ev);
  }

  /** Called by the feed for every store event under this prefix. */
  receive(ev: WatchEvent): void {
    if (this.pending) { this.pending.push(ev); return; }
    this.apply(ev);
  }

  private apply(ev: WatchEvent): void {
    const prev = this.items.get(ev.kv.key);
    const entry = new CacheEntry(ev.kv.key, cachedObject(ev.kv), ev.revision);
    entry.hot = this.rawWindow > 0;
    let type: EventType;
    if (ev.type === 'delete') {
      if (prev) this.unindex(prev);
      this.items.delete(ev.kv.key);
      type = 'DELETED';
    } else {
      if (prev) this.unindex(prev);
      this.put(entry);
      type = ev.type === 'create' ? 'ADDED' : 'MODIFIED';
    }
    this.lastChangeRevision = ev.revision;
    const cev = new CacheChange(entry, type, prev);
    this.history.push(cev);
    // The version that just left the window of newest changes stops keeping its text.
    const leaving = this.history.length - 1 - this.rawWindow;
    const left = leaving >= 0 ? this.history[leaving]!.entry : undefined;
    if (left instanceof CacheEntry) left.cool();
    // Trim in chunks: splicing one event off the front of a 10,000-event array on every write was 3.6% of the
    // server's CPU at 1,000 nodes. A watch may thus resume from up to 25% more history than historySize.
    if (this.history.length > this.historySize + (this.historySize >> 2)) {
      const dropped = this.history.splice(0, this.history.length - this.historySize);
      this.oldestRevision = dropped[dropped.length - 1]!.revision;
    }
    for (const w of this.watchers) {
      let keep = false;
      try { keep = w.onEvent(cev); } catch { keep = false; }
      if (!keep) { this.watchers.delete(w); w.onClose?.(); }
    }
  }

  private put(entry: CachedObject): void {
    this.items.set(entry.key, entry);
    for (const b of bucketsOf(entry.obj)) {
      let m = this.buckets.get(b);
      if (!m) this.buckets.set(b, (m = new Map()));
      m.set(entry.key, entry);
    }
  }

  private unindex(entry: CachedObject): void {
    for (const b of bucketsOf(entry.obj)) {
      const m = this.buckets.get(b);
      if (!m) continue;
      m.delete(entry.key);
      if (m.size === 0) this.buckets.delete(b);
    }
  }

  /**
   * The objects in any of the index buckets, in key order (no scan of the rest): what a tenant's list reads. The
   * caller still applies its own predicate (an object can be in a bucket of a tenant that does not own it).
   */
  snapshotOf(bucketNames: Iterable<string>): CachedObject[] {
    const seen = new Map<string, CachedObject>();
    for (const b of bucketNames) for (const [k, item] of this.buckets.get(b) ?? []) seen.set(k, item);
    const out = [...seen.values()];
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  /** Objects under a sub-prefix (e.g. one namespace), in key order. */
  snapshot(subPrefix?: string): CachedObject[] {
    const out: CachedObject[] = [];
    for (const item of this.items.values()) if (!subPrefix || item.key.startsWith(subPrefix)) out.push(item);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  get(key: string): CachedObject | undefined {
    return this.items.get(key);
  }

  /**
   * Start watching after `fromRevision`: replays remembered events newer than it, then goes live — synchronously,
   * so nothing can slip in between. Throws 410 Expired if the revision is older than the remembered history.
   */
  watchFrom(fromRevision: number, w: CacheWatcher): () => void {
    if (this.refuseEnded(w)) return () => {};
    if (fromRevision < this.oldestRevision) throw tooOldResourceVersion(fromRevision, this.oldestRevision + 1);
    for (const ev of this.history) {
      if (ev.revision > fromRevision && !w.onEvent(ev)) { w.onClose?.(); return () => {}; }
    }
    this.watchers.add(w);
    return () => { this.watchers.delete(w); };
  }

  /** Start watching now, with the current state delivered first as synthetic ADDED events. */
  watchWithInitialState(w: CacheWatcher, subPrefix?: string): () => void {
    if (this.refuseEnded(w)) return () => {};
    for (const item of this.snapshot(subPrefix)) {
      if (!w.onEvent(new CacheChange(item, 'ADDED', undefined))) { w.onClose?.(); return () => {}; }
    }
    this.watchers.add(w);
    return () => { this.watchers.delete(w); };
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /**
   * A watcher arriving at a cache the feed already dropped (its request got the cache just before a restart)
   * would never hear another event while its bookmarks advanced with the feed: end it as the others were.
   */
  private refuseEnded(w: CacheWatcher): boolean {
    if (!this.endedWith) return false;
    w.onClose?.(this.endedWith.err);
    return true;
  }

  /** The feed dropped this cache: end every watcher (with `err`, they relist), stop load retries. */
  end(err?: Error): void {
    if (this.endedWith) return;
    this.endedWith = { err };
    clearTimeout(this.retryTimer);
    for (const w of this.watchers) w.onClose?.(err);
    this.watchers.clear();
  }
}

const LOAD_RETRY_BASE_MS = 100;
const LOAD_RETRY_MAX_MS = 10_000;

/** The single store watch and the per-prefix caches it feeds. */
export class WatchCacheFeed {
  private caches = new Map<string, ResourceCache>();
  /** Highest revision whose event (if under the root prefix) has been applied. */
  revision = 0;
  private storeWatch?: StoreWatcher;
  private waiters: { rev: number; resolve: () => void }[] = [];
  private readonly historySize: number;
  private readonly freshnessTimeoutMs: number;
  private readonly rawWindow: number;
  private closed = false;

  constructor(readonly store: Store, readonly rootPrefix: string, opts: WatchCacheOptions = {}) {
    this.historySize = opts.historySize ?? 10_000;
    this.freshnessTimeoutMs = opts.freshnessTimeoutMs ?? 5_000;
    this.rawWindow = Math.min(opts.rawWindow ?? 1000, this.historySize);
  }

  /** Settles once the store watch is (re)established: caches are created only on a running feed. */
  private watching: Promise<void> = Promise.resolve();

  async start(): Promise<void> {
    this.watching = this.watchStore();
    await this.watching;
  }

  private async watchStore(): Promise<void> {
    this.revision = await this.store.currentRevision();
    this.storeWatch = this.store.watch(this.rootPrefix, { fromRevision: this.revision }, {
      onEvent: (ev) => this.dispatch(ev),
      onError: (err) => this.restart(err),
    });
  }

  /**
   * The store dropped our watch (e.g. we fell behind): every cache is dropped and rebuilt from a fresh list on
   * next use. Their watchers are ended with the error (an ERROR event, 410: clients relist, as they do when
   * kube-apiserver's cacher reinitializes), never left attached to a cache that hears nothing more.
   */
  private restart(err: Error): void {
    if (this.closed) return;
    for (const c of this.caches.values()) c.end(err);
    this.caches.clear();
    this.watching = this.rewatch();
  }

  /** Retry until the store takes the watch again (or the feed is closed); caches asked for meanwhile wait. */
  private async rewatch(): Promise<void> {
    for (let delayMs = LOAD_RETRY_BASE_MS; !this.closed; delayMs = Math.min(delayMs * 2, LOAD_RETRY_MAX_MS)) {
      try {
        await this.watchStore();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  private dispatch(ev: WatchEvent): void {
    for (const [prefix, cache] of this.caches) {
      if (ev.kv.key.startsWith(prefix)) { cache.receive(ev); break; }
    }
    this.revision = ev.revision;
    if (this.waiters.length) {
      const due = this.waiters.filter((w) => w.rev <= this.revision);
      this.waiters = this.waiters.filter((w) => w.rev > this.revision);
      for (const w of due) w.resolve();
    }
  }

  /** The cache of one resource prefix (created and loaded on first use). */
  async cache(prefix: string): Promise<ResourceCache> {
    let c = this.caches.get(prefix);
    if (!c) {
      // A cache lists at the feed's revision and then takes the feed's events: the store watch must be running.
      await this.watching;
      c = this.caches.get(prefix);
      if (!c) {
        c = new ResourceCache(prefix, this.historySize, this, this.revision, this.rawWindow);
        this.caches.set(prefix, c);
      }
    }
    await c.ready();
    // Dropped while it loaded (the feed restarted): use the one rebuilt in its place.
    return c.ended && !this.closed ? this.cache(prefix) : c;
  }

  /** The cache of a prefix if it exists (no loading): for metrics. */
  peek(prefix: string): ResourceCache | undefined {
    return this.caches.get(prefix);
  }

  /** Forget a resource (its CRD was deleted): watchers are closed. */
  drop(prefix: string): void {
    const c = this.caches.get(prefix);
    if (c) { c.end(); this.caches.delete(prefix); }
  }

  /** Wait until the feed has applied every event up to `rev` (default: the store's current revision). */
  async waitFresh(rev?: number): Promise<number> {
    const target = rev ?? (await this.store.currentRevision());
    if (this.revision >= target) return this.revision;
    await new Promise<void>((resolve, reject) => {
      const waiter = { rev: target, resolve: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(tooLargeResourceVersion(target, this.revision));
      }, this.freshnessTimeoutMs);
      this.waiters.push(waiter);
    });
    return this.revision;
  }

  close(): void {
    this.closed = true;
    this.storeWatch?.cancel();
    for (const c of this.caches.values()) c.end();
    this.caches.clear();
  }
}
