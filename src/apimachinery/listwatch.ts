/**
 * List and watch serving over a revisioned Store + its watch cache, with upstream's query semantics:
 * labelSelector/fieldSelector, limit/continue pagination, resourceVersion + resourceVersionMatch, watch with
 * bookmarks (allowWatchBookmarks, sendInitialEvents) and 410 Expired for history that is gone.
 */
import type { ServerResponse } from 'node:http';
import type { Store } from '../storage/types.js';
import { CompactedError, FutureRevisionError } from '../storage/types.js';
import { decodeKv, type KubeObject } from './object.js';
import { badRequest, expiredContinue, gone, tooLargeResourceVersion, tooOldResourceVersion, type StatusError } from './status.js';
import type { WatchEvent } from '../storage/types.js';
import { parseLabelSelector, type LabelSelector } from './labels.js';
import { parseFieldSelector, type FieldSelector } from './fields.js';
import type { CacheEvent, CachedObject, ResourceCache, WatchCacheFeed } from './watchcache.js';

export interface ListQuery {
  labelSelector: LabelSelector;
  fieldSelector: FieldSelector;
  limit: number;
  continueToken?: string;
  /** undefined = most recent (consistent read); "0" = any (cache); otherwise a revision. */
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  watch: boolean;
  allowWatchBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
}

function parseIntParam(name: string, v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

function parseBool(v: string | null): boolean {
  return v === 'true' || v === '1';
}

/** Reads list/watch options from the query string; bad values are 400 BadRequest. */
export function parseListQuery(q: URLSearchParams, fieldSupported?: (field: string) => boolean): ListQuery {
  const rvm = q.get('resourceVersionMatch') || undefined;
  if (rvm && rvm !== 'NotOlderThan' && rvm !== 'Exact') {
    throw badRequest(`resourceVersionMatch: Unsupported value: "${rvm}": supported values: "Exact", "NotOlderThan"`);
  }
  const rv = q.get('resourceVersion') ?? undefined;
  // Upstream parses it as a uint64: digits only, and not past 2^64-1.
  if (rv !== undefined && rv !== '' && (!/^\d+$/.test(rv) || BigInt(rv) > 0xffffffffffffffffn)) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  const sie = q.get('sendInitialEvents');
  const limit = parseIntParam('limit', q.get('limit')) ?? 0;
  const query: ListQuery = {
    labelSelector: parseLabelSelector(q.get('labelSelector')),
    fieldSelector: parseFieldSelector(q.get('fieldSelector'), fieldSupported),
    limit: limit > 0 ? limit : 0,
    continueToken: q.get('continue') || undefined,
    resourceVersion: rv === '' ? undefined : rv,
    resourceVersionMatch: rvm as ListQuery['resourceVersionMatch'],
    watch: parseBool(q.get('watch')),
    allowWatchBookmarks: parseBool(q.get('allowWatchBookmarks')),
    sendInitialEvents: sie === null ? undefined : parseBool(sie),
    timeoutSeconds: parseIntParam('timeoutSeconds', q.get('timeoutSeconds')),
  };
  // WatchList (sendInitialEvents=true) legitimately pairs NotOlderThan with an empty resourceVersion.
  if (query.resourceVersionMatch && query.resourceVersion === undefined && !(query.watch && query.sendInitialEvents)) {
    throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
  }
  if (query.continueToken && query.resourceVersion !== undefined && query.resourceVersion !== '0') {
    throw badRequest('specifying resource version is not allowed when using continue');
  }
  return query;
}

/** Continue tokens look like upstream's: base64 JSON {v, rv, start}. */
export function encodeContinue(rev: number, lastKey: string, basePrefix: string): string {
  const start = lastKey.startsWith(basePrefix) ? lastKey.slice(basePrefix.length) : lastKey;
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: rev, start: `${start}\u0000` })).toString('base64');
}

export function decodeContinue(token: string, basePrefix: string): { rev: number; startAfter: string } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (parsed.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') throw new Error('bad');
    const start = parsed.start.endsWith('\u0000') ? parsed.start.slice(0, -1) : parsed.start;
    if (start.includes('..') || start.startsWith('/')) throw new Error('bad');
    return { rev: parsed.rv, startAfter: basePrefix + start };
  } catch {
    throw badRequest('continue key is not valid: invalid continue token');
  }
}

