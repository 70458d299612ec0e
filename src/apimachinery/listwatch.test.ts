import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openSqliteStore } from '../storage/sqlite.js';
import { WatchCacheFeed } from './watchcache.js';
import { parseListQuery, serveWatch } from './listwatch.js';
import { toStatusError } from './status.js';
import { WatchOverflowError, type Store, type WatchHandlers, type WatchOptions, type Watcher } from '../storage/types.js';

const prefix = '/registry/core/configmaps/';
const val = (name: string, v: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, data: { v } });

/** A real HTTP server streaming serveWatch over `feed`'s cache of configmaps. */
async function watchServer(feed: WatchCacheFeed, bookmarkIntervalMs: number): Promise<{ server: http.Server; port: number }> {
  const cache = await feed.cache(prefix);
  const server = http.createServer((req, res) => {
    const q = parseListQuery(new URL(req.url!, 'http://x').searchParams);
    serveWatch(res, { cache, feed, scopePrefix: `${prefix}ns/`, query: q, matches: () => true, render: (i) => i.raw, bookmarkKind: { apiVersion: 'v1', kind: 'ConfigMap' }, bookmarkIntervalMs })
      .catch((err) => { const se = toStatusError(err); res.writeHead(se.code, { 'content-type': 'application/json' }); res.end(JSON.stringify(se.status)); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A real HTTP client reading watch lines until `until` says stop (then it hangs up) or the stream ends. */
function readWatch(port: number, qs: string, until: (lines: string[]) => boolean): Promise<{ code: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ port, host: '127.0.0.1', path: `/?watch=1&${qs}` }, (res) => {
      let buf = '';
      const lines: string[] = [];
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
        if (until(lines)) { req.destroy(); resolve({ code: res.statusCode!, lines }); }
      });
      res.on('end', () => resolve({ code: res.statusCode!, lines: buf ? [...lines, buf] : lines }));
    });
    req.on('error', (e) => { if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e); });
  });
}

test('watch stream: replay from store history older than the cache, bookmarks, 410 for compacted revisions', async () => {
  const store = await openSqliteStore(':memory:');
  const first = await store.create(`${prefix}ns/a`, val('a', '0'));
  for (let i = 1; i <= 5; i++) await store.update(`${prefix}ns/a`, val('a', String(i)));
  // The feed starts after those writes: its cache remembers nothing before them.
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  const { server, port } = await watchServer(feed, 100);
  const read = (qs: string, until: (lines: string[]) => boolean) => readWatch(port, qs, until);
  try {
    const replay = await read(`resourceVersion=${first.modRevision}`, (l) => l.length >= 5);
    assert.equal(replay.code, 200);
    assert.deepEqual(replay.lines.map((l) => JSON.parse(l).object.data.v), ['1', '2', '3', '4', '5']);
    assert.ok(replay.lines.every((l) => JSON.parse(l).type === 'MODIFIED'));

    const bm = await read(`resourceVersion=${feed.revision}&allowWatchBookmarks=true`, (l) => l.some((x) => x.includes('BOOKMARK')));
    const bookmark = JSON.parse(bm.lines.find((x) => x.includes('BOOKMARK'))!);
    assert.equal(bookmark.object.metadata.resourceVersion, String(feed.revision));

    await store.compact(await store.currentRevision());
    const expired = await read(`resourceVersion=${first.modRevision}`, () => false);
    assert.equal(expired.code, 410);
    assert.equal(JSON.parse(expired.lines.join('')).reason, 'Expired');
  } finally {
    server.closeAllConnections();
    server.close();
    feed.close();
    await store.close();
  }
});

/**
 * A client resuming from every bookmark it gets, while a writer runs flat out, sees every event exactly once. The
 * cache remembers only 5 events, so most resumes replay from the store, behind the feed: a bookmark naming the
 * feed's revision there would skip the events the replay had not written yet.
 */
