import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from '../storage/sqlite.js';
import { CacheEntry, WatchCacheFeed, type CacheEvent, type ResourceCache } from './watchcache.js';
import type { Store } from '../storage/types.js';
import { listObjects, parseListQuery } from './listwatch.js';
import { StatusError } from './status.js';

const val = (name: string, labels: Record<string, string> = {}) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', labels } });

test('one feed serves lists and many watchers; history replays; too-old revisions are 410 Expired', async () => {
  const store = await openSqliteStore(':memory:');
  const feed = new WatchCacheFeed(store, '/registry/', { historySize: 5 });
  await feed.start();
  try {
    const prefix = '/registry/core/configmaps/';
    for (let i = 0; i < 3; i++) await store.create(`${prefix}ns/c${i}`, val(`c${i}`, { i: String(i) }));
    const cache = await feed.cache(prefix);
    await feed.waitFresh();
    assert.deepEqual(cache.snapshot().map((c) => c.obj.metadata?.name), ['c0', 'c1', 'c2']);
    assert.equal(cache.get(`${prefix}ns/c1`)?.obj.metadata?.resourceVersion, String(cache.get(`${prefix}ns/c1`)?.revision));

    const startRev = feed.revision;
    const seen: CacheEvent[][] = Array.from({ length: 50 }, () => []);
    const stops = seen.map((arr) => cache.watchFrom(startRev, { onEvent: (ev) => { arr.push(ev); return true; } }));
    await store.update(`${prefix}ns/c0`, val('c0', { changed: 'yes' }));
    await store.delete(`${prefix}ns/c2`);
    const created = await store.create(`${prefix}ns/c3`, val('c3'));
    await feed.waitFresh(created.modRevision);
    for (const arr of seen) assert.deepEqual(arr.map((e) => `${e.type}:${e.obj.metadata?.name}`), ['MODIFIED:c0', 'DELETED:c2', 'ADDED:c3']);
    stops.forEach((s) => s());

    // A late watcher from the same revision gets the same history.
    const late: string[] = [];
    cache.watchFrom(startRev, { onEvent: (ev) => { late.push(ev.type); return true; } })();
    assert.deepEqual(late, ['MODIFIED', 'DELETED', 'ADDED']);

    // Push the history window past startRev: watching from there is 410 Expired.
    for (let i = 0; i < 6; i++) await store.update(`${prefix}ns/c1`, val('c1', { n: String(i) }));
    await feed.waitFresh();
    assert.throws(() => cache.watchFrom(startRev, { onEvent: () => true }), (e: unknown) => e instanceof StatusError && e.code === 410 && e.reason === 'Expired');

    // serveWatch falls back to the store's history for such revisions (see listwatch.test.ts); the cache alone refuses.

    // Lists: from the cache with selectors, and paginated from the store.
    const scope = { feed, resourcePrefix: prefix, scopePrefix: `${prefix}ns/`, matches: () => true };
    const all = await listObjects(scope, parseListQuery(new URLSearchParams()));
    assert.deepEqual(all.items.map((i) => i.obj.metadata?.name), ['c0', 'c1', 'c3']);
    const sel = parseListQuery(new URLSearchParams('labelSelector=changed%3Dyes'));
    const some = await listObjects({ ...scope, matches: (o) => sel.labelSelector.matches(o.metadata?.labels) }, sel);
    assert.deepEqual(some.items.map((i) => i.obj.metadata?.name), ['c0']);
    const p1 = await listObjects(scope, parseListQuery(new URLSearchParams('limit=2')));
    assert.deepEqual(p1.items.map((i) => i.obj.metadata?.name), ['c0', 'c1']);
    assert.equal(p1.remainingItemCount, 1);
    await store.create(`${prefix}ns/c4`, val('c4'));
    const p2 = await listObjects(scope, parseListQuery(new URLSearchParams(`limit=2&continue=${encodeURIComponent(p1.continueToken!)}`)));
    assert.deepEqual(p2.items.map((i) => i.obj.metadata?.name), ['c3'], 'a continued list is consistent with the first page');
    await assert.rejects(listObjects(scope, parseListQuery(new URLSearchParams('limit=2&continue=Z2FyYmFnZQ=='))), (e: unknown) => e instanceof StatusError && e.code === 400);
    // With no change in between, pages come from the cache and still chain exactly.
    await feed.waitFresh();
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await listObjects(scope, parseListQuery(new URLSearchParams(`limit=2${token ? `&continue=${encodeURIComponent(token)}` : ''}`)));
      names.push(...page.items.map((i) => i.obj.metadata!.name!));
      token = page.continueToken;
    } while (token);
    assert.deepEqual(names, ['c0', 'c1', 'c3', 'c4']);
  } finally {
    feed.close();
    await store.close();
  }
});