export interface ListScope {
  feed: WatchCacheFeed;
  /** The resource's prefix, e.g. /registry/core/pods/ (the watch cache unit). */
  resourcePrefix: string;
  /** What to list: the resource prefix or one namespace inside it. */
  scopePrefix: string;
  /** Does this object pass the query's selectors? */
  matches(obj: KubeObject): boolean;
  /**
   * The cached objects to consider, in key order, when only a known part of the scope can match (a tenant's
   * namespaces or labelled objects, from the cache's index): the rest is not scanned. `matches` still decides.
   */
  candidates?(cache: ResourceCache): CachedObject[];
}

export interface ListOutcome {
  items: CachedObject[];
  resourceVersion: number;
  continueToken?: string;
  remainingItemCount?: number;
}

/** Serve a list: from the watch cache unless pagination or an exact revision needs the store. */
export async function listObjects(scope: ListScope, q: ListQuery): Promise<ListOutcome> {
  const store = scope.feed.store;
  // A restricted scope (candidates) filters too: remainingItemCount is only given when nothing is filtered out.
  const selecting = !q.labelSelector.empty || !q.fieldSelector.empty || scope.candidates !== undefined;
  if (q.continueToken) {
    const { rev, startAfter } = decodeContinue(q.continueToken, scope.scopePrefix);
    // Nothing in this resource changed since the first page: the cache still shows that revision's state.
    const cache = await scope.feed.cache(scope.resourcePrefix);
    if (cache.lastChangeRevision <= rev && rev <= scope.feed.revision) return pageFromCache(cache, scope, rev, startAfter, q.limit, selecting);
    return pageFromStore(store, scope, rev, startAfter, q.limit, selecting);
  }
  const rv = q.resourceVersion === undefined ? undefined : Number(q.resourceVersion);
  if (q.resourceVersionMatch === 'Exact' && rv !== undefined) {
    return pageFromStore(store, scope, rv, undefined, q.limit, selecting);
  }
  if (q.limit > 0 && rv === undefined) {
    const cache = await scope.feed.cache(scope.resourcePrefix);
    const at = await scope.feed.waitFresh();
    return pageFromCache(cache, scope, at, undefined, q.limit, selecting);
  }
  const cache = await scope.feed.cache(scope.resourcePrefix);
  // "most recent" waits for the store's current revision; a given revision waits until the cache is at least there.
  const at = rv === undefined ? await scope.feed.waitFresh() : rv > 0 ? await scope.feed.waitFresh(rv) : scope.feed.revision;
  const items = inScope(cache, scope).filter((i) => scope.matches(i.obj));
  return { items, resourceVersion: Math.max(at, scope.feed.revision) };
}

function inScope(cache: ResourceCache, scope: ListScope): CachedObject[] {
  if (!scope.candidates) return cache.snapshot(scope.scopePrefix);
  return scope.candidates(cache).filter((i) => i.key.startsWith(scope.scopePrefix));
}

/** A page of the cached state (which is the state at revision `at`), in key order after `startAfter`. */
function pageFromCache(cache: ResourceCache, scope: ListScope, at: number, startAfter: string | undefined, limit: number, selecting: boolean): ListOutcome {
  const all = inScope(cache, scope);
  let i = 0;
  if (startAfter !== undefined) {
    // Binary search for the first key after the cursor.
    let lo = 0;
    let hi = all.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (all[mid]!.key <= startAfter) lo = mid + 1; else hi = mid; }
    i = lo;
  }
  const out: CachedObject[] = [];
  for (; i < all.length && out.length < limit; i++) if (scope.matches(all[i]!.obj)) out.push(all[i]!);
  let more = false;
  for (let j = i; j < all.length; j++) if (scope.matches(all[j]!.obj)) { more = true; break; }
  const outcome: ListOutcome = { items: out, resourceVersion: at };
  if (more && out.length) {
    outcome.continueToken = encodeContinue(at, out[out.length - 1]!.key, scope.scopePrefix);
    if (!selecting) outcome.remainingItemCount = all.length - i;
  }
  return outcome;
}