test('resuming from every bookmark under a fast writer loses and repeats no event', async () => {
  const store = await openSqliteStore(':memory:', { replayChunkSize: 10 });
  const feed = new WatchCacheFeed(store, '/registry/', { historySize: 5 });
  await feed.start();
  const { server, port } = await watchServer(feed, 1);
  const writes = 3000;
  const written: number[] = [];
  let rv = (await store.create(`${prefix}ns/k0`, val('k0', 'start'))).modRevision;
  const startRv = rv;
  try {
    // A head start, so the first watch replays a long history from the store while the writer goes on.
    const write = async (i: number) => {
      const key = `${prefix}ns/k${i % 7}`;
      const kv = i < 7 ? await store.create(key, val(`k${i % 7}`, String(i))) : await store.update(key, val(`k${i % 7}`, String(i)));
      written.push(kv.modRevision);
      // Another resource's writes move the feed (and its revision) without events for this watch.
      if (i % 5 === 0) written.push(-(await store.create(`/registry/core/secrets/ns/s${i}`, '{"metadata":{"name":"x"}}')).modRevision);
    };
    const headStart = 1000;
    for (let i = 1; i <= headStart; i++) await write(i);
    const writer = (async () => {
      for (let i = headStart + 1; i <= writes; i++) {
        await write(i);
        // Yield now and then, as a server between requests: resumes interleave with the writes.
        if (i % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    const seen: number[] = [];
    let resumes = 0;
    let head = Infinity;
    void writer.then(async () => (head = await store.currentRevision()));
    // Until the client's position reaches the last write (a lost event shows as missing, not as a hang).
    while (rv < head) {
      const got = await readWatch(port, `resourceVersion=${rv}&allowWatchBookmarks=true`, (lines) => lines.some((l) => l.includes('"BOOKMARK"')) || lines.some((l) => Number((JSON.parse(l) as { object: { metadata: { resourceVersion: string } } }).object.metadata.resourceVersion) >= head));
      assert.equal(got.code, 200, got.lines.join('\n'));
      for (const line of got.lines) {
        const ev = JSON.parse(line) as { type: string; object: { metadata: { resourceVersion: string } } };
        const at = Number(ev.object.metadata.resourceVersion);
        if (ev.type === 'BOOKMARK') {
          rv = at;
          resumes++;
          break; // the client resumes from here: whatever followed on this stream is read again after it
        }
        seen.push(at);
        rv = at;
      }
    }
    await writer;
    const expected = written.filter((r) => r > 0);
    assert.ok(expected[0]! > startRv);
    const dupes = seen.filter((r, i) => seen.indexOf(r) !== i);
    const missing = expected.filter((r) => !seen.includes(r));
    assert.deepEqual({ dupes: dupes.slice(0, 5), missing: missing.slice(0, 5), count: seen.length }, { dupes: [], missing: [], count: expected.length });
    assert.ok(resumes > 20, `the client resumed from ${resumes} bookmarks`);
    console.log(JSON.stringify({ measure: 'watch-bookmark-resumes', events: seen.length, resumes }));
  } finally {
    server.closeAllConnections();
    server.close();
    feed.close();
    await store.close();
  }
});

/** The real store; `failWatch()` ends the feed's store watch as the store does when the feed falls behind. */
function breakableWatch(store: Store): { store: Store; failWatch: () => void } {
  let current: { watcher: Watcher; handlers: WatchHandlers } | undefined;
  const wrapped = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop) as unknown;
      if (prop === 'watch') {
        return (p: string, opts: WatchOptions, handlers: WatchHandlers) => {
          const watcher = target.watch(p, opts, handlers);
          current = { watcher, handlers };
          return watcher;
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store: wrapped,
    failWatch: () => {
      const c = current!;
      c.watcher.cancel();
      c.handlers.onError(new WatchOverflowError(c.watcher.deliveredThrough(), 10));
    },
  };
}

test('a watch cache that restarts ends its watchers with a 410 ERROR, including a watch that attaches to the dropped cache', async () => {
  const base = await openSqliteStore(':memory:');
  const { store, failWatch } = breakableWatch(base);
  await base.create(`${prefix}ns/a`, val('a', '0'));
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  // The server holds the cache it got at start: after the restart it is the dropped one, as for a request that
  // got its cache just before a restart and attaches its watcher just after.
  const { server, port } = await watchServer(feed, 20);
  const isError = (l: string) => (JSON.parse(l) as { type: string }).type === 'ERROR';
  try {
    const before = readWatch(port, `resourceVersion=${feed.revision}&allowWatchBookmarks=true`, (lines) => lines.some(isError));
    await new Promise((r) => setTimeout(r, 50));
    failWatch();
    const ended = await before;
    const err = JSON.parse(ended.lines.find(isError)!) as { object: { code: number; kind: string } };
    assert.equal(err.object.kind, 'Status');
    assert.equal(err.object.code, 410, 'clients relist on 410');

    // The feed is back on a new store watch; a write moves its revision (and would move bookmarks).
    await base.update(`${prefix}ns/a`, val('a', '1'));
    await feed.waitFresh();
    const late = await readWatch(port, `resourceVersion=${feed.revision}&allowWatchBookmarks=true`, (lines) => lines.some(isError) || lines.length >= 5);
    assert.ok(late.lines.some(isError), `a watch on the dropped cache got ${late.lines.map((l) => (JSON.parse(l) as { type: string }).type).join(',')} instead of an ERROR`);

    // A fresh cache serves on: it has the write and streams new ones.
    const fresh = await feed.cache(prefix);
    assert.equal((fresh.get(`${prefix}ns/a`)!.obj as { data?: { v?: string } }).data?.v, '1');
  } finally {
    server.closeAllConnections();
    server.close();
    feed.close();
    await base.close();
  }
});