test('only the newest changes keep their JSON text; older versions render the same text on demand', async () => {
  const store = await openSqliteStore(':memory:');
  const feed = new WatchCacheFeed(store, '/registry/', { historySize: 10, rawWindow: 3 });
  await feed.start();
  try {
    const prefix = '/registry/core/configmaps/';
    await store.create(`${prefix}ns/loaded`, val('loaded'));
    const cache = await feed.cache(prefix);
    // A watcher renders each event as it arrives (as serveWatch does): that computes the text once per change.
    const events: CacheEvent[] = [];
    const rendered: string[] = [];
    cache.watchFrom(feed.revision, { onEvent: (ev) => { events.push(ev); rendered.push(ev.raw); return true; } });
    for (let i = 0; i < 6; i++) await store.create(`${prefix}ns/c${i}`, val(`c${i}`, { i: String(i) }));
    await feed.waitFresh();
    const holds = (name: string) => (cache.get(`${prefix}ns/${name}`) as CacheEntry).holdsText;
    // Loaded by the initial list (not a change): no text kept. Of the six changes, the three newest keep theirs.
    assert.deepEqual(['loaded', 'c0', 'c1', 'c2', 'c3', 'c4', 'c5'].map(holds), [false, false, false, false, true, true, true]);
    for (const name of ['loaded', 'c0', 'c5']) {
      const item = cache.get(`${prefix}ns/${name}`)!;
      assert.equal(item.raw, JSON.stringify(item.obj));
      assert.equal(JSON.parse(item.raw).metadata.resourceVersion, String(item.revision));
    }
    assert.equal(holds('c0'), false, 'rendering an old version does not keep its text');
    // Events carry the same text as the items, and a replay from history renders old versions alike.
    assert.deepEqual(rendered, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].map((n) => cache.get(`${prefix}ns/${n}`)!.raw));
    const replay: string[] = [];
    cache.watchFrom(events[0]!.revision - 1, { onEvent: (ev) => { replay.push(ev.raw); return true; } })();
    assert.deepEqual(replay, events.map((e) => e.raw));
    const initial: string[] = [];
    cache.watchWithInitialState({ onEvent: (ev) => { initial.push(`${ev.type}:${ev.obj.metadata?.name}:${ev.raw === JSON.stringify(ev.obj)}`); return true; } })();
    assert.deepEqual(initial, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'loaded'].map((n) => `ADDED:${n}:true`));
  } finally {
    feed.close();
    await store.close();
  }
});

/** The real store, with its `list` failing the first `failures` times (a disk or database fault). */
function failingLists(store: Store, failures: number): { store: Store; failed: () => number } {
  let failed = 0;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'list') {
        return (...args: unknown[]) => (failed < failures ? (failed++, Promise.reject(new Error('disk I/O error'))) : (v as (...a: unknown[]) => unknown).apply(target, args));
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { store: wrapped, failed: () => failed };
}

test('a failed initial load is retried with backoff, not remembered: the cache then loads and follows writes', async () => {
  const base = await openSqliteStore(':memory:');
  const { store, failed } = failingLists(base, 3);
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  const prefix = '/registry/core/configmaps/';
  try {
    await base.create(`${prefix}ns/a`, val('a'));
    await assert.rejects(feed.cache(prefix), /disk I\/O error/, 'the first load fails');
    // Writes go on while the cache retries: they must be in the cache once it loads.
    await base.create(`${prefix}ns/b`, val('b'));
    const started = Date.now();
    let cache: ResourceCache | undefined;
    while (!cache) {
      cache = await feed.cache(prefix).catch(() => undefined);
      if (!cache) {
        assert.ok(Date.now() - started < 10_000, `the cache still refuses after ${Date.now() - started} ms: the failure is remembered`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.equal(failed(), 3, 'each retry listed again');
    assert.deepEqual(cache.snapshot().map((c) => c.obj.metadata?.name), ['a', 'b']);
    const c = await base.create(`${prefix}ns/c`, val('c'));
    await feed.waitFresh(c.modRevision);
    assert.deepEqual(cache.snapshot().map((x) => x.obj.metadata?.name), ['a', 'b', 'c']);
  } finally {
    feed.close();
    await base.close();
  }
});