async function pageFromStore(store: Store, scope: ListScope, rev: number, startAfter: string | undefined, limit: number, selecting: boolean): Promise<ListOutcome> {
  const out: CachedObject[] = [];
  let readRev = rev;
  let cursor = startAfter;
  let more = false;
  let remaining = 0;
  try {
    for (;;) {
      const want = limit > 0 ? Math.max(limit - out.length, selecting ? 500 : 0) : 0;
      const page = await store.list(scope.scopePrefix, { revision: readRev || undefined, startAfter: cursor, limit: want || undefined });
      readRev = page.revision;
      let i = 0;
      for (; i < page.items.length; i++) {
        const kv = page.items[i]!;
        cursor = kv.key;
        const obj = decodeKv(kv);
        if (!scope.matches(obj)) continue;
        out.push({ key: kv.key, obj, raw: JSON.stringify(obj), revision: kv.modRevision });
        if (limit > 0 && out.length >= limit) { i++; break; }
      }
      const leftInPage = page.items.length - i;
      if (limit > 0 && out.length >= limit) {
        more = leftInPage > 0 || page.more;
        remaining = leftInPage + page.remaining;
        break;
      }
      if (!page.more) break;
    }
  } catch (err) {
    if (err instanceof CompactedError) {
      if (startAfter !== undefined) throw expiredContinue();
      throw gone(`resourceVersion ${rev} is too old`);
    }
    if (err instanceof FutureRevisionError) throw tooLargeResourceVersion(err.requested, err.current);
    throw err;
  }
  const outcome: ListOutcome = { items: out, resourceVersion: readRev };
  if (more && out.length) {
    outcome.continueToken = encodeContinue(readRev, out[out.length - 1]!.key, scope.scopePrefix);
    if (!selecting) outcome.remainingItemCount = remaining;
  }
  return outcome;
}

export interface WatchServeOptions {
  cache: ResourceCache;
  feed: WatchCacheFeed;
  scopePrefix: string;
  query: ListQuery;
  matches(obj: KubeObject): boolean;
  /** JSON text of an event's object as the client asked for it (full object, Table row, metadata only). */
  render(item: CachedObject, type: string): string;
  /** apiVersion/kind of the bookmark object. */
  bookmarkKind: { apiVersion: string; kind: string };
  bookmarkIntervalMs?: number;
  /** A bookmark this often while the revision advances without this watcher's selection changing (0: never). */
  progressBookmarkIntervalMs?: number;
  /** Watchers whose socket buffer grows past this are cut off (they re-watch from their last revision). */
  maxBufferedBytes?: number;
  onEnd?(): void;
}

/**
 * Stream a watch as newline-delimited JSON events over a chunked HTTP response. Errors that happen before the
 * stream starts are thrown (the caller answers with a Status); errors later become an ERROR event.
 */
