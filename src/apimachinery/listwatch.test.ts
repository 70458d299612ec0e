import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openSqliteStore } from '../storage/sqlite.js';
import { WatchCacheFeed } from './watchcache.js';
import { parseListQuery, serveWatch } from './listwatch.js';
import { toStatusError } from './status.js';

const prefix = '/registry/core/configmaps/';
const val = (name: string, v: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, data: { v } });

/** A real HTTP server streaming serveWatch, read by a real HTTP client. */
test('watch stream: replay from store history older than the cache, bookmarks, 410 for compacted revisions', async () => {
  const store = await openSqliteStore(':memory:');
  const first = await store.create(`${prefix}ns/a`, val('a', '0'));
  for (let i = 1; i <= 5; i++) await store.update(`${prefix}ns/a`, val('a', String(i)));
  // The feed starts after those writes: its cache remembers nothing before them.
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  const cache = await feed.cache(prefix);
  const server = http.createServer((req, res) => {
    const q = parseListQuery(new URL(req.url!, 'http://x').searchParams);
    serveWatch(res, { cache, feed, scopePrefix: `${prefix}ns/`, query: q, matches: () => true, render: (i) => i.raw, bookmarkKind: { apiVersion: 'v1', kind: 'ConfigMap' }, bookmarkIntervalMs: 100 })
      .catch((err) => { const se = toStatusError(err); res.writeHead(se.code, { 'content-type': 'application/json' }); res.end(JSON.stringify(se.status)); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const read = (qs: string, until: (lines: string[]) => boolean) => new Promise<{ code: number; lines: string[] }>((resolve, reject) => {
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
