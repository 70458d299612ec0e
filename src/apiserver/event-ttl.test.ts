/**
 * EventTtlSweeper on a real SQLite store and watch cache, with a fake clock and sweeps driven by the test (no timers):
 * expiry one TTL after the last write, updates push it back, a restarted sweeper expires old events from their own
 * timestamps, other resources are never touched. Plus the Go duration parser behind `--event-ttl`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../storage/sqlite.js';
import type { Store, WatchEvent } from '../storage/types.js';
import { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { EventTtlSweeper, EVENTS_PREFIX, lastWriteLowerBound, parseGoDuration } from './event-ttl.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const T0 = Date.parse('2026-11-23T04:00:00Z');
const TTL = 2000;

async function setup(dbDir?: string) {
  const dir = dbDir ?? mkdtempSync(path.join(os.tmpdir(), 'kedge-event-ttl-'));
  if (!dbDir) dirs.push(dir);
  const store = await openSqliteStore(path.join(dir, 'state.db'), { checkpoint: 'inline' });
  const feed = new WatchCacheFeed(store, '/registry/');
  await feed.start();
  let now = T0;
  const clock = { set: (t: number) => { now = t; } };
  const sweeper = new EventTtlSweeper({ store, feed, ttlMs: TTL, now: () => now, timers: false });
  await sweeper.start();
  const deleted: string[] = [];
  const w = store.watch('/registry/', { fromRevision: await store.currentRevision() }, {
    onEvent: (ev: WatchEvent) => { if (ev.type === 'delete') deleted.push(ev.kv.key); },
    onError: () => {},
  });
  const close = async () => { sweeper.stop(); w.cancel(); feed.close(); await store.close(); };
  return { dir, store, feed, sweeper, clock, deleted, close };
}

function event(name: string, ts: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Event', metadata: { name, namespace: 'default', creationTimestamp: ts },
    involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Started', message: 'm', lastTimestamp: ts, count: 1,
  });
}

const key = (name: string) => `${EVENTS_PREFIX}default/${name}`;
const iso = (t: number) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

async function exists(store: Store, k: string): Promise<boolean> {
  return (await store.get(k)) !== null;
}

async function sweepAt(env: Awaited<ReturnType<typeof setup>>, t: number): Promise<void> {
  await env.feed.waitFresh();
  env.clock.set(t);
  await env.sweeper.sweep();
  await env.feed.waitFresh();
}

test('an event is deleted one TTL after its write, through the store (watchers see the delete); others stay', async () => {
  const env = await setup();
  try {
    await env.store.create(key('a'), event('a', iso(T0)));
    await env.store.create('/registry/core/configmaps/default/cm', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' } }));
    await sweepAt(env, T0 + TTL - 1);
    assert.ok(await exists(env.store, key('a')), 'not yet due');
    await sweepAt(env, T0 + TTL + 1);
    assert.equal(await exists(env.store, key('a')), false, 'expired');
    assert.deepEqual(env.deleted, [key('a')]);
    assert.ok(await exists(env.store, '/registry/core/configmaps/default/cm'), 'non-event untouched');
    assert.equal(env.sweeper.tracked, 0);
  } finally { await env.close(); }
});

test('an event updated before expiry lives one TTL from the update', async () => {
  const env = await setup();
  try {
    const kv = await env.store.create(key('b'), event('b', iso(T0)));
    await env.feed.waitFresh();
    env.clock.set(T0 + 1500);
    await env.store.update(key('b'), event('b', iso(T0)), kv.modRevision); // same timestamps: only the write time counts
    await sweepAt(env, T0 + TTL + 100);
    assert.ok(await exists(env.store, key('b')), 'the update moved the deadline');
    await sweepAt(env, T0 + 1500 + TTL - 1);
    assert.ok(await exists(env.store, key('b')));
    await sweepAt(env, T0 + 1500 + TTL + 1);
    assert.equal(await exists(env.store, key('b')), false);
    assert.deepEqual(env.deleted, [key('b')]);
  } finally { await env.close(); }
});

test('after a restart, events expire from their own last timestamps (capped at now)', async () => {
  const first = await setup();
  const old = T0 - 10 * TTL;
  await first.store.create(key('old'), event('old', iso(old)));
  await first.store.create(key('recent'), event('recent', iso(T0)));
  await first.store.create(key('future'), event('future', iso(T0 + 3_600_000))); // a client clock far ahead
  await first.close();

  const env = await setup(first.dir); // a new sweeper over the same database, clock at T0
  try {
    assert.equal(env.sweeper.tracked, 3);
    await sweepAt(env, T0);
    assert.equal(await exists(env.store, key('old')), false, 'written long ago: expired at once');
    assert.ok(await exists(env.store, key('recent')));
    assert.ok(await exists(env.store, key('future')));
    await sweepAt(env, T0 + TTL + 1);
    assert.equal(await exists(env.store, key('recent')), false);
    assert.equal(await exists(env.store, key('future')), false, 'a future timestamp counts as now');
    assert.deepEqual(env.deleted.sort(), [key('future'), key('old'), key('recent')]);
  } finally { await env.close(); }
});

test('an event deleted and created again lives one TTL from the new write, not the old one', async () => {
  const env = await setup();
  try {
    await env.store.create(key('d'), event('d', iso(T0)));
    await env.feed.waitFresh();
    await env.store.delete(key('d'));
    env.clock.set(T0 + 1500);
    await env.store.create(key('d'), event('d', iso(T0 + 1500)));
    await sweepAt(env, T0 + TTL + 100);
    assert.ok(await exists(env.store, key('d')), 'the first incarnation\'s deadline does not apply');
    await sweepAt(env, T0 + 1500 + TTL + 1);
    assert.equal(await exists(env.store, key('d')), false);
    assert.deepEqual(env.deleted, [key('d'), key('d')]);
    assert.equal(env.sweeper.tracked, 0);
  } finally { await env.close(); }
});

test('a TTL of 0 keeps events', async () => {
  const env = await setup();
  try {
    const keep = new EventTtlSweeper({ store: env.store, feed: env.feed, ttlMs: 0, now: () => T0 + 1e9, timers: false });
    await keep.start();
    env.sweeper.stop();
    await env.store.create(key('c'), event('c', iso(T0)));
    await env.feed.waitFresh();
    await keep.sweep();
    assert.ok(await exists(env.store, key('c')));
    assert.equal(keep.tracked, 0);
    keep.stop();
  } finally { await env.close(); }
});

test('lastWriteLowerBound takes the latest of the event\'s timestamps', () => {
  assert.equal(lastWriteLowerBound({
    metadata: { creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ time: '2026-01-01T00:05:00Z' }] },
    lastTimestamp: '2026-01-01T00:03:00Z', series: { lastObservedTime: '2026-01-01T00:04:00.123456Z' },
  } as never), Date.parse('2026-01-01T00:05:00Z'));
  assert.equal(lastWriteLowerBound({ metadata: {}, eventTime: null } as never), 0);
});

test('parseGoDuration reads Go durations as kube-apiserver flags do', () => {
  assert.equal(parseGoDuration('1h'), 3_600_000);
  assert.equal(parseGoDuration('30m'), 1_800_000);
  assert.equal(parseGoDuration('90s'), 90_000);
  assert.equal(parseGoDuration('1h30m'), 5_400_000);
  assert.equal(parseGoDuration('1.5h'), 5_400_000);
  assert.equal(parseGoDuration('500ms'), 500);
  assert.equal(parseGoDuration('0'), 0);
  for (const bad of ['', '1', '60', 'h', '1d', '-1h', '1h-30m', 'abc', '1 h']) assert.equal(parseGoDuration(bad), null, bad);
});