export async function serveWatch(res: ServerResponse, o: WatchServeOptions): Promise<void> {
  const { query: q, cache, feed } = o;
  const rv = q.resourceVersion === undefined ? undefined : Number(q.resourceVersion);
  const maxBuffered = o.maxBufferedBytes ?? 32 * 1024 * 1024;
  let closed = false;
  let stop: () => void = () => {};
  const timers: NodeJS.Timeout[] = [];
  const finish = () => {
    if (closed) return;
    closed = true;
    stop();
    for (const t of timers) { clearTimeout(t); clearInterval(t); }
    if (!res.writableEnded) res.end();
    o.onEnd?.();
  };
  // Events that arrive in one turn of the event loop leave in one TLS record/syscall: cork, uncork on setImmediate.
  let corked = false;
  const writeLine = (type: string, objectJson: string): boolean => {
    if (closed) return false;
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(() => { corked = false; res.uncork(); });
    }
    res.write(`{"type":"${type}","object":${objectJson}}\n`);
    if (res.writableLength > maxBuffered) { setImmediate(finish); return false; }
    return true;
  };
  const bookmark = (rev: number, initialEnd = false) => {
    const meta: Record<string, unknown> = { resourceVersion: String(rev) };
    if (initialEnd) meta.annotations = { 'k8s.io/initial-events-end': 'true' };
    writeLine('BOOKMARK', JSON.stringify({ ...o.bookmarkKind, metadata: meta }));
  };
  const inScope = (item: CachedObject) => item.key.startsWith(o.scopePrefix);
  const watcher = {
    onEvent: (ev: CacheEvent): boolean => {
      if (closed) return false;
      if (!inScope(ev)) return true;
      let type: string | null = null;
      if (ev.type === 'ADDED') {
        if (o.matches(ev.obj)) type = 'ADDED';
      } else if (ev.type === 'DELETED') {
        if (o.matches(ev.obj)) type = 'DELETED';
      } else {
        const now = o.matches(ev.obj);
        const before = ev.prev ? o.matches(ev.prev.obj) : false;
        type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : null;
      }
      if (!type) return true;
      return writeLine(type, o.render(ev, type));
    },
    onClose: (err?: Error) => {
      if (err && !closed) writeLine('ERROR', JSON.stringify(gone(err.message).status));
      finish();
    },
  };

  // Validate the starting point before committing to a 200 response.
  const sendInitial = q.sendInitialEvents ?? (rv === undefined || rv === 0);
  if (!sendInitial && rv !== undefined && rv > feed.revision) await feed.waitFresh(rv);
  // Older than the cache's memory but still in the store's history (e.g. a client resuming after a server
  // restart): replay from the store instead of forcing a relist. Only compacted history is 410 Expired.
  let fromStore = false;
  if (!sendInitial && rv !== undefined && rv < cache.oldestRevision) {
    const compacted = await feed.store.compactedRevision();
    if (rv < compacted) throw tooOldResourceVersion(rv, compacted + 1);
    fromStore = true;
  }
  if (sendInitial && q.sendInitialEvents && rv === undefined) await feed.waitFresh();

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  res.on('close', finish);
  res.on('error', finish);
  // The revision this watcher has been delivered through: what a bookmark may carry. A client resumes from a
  // bookmark, so it must never name a revision whose events this stream has not written yet.
  let deliveredThrough: () => number;
  if (sendInitial) {
    stop = cache.watchWithInitialState(watcher, o.scopePrefix);
    // Cache watchers get each event synchronously as the feed applies it, before the feed's revision moves.
    deliveredThrough = () => feed.revision;
    if (q.sendInitialEvents && q.allowWatchBookmarks) bookmark(feed.revision, true);
  } else if (fromStore) {
    // A replay from the store runs behind the feed (it reads history in chunks while writers go on): only the
    // store watcher knows how far it has delivered.
    const sw = feed.store.watch(o.scopePrefix, { fromRevision: rv! }, {
      onEvent: (ev) => { if (!watcher.onEvent(storeEventToCacheEvent(ev))) sw.cancel(); },
      onError: (err) => watcher.onClose(err),
    });
    stop = () => sw.cancel();
    deliveredThrough = () => sw.deliveredThrough();
  } else {
    stop = cache.watchFrom(rv ?? feed.revision, watcher);
    deliveredThrough = () => feed.revision;
  }
  if (closed) { stop(); return; }
  if (q.allowWatchBookmarks) {
    // Bookmarks let a client resume from a recent revision even when its selection is quiet.
    timers.push(setInterval(() => bookmark(deliveredThrough()), o.bookmarkIntervalMs ?? 30_000));
    // And tell it promptly how far it has been delivered while other resources change: a client joining several
    // watches (the cloud hub's cache) knows it holds the cluster's state through revision R only once every one of
    // its watches has passed R. One line per interval, only when the revision moved past what this stream last said.
    let told = deliveredThrough();
    const progressMs = o.progressBookmarkIntervalMs ?? 1000;
    if (progressMs > 0) {
      timers.push(setInterval(() => {
        const through = deliveredThrough();
        if (through > told) { told = through; bookmark(through); }
      }, progressMs));
    }
  }
  const timeoutS = q.timeoutSeconds && q.timeoutSeconds > 0 ? q.timeoutSeconds : 1800;
  timers.push(setTimeout(finish, timeoutS * 1000));
}

function storeEventToCacheEvent(ev: WatchEvent): CacheEvent {
  const obj = decodeKv(ev.kv);
  const prev = ev.prevKv ? (() => { const p = decodeKv(ev.prevKv); return { key: ev.prevKv.key, obj: p, raw: JSON.stringify(p), revision: ev.prevKv.modRevision }; })() : undefined;
  return { key: ev.kv.key, obj, raw: JSON.stringify(obj), revision: ev.revision, type: ev.type === 'create' ? 'ADDED' : ev.type === 'delete' ? 'DELETED' : 'MODIFIED', prev };
}

export type { StatusError };
