/**
 * The storage conformance suite: the behaviour every Store backend (SQLite now; etcd and
 * PostgreSQL later) must show, registered as node:test tests. A backend's test file calls
 *
 *   describeStoreConformance('sqlite', { open: (dir) => openSqliteStore(join(dir, 'db')) });
 *
 * `open(dir)` gets a fresh empty directory per test, and is called again on the same directory
 * by the restart tests, which expect the data to still be there.
 *
 * Imported only by tests: nothing at run time may import this module (it loads node:test).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { seededRandom } from '../common/seeded-random.js';
import {
  CompactedError,
  ConflictError,
  FutureRevisionError,
  KeyExistsError,
  KeyNotFoundError,
  type KeyValue,
  type Store,
  type WatchEvent,
  type Watcher,
} from './types.js';

export interface StoreBackend {
  open(dir: string): Promise<Store>;
}

const WAIT_MS = 20_000;

/** Collects a watcher's events; waits are bounded so a missing event fails instead of hanging. */
export class EventCollector {
  readonly events: WatchEvent[] = [];
  error: Error | null = null;
  watcher: Watcher | null = null;
  private wake: (() => void) | null = null;

  static start(store: Store, prefix: string, fromRevision: number): EventCollector {
    const c = new EventCollector();
    c.watcher = store.watch(prefix, { fromRevision }, {
      onEvent: (e) => {
        c.events.push(e);
        c.wake?.();
      },
      onError: (err) => {
        c.error = err;
        c.wake?.();
      },
    });
    return c;
  }

  async waitFor(count: number): Promise<WatchEvent[]> {
    await this.waitUntil(() => this.events.length >= count, `${count} events (have ${this.events.length})`);
    return this.events;
  }

  async waitForError(): Promise<Error> {
    await this.waitUntil(() => this.error !== null, 'a watch error');
    return this.error!;
  }

  private async waitUntil(done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!done()) {
      if (this.error && !what.includes('error')) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  cancel(): void {
    this.watcher?.cancel();
  }
}

/** A watch on a compacted revision may fail by throwing or through onError; both count. */
async function watchFailure(store: Store, prefix: string, fromRevision: number): Promise<Error> {
  let collector: EventCollector;
  try {
    collector = EventCollector.start(store, prefix, fromRevision);
  } catch (err) {
    return err as Error;
  }
  try {
    return await collector.waitForError();
  } finally {
    collector.cancel();
  }
}

function summary(events: WatchEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.kv.key}=${e.kv.value}@${e.revision}`);
}

export function describeStoreConformance(name: string, backend: StoreBackend): void {
  describe(`store conformance: ${name}`, () => {
    const dirs: string[] = [];
    const stores: Store[] = [];

    after(async () => {
      for (const s of stores) await s.close().catch(() => undefined);
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    async function freshDir(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'kedge-store-'));
      dirs.push(dir);
      return dir;
    }
    async function openIn(dir: string): Promise<Store> {
      const store = await backend.open(dir);
      stores.push(store);
      return store;
    }
    async function fresh(): Promise<Store> {
      return openIn(await freshDir());
    }

    test('an empty store is at revision 0', async () => {
      const s = await fresh();
      assert.equal(await s.currentRevision(), 0);
      assert.equal(await s.compactedRevision(), 0);
      assert.equal(await s.get('/x'), null);
      assert.deepEqual((await s.list('/')).items, []);
      assert.equal(await s.count('/'), 0);
    });

    test('create, get, update, delete', async () => {
      const s = await fresh();
      const created = await s.create('/r/a', 'v1');
      assert.equal(created.key, '/r/a');
      assert.equal(created.value, 'v1');
      assert.equal(created.createRevision, created.modRevision);
      assert.deepEqual(await s.get('/r/a'), created);

      const updated = await s.update('/r/a', 'v2');
      assert.equal(updated.value, 'v2');
      assert.equal(updated.createRevision, created.createRevision);
      assert.ok(updated.modRevision > created.modRevision);
      assert.deepEqual(await s.get('/r/a'), updated);

      const deleted = await s.delete('/r/a');
      assert.equal(deleted.value, 'v2', 'delete returns the last value');
      assert.equal(deleted.createRevision, created.createRevision);
      assert.ok(deleted.modRevision > updated.modRevision, 'delete reports its own revision');
      assert.equal(deleted.modRevision, await s.currentRevision());
      assert.equal(await s.get('/r/a'), null);
    });

    test('KeyExists, KeyNotFound and Conflict errors change nothing', async () => {
      const s = await fresh();
      const a = await s.create('/e/a', 'one');
      const before = await s.currentRevision();

      await assert.rejects(s.create('/e/a', 'two'), KeyExistsError);
      await assert.rejects(s.update('/e/missing', 'x'), KeyNotFoundError);
      await assert.rejects(s.delete('/e/missing'), KeyNotFoundError);
      await assert.rejects(s.update('/e/a', 'x', a.modRevision + 100), (err: unknown) => {
        assert.ok(err instanceof ConflictError);
        assert.equal(err.expected, a.modRevision + 100);
        assert.equal(err.actual, a.modRevision);
        return true;
      });
      await assert.rejects(s.delete('/e/a', a.modRevision - 1), ConflictError);

      assert.equal(await s.currentRevision(), before, 'failed writes consume no revision');
      assert.deepEqual(await s.get('/e/a'), a);
      assert.deepEqual(summary((await s.list('/e/')).items.map((kv) => ({ type: 'create', kv, revision: kv.modRevision }))), [
        `create /e/a=one@${a.modRevision}`,
      ]);

      // The matching revision succeeds.
      const b = await s.update('/e/a', 'two', a.modRevision);
      await s.delete('/e/a', b.modRevision);
      assert.equal(await s.get('/e/a'), null);
    });

    test('revisions are cluster-wide and strictly increasing', async () => {
      const s = await fresh();
      const seen: number[] = [];
      for (let i = 0; i < 10; i++) {
        seen.push((await s.create(`/k${i % 3}/${i}`, `v${i}`)).modRevision);
        if (i % 2 === 0) seen.push((await s.update(`/k${i % 3}/${i}`, 'u')).modRevision);
      }
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `revision ${seen[i]} after ${seen[i - 1]}`);
      assert.equal(await s.currentRevision(), seen[seen.length - 1]);
    });

    test('createRevision marks the incarnation, modRevision the last write', async () => {
      const s = await fresh();
      const first = await s.create('/c/a', '1');
      await s.create('/c/other', 'x');
      const upd = await s.update('/c/a', '2');
      assert.equal(upd.createRevision, first.createRevision);
      await s.delete('/c/a');
      const again = await s.create('/c/a', '3');
      assert.ok(again.createRevision > upd.modRevision, 'a re-created key starts a new incarnation');
      assert.equal(again.createRevision, again.modRevision);
    });

    test('reads at a past revision see the state of that revision', async () => {
      const s = await fresh();
      const a1 = await s.create('/h/a', 'a1');
      const b1 = await s.create('/h/b', 'b1');
      const a2 = await s.update('/h/a', 'a2');
      const bDel = await s.delete('/h/b');
      const c1 = await s.create('/h/c', 'c1');

      assert.deepEqual(await s.get('/h/a', { revision: a1.modRevision }), a1);
      assert.deepEqual(await s.get('/h/a', { revision: b1.modRevision }), a1);
      assert.deepEqual(await s.get('/h/a', { revision: a2.modRevision }), a2);
      assert.deepEqual(await s.get('/h/b', { revision: a2.modRevision }), b1);
      assert.equal(await s.get('/h/b', { revision: bDel.modRevision }), null);
      assert.equal(await s.get('/h/c', { revision: bDel.modRevision }), null, 'not yet created');
      assert.deepEqual(await s.get('/h/c', { revision: c1.modRevision }), c1);

      const past = await s.list('/h/', { revision: a2.modRevision });
      assert.equal(past.revision, a2.modRevision);
      assert.deepEqual(past.items, [a2, b1]);
      const latest = await s.list('/h/');
      assert.equal(latest.revision, c1.modRevision);
      assert.deepEqual(latest.items, [a2, c1]);

      await assert.rejects(s.get('/h/a', { revision: c1.modRevision + 5 }), FutureRevisionError);
      await assert.rejects(s.list('/h/', { revision: c1.modRevision + 5 }), FutureRevisionError);
    });

    test('list: prefix, key order, limit, startAfter, more, remaining, revision', async () => {
      const s = await fresh();
      const keys = ['/l/e', '/l/a', '/l/d', '/l/b', '/l/c'];
      for (const k of keys) await s.create(k, k.toUpperCase());
      await s.create('/lx/a', 'outside');
      await s.create('/k/a', 'outside');

      const all = await s.list('/l/');
      assert.deepEqual(all.items.map((kv) => kv.key), ['/l/a', '/l/b', '/l/c', '/l/d', '/l/e']);
      assert.equal(all.more, false);
      assert.equal(all.remaining, 0);
      assert.equal(all.revision, await s.currentRevision());

      const page1 = await s.list('/l/', { limit: 2 });
      assert.deepEqual(page1.items.map((kv) => kv.key), ['/l/a', '/l/b']);
      assert.equal(page1.more, true);
      assert.equal(page1.remaining, 3);

      // Writes between pages must not show up when the list continues at the first page's revision.
      await s.create('/l/bb', 'new');
      await s.delete('/l/d');
      const page2 = await s.list('/l/', { limit: 2, startAfter: '/l/b', revision: page1.revision });
      assert.deepEqual(page2.items.map((kv) => kv.key), ['/l/c', '/l/d']);
      assert.equal(page2.revision, page1.revision);
      assert.equal(page2.more, true);
      assert.equal(page2.remaining, 1);
      const page3 = await s.list('/l/', { limit: 2, startAfter: '/l/d', revision: page1.revision });
      assert.deepEqual(page3.items.map((kv) => kv.key), ['/l/e']);
      assert.equal(page3.more, false);
      assert.equal(page3.remaining, 0);

      const latestAfterB = await s.list('/l/', { startAfter: '/l/b' });
      assert.deepEqual(latestAfterB.items.map((kv) => kv.key), ['/l/bb', '/l/c', '/l/e']);
      const exact = await s.list('/l/', { limit: 3, startAfter: '/l/b' });
      assert.equal(exact.more, false, 'a page that ends exactly at the last key has no more');
      assert.equal(exact.remaining, 0);
      assert.deepEqual((await s.list('/l/', { startAfter: '/l/z' })).items, []);
    });

    test('count counts the latest keys under a prefix', async () => {
      const s = await fresh();
      for (let i = 0; i < 7; i++) await s.create(`/n/${i}`, 'v');
      await s.create('/nn/x', 'v');
      await s.delete('/n/3');
      assert.equal(await s.count('/n/'), 6);
      assert.equal(await s.count('/nn/'), 1);
      assert.equal(await s.count('/n'), 7);
      assert.equal(await s.count('/none/'), 0);
    });

    test('prefix isolation: /a/ never sees /ab/', async () => {
      const s = await fresh();
      await s.create('/a/1', 'a');
      await s.create('/ab/1', 'ab');
      await s.create('/a0', 'a0');
      const watchA = EventCollector.start(s, '/a/', 0);
      assert.deepEqual((await s.list('/a/')).items.map((kv) => kv.key), ['/a/1']);
      assert.equal(await s.count('/a/'), 1);
      await s.update('/ab/1', 'ab2');
      await s.update('/a/1', 'a2');
      const events = await watchA.waitFor(2);
      watchA.cancel();
      assert.deepEqual(events.map((e) => e.kv.key), ['/a/1', '/a/1']);
    });

    test('watch from 0 replays all history in order', async () => {
      const s = await fresh();
      const a = await s.create('/w/a', '1');
      await s.update('/w/a', '2');
      await s.create('/w/b', '1');
      await s.delete('/w/a');
      const c = EventCollector.start(s, '/w/', 0);
      const events = await c.waitFor(4);
      c.cancel();
      assert.deepEqual(summary(events), [
        `create /w/a=1@${a.modRevision}`,
        `update /w/a=2@${a.modRevision + 1}`,
        `create /w/b=1@${a.modRevision + 2}`,
        `delete /w/a=2@${a.modRevision + 3}`,
      ]);
      for (const e of events) assert.equal(e.revision, e.kv.modRevision);
    });

    test('watch from a past revision delivers only later events, then live ones', async () => {
      const s = await fresh();
      await s.create('/w/a', '1');
      const mark = await s.create('/w/b', '1');
      const u = await s.update('/w/a', '2');
      const c = EventCollector.start(s, '/w/', mark.modRevision);
      const live = await s.create('/w/c', '1');
      const events = await c.waitFor(2);
      assert.deepEqual(summary(events), [`update /w/a=2@${u.modRevision}`, `create /w/c=1@${live.modRevision}`]);
      c.cancel();
      await s.create('/w/d', '1');
      await s.create('/w/e', '1');
      assert.equal(c.events.length, 2, 'no events after cancel');
    });

    test('live watch from the current revision sees new writes only', async () => {
      const s = await fresh();
      await s.create('/live/old', 'x');
      const c = EventCollector.start(s, '/live/', await s.currentRevision());
      const n = await s.create('/live/new', 'y');
      const events = await c.waitFor(1);
      c.cancel();
      assert.deepEqual(summary(events), [`create /live/new=y@${n.modRevision}`]);
    });

    test('delete events carry the last value; prevKv on update and delete', async () => {
      const s = await fresh();
      const c = EventCollector.start(s, '/p/', 0);
      const created = await s.create('/p/a', 'first');
      const updated = await s.update('/p/a', 'second');
      const deleted = await s.delete('/p/a');
      const events = await c.waitFor(3);
      c.cancel();
      const [ce, ue, de] = events as [WatchEvent, WatchEvent, WatchEvent];
      assert.equal(ce.type, 'create');
      assert.equal(ce.prevKv, undefined);
      assert.deepEqual(ue.prevKv, created);
      assert.deepEqual(ue.kv, updated);
      assert.equal(de.type, 'delete');
      assert.deepEqual(de.kv, { ...updated, modRevision: deleted.modRevision });
      assert.deepEqual(de.prevKv, updated);

      // The same through replay from history.
      const r = EventCollector.start(s, '/p/', 0);
      const replayed = await r.waitFor(3);
      r.cancel();
      assert.deepEqual(replayed, events);
    });

    test('every watcher gets every event once, in order, while writers run concurrently', async () => {
      const s = await fresh();
      for (let i = 0; i < 200; i++) await s.create(`/cw/pre${i}`, 'x');
      const from = 50;
      const writes: Promise<KeyValue>[] = [];
      for (let i = 0; i < 300; i++) writes.push(s.create(`/cw/k${i}`, String(i)));
      // Watchers start while those writes are queued and committing.
      const early = EventCollector.start(s, '/cw/', from);
      await new Promise((r) => setImmediate(r));
      const middle = EventCollector.start(s, '/cw/', from);
      for (let i = 0; i < 300; i++) writes.push(s.update(`/cw/pre${i % 200}`, `u${i}`));
      const results = await Promise.all(writes);
      const late = EventCollector.start(s, '/cw/', from);
      const total = (await s.currentRevision()) - from;
      for (const c of [early, middle, late]) {
        const events = await c.waitFor(total);
        c.cancel();
        assert.equal(events.length, total);
        events.forEach((e, i) => assert.equal(e.revision, from + 1 + i, 'no gap, no duplicate, in order'));
      }
      assert.equal(new Set(results.map((kv) => kv.modRevision)).size, results.length);
    });

    test('deliveredThrough never runs ahead of delivery (replay, live, other prefixes) and reaches the head once caught up', async () => {
      const s = await fresh();
      for (let i = 0; i < 300; i++) await s.create(i % 3 ? `/dt/k${i}` : `/other/k${i}`, 'x');
      const delivered: number[] = [];
      let watcher: Watcher | undefined;
      // Handlers that take a turn of the event loop per event keep the watcher behind the writers.
      watcher = s.watch('/dt/', { fromRevision: 0 }, {
        onEvent: (e) => {
          delivered.push(e.revision);
          assert.ok(watcher!.deliveredThrough() >= e.revision - 1);
          return new Promise<void>((r) => setImmediate(r));
        },
        onError: (err) => assert.fail(err),
      });
      const samples: Array<{ through: number; seen: number }> = [];
      let writing = true;
      const sampler = (async () => {
        while (writing || watcher!.deliveredThrough() < (await s.currentRevision())) {
          samples.push({ through: watcher!.deliveredThrough(), seen: delivered.length });
          await new Promise((r) => setImmediate(r));
        }
      })();
      for (let i = 300; i < 600; i++) await s.create(i % 3 ? `/dt/k${i}` : `/other/k${i}`, 'x');
      writing = false;
      await sampler;
      watcher.cancel();
      const all = (await s.list('/dt/', { revision: 0 })).items.map((kv) => kv.createRevision).sort((a, b) => a - b);
      assert.deepEqual(delivered, all, 'every event once, in order');
      assert.ok(samples.length > 10, `sampled ${samples.length} times`);
      for (const { through, seen } of samples) {
        const due = all.filter((r) => r <= through).length;
        assert.ok(seen >= due, `deliveredThrough ${through} claimed ${due} events when ${seen} had been delivered`);
      }
      assert.equal(watcher.deliveredThrough(), await s.currentRevision());
    });

    test('compaction: old revisions fail with CompactedError, latest values survive', async () => {
      const s = await fresh();
      const keep = await s.create('/cp/keep', 'never-updated');
      const gone = await s.create('/cp/gone', 'x');
      await s.delete('/cp/gone');
      const a1 = await s.create('/cp/a', '1');
      const a2 = await s.update('/cp/a', '2');
      const mid = await s.create('/cp/mid', 'm');
      const a3 = await s.update('/cp/a', '3');
      const top = await s.currentRevision();

      await s.compact(mid.modRevision);
      assert.equal(await s.compactedRevision(), mid.modRevision);

      await assert.rejects(s.get('/cp/a', { revision: a1.modRevision }), CompactedError);
      await assert.rejects(s.get('/cp/a', { revision: mid.modRevision - 1 }), CompactedError);
      await assert.rejects(s.list('/cp/', { revision: a2.modRevision }), CompactedError);
      // The state at exactly the compaction point stays readable (as in etcd): a paginated list
      // read at that revision can still continue.
      assert.deepEqual(await s.get('/cp/a', { revision: mid.modRevision }), a2);
      assert.deepEqual((await s.list('/cp/', { revision: mid.modRevision })).items, [a2, keep, mid]);
      assert.equal(await s.get('/cp/gone', { revision: mid.modRevision }), null);
      assert.ok((await watchFailure(s, '/cp/', a1.modRevision)) instanceof CompactedError);

      // Latest state is intact, including keys last written long before the compaction point.
      assert.deepEqual((await s.list('/cp/')).items, [a3, keep, mid]);
      assert.deepEqual(await s.get('/cp/keep'), keep);
      assert.equal(await s.get('/cp/gone'), null);
      // History after the compaction point is still readable and watchable.
      assert.deepEqual(await s.list('/cp/', { revision: a3.modRevision }), {
        items: [a3, keep, mid],
        revision: a3.modRevision,
        more: false,
        remaining: 0,
      });
      const c = EventCollector.start(s, '/cp/', mid.modRevision);
      const events = await c.waitFor(1);
      c.cancel();
      assert.deepEqual(summary(events), [`update /cp/a=3@${a3.modRevision}`]);
      assert.deepEqual(events[0]!.prevKv, a2, 'prevKv of the first event after compaction');

      // Compacting backwards is a no-op; beyond the current revision is an error.
      await s.compact(gone.modRevision);
      assert.equal(await s.compactedRevision(), mid.modRevision);
      await assert.rejects(s.compact(top + 10), FutureRevisionError);
      // Writes go on with higher revisions.
      assert.ok((await s.create('/cp/after', 'x')).modRevision > top);
    });

    test('compaction overtaking a replaying watch never makes it skip history silently', async () => {
      const s = await fresh();
      for (let i = 0; i < 50; i++) await s.create(`/cr/${i}`, 'x');
      const revisions: number[] = [];
      let release: () => void = () => {};
      const blocked = new Promise<void>((r) => (release = r));
      let failure = null as Error | null;
      const w = s.watch('/cr/', { fromRevision: 0 }, {
        onEvent: (e) => {
          revisions.push(e.revision);
          return revisions.length === 1 ? blocked : undefined;
        },
        onError: (err) => (failure = err),
      });
      const waitFor = async (done: () => boolean) => {
        const deadline = Date.now() + WAIT_MS;
        while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      };
      // Hold the watcher at its first event, rewrite every key and compact past it, then let it go on.
      await waitFor(() => revisions.length > 0);
      assert.equal(revisions.length, 1);
      for (let i = 0; i < 50; i++) await s.update(`/cr/${i}`, 'y');
      const top = await s.currentRevision();
      await s.compact(top);
      release();
      await waitFor(() => failure !== null || revisions.length === top);
      w.cancel();
      // Either the backend had already read the events (then it delivers all of them, in order),
      // or it must stop with CompactedError: what it delivered is a gap-free prefix either way.
      assert.deepEqual(revisions, Array.from({ length: revisions.length }, (_, i) => i + 1));
      if (failure) assert.ok(failure instanceof CompactedError, `unexpected ${String(failure)}`);
      else assert.equal(revisions.length, top);
    });

    test('50 parallel compare-and-swap increment loops lose no update', async () => {
      const s = await fresh();
      await s.create('/cas/counter', '0');
      const loops = 50;
      const perLoop = 6;
      let conflicts = 0;
      const worker = async () => {
        for (let done = 0; done < perLoop; ) {
          const cur = (await s.get('/cas/counter'))!;
          try {
            await s.update('/cas/counter', String(Number(cur.value) + 1), cur.modRevision);
            done++;
          } catch (err) {
            if (!(err instanceof ConflictError)) throw err;
            conflicts++;
          }
        }
      };
      await Promise.all(Array.from({ length: loops }, worker));
      assert.equal((await s.get('/cas/counter'))!.value, String(loops * perLoop));
      assert.ok(conflicts > 0, 'the loops really raced');
    });

    test('1,000 parallel creates get unique revisions and all land', async () => {
      const s = await fresh();
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => s.create(`/par/${String(i).padStart(4, '0')}`, `v${i}`)));
      assert.equal(new Set(results.map((kv) => kv.modRevision)).size, 1000);
      assert.equal(await s.count('/par/'), 1000);
      assert.equal(await s.currentRevision(), Math.max(...results.map((kv) => kv.modRevision)));
      const listed = await s.list('/par/');
      assert.deepEqual(listed.items, [...results].sort((x, y) => (x.key < y.key ? -1 : 1)));
      // Parallel creates of the same key: exactly one wins.
      const same = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => s.create('/par/same', String(i))));
      assert.equal(same.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of same) if (r.status === 'rejected') assert.ok(r.reason instanceof KeyExistsError);
    });

    test('data, history and revisions survive a restart; watch replays across it', async () => {
      const dir = await freshDir();
      const s1 = await openIn(dir);
      const a = await s1.create('/rs/a', '1');
      const b = await s1.create('/rs/b', '1');
      const a2 = await s1.update('/rs/a', '2');
      await s1.delete('/rs/b');
      await s1.compact(a.modRevision);
      const lastBefore = await s1.currentRevision();
      await s1.close();

      const s2 = await openIn(dir);
      assert.equal(await s2.currentRevision(), lastBefore);
      assert.equal(await s2.compactedRevision(), a.modRevision);
      assert.deepEqual(await s2.get('/rs/a'), a2);
      assert.deepEqual(await s2.get('/rs/b', { revision: a2.modRevision }), b);
      assert.ok((await watchFailure(s2, '/rs/', 0)) instanceof CompactedError);

      const c = EventCollector.start(s2, '/rs/', b.modRevision - 1);
      const next = await s2.create('/rs/c', '1');
      assert.ok(next.modRevision > lastBefore, 'revisions keep increasing after a restart');
      const events = await c.waitFor(4);
      c.cancel();
      assert.deepEqual(summary(events), [
        `create /rs/b=1@${b.modRevision}`,
        `update /rs/a=2@${a2.modRevision}`,
        `delete /rs/b=1@${lastBefore}`,
        `create /rs/c=1@${next.modRevision}`,
      ]);
    });

    test('randomized operations agree with a reference model, across compactions and a restart', async () => {
      const dir = await freshDir();
      let s = await openIn(dir);
      // KEDGE_CONFORMANCE_SEED explores other sequences; a failure names its seed.
      const seed = Number(process.env.KEDGE_CONFORMANCE_SEED ?? 20261122);
      const random = seededRandom(seed);
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const keys = ['/m/a/1', '/m/a/2', '/m/a/3', '/m/ab/1', '/m/ab/2', '/m/b/1', '/m/b/2', '/m/b/3'];
      const prefixes = ['/m/', '/m/a/', '/m/ab/', '/m/a', '/m/b/', '/m/c/'];
      // The model: every successful write as the event it must produce, in revision order.
      const history: WatchEvent[] = [];
      let compacted = 0;
      const stateAt = (revision: number): Map<string, KeyValue> => {
        const state = new Map<string, KeyValue>();
        for (const e of history) {
          if (e.revision > revision) break;
          if (e.type === 'delete') state.delete(e.kv.key);
          else state.set(e.kv.key, e.kv);
        }
        return state;
      };
      const head = () => (history.length ? history[history.length - 1]!.revision : 0);
      const watchers: { from: number; prefix: string; c: EventCollector }[] = [];

      for (let step = 0; step < 400; step++) {
        const roll = random();
        const key = pick(keys);
        const live = stateAt(head()).get(key);
        if (roll < 0.45) {
          // A write: create, update (maybe with a stale revision) or delete; the model predicts the outcome.
          const kind = pick(['create', 'update', 'delete'] as const);
          const expected = random() < 0.5 ? undefined : live && random() < 0.7 ? live.modRevision : head() + 1;
          const value = `v${step}`;
          const op =
            kind === 'create' ? s.create(key, value) : kind === 'update' ? s.update(key, value, expected) : s.delete(key, expected);
          const shouldFail: (new (...args: never[]) => Error) | null =
            kind === 'create' ? (live ? KeyExistsError : null) : !live ? KeyNotFoundError : expected !== undefined && expected !== live.modRevision ? ConflictError : null;
          if (shouldFail) {
            await assert.rejects(op, shouldFail, `step ${step}: ${kind} ${key}`);
            continue;
          }
          // Sometimes read while the write is in flight: whichever state the read saw, its items
          // must be exactly the state at the revision it reports (what watch-after-list relies on).
          // (Reads start a turn or two later, so they may also land after a commit but before its sync.)
          const later = (turns: number): Promise<void> =>
            turns === 0 ? Promise.resolve() : new Promise((r) => setImmediate(r)).then(() => later(turns - 1));
          const racingList = random() < 0.3 ? later(pick([0, 1, 2])).then(() => s.list('/m/')) : null;
          const racingGet = random() < 0.3 ? later(pick([0, 1, 2])).then(() => s.get(key)) : null;
          const kv = await op;
          assert.ok(kv.modRevision > head(), `step ${step}: revision ${kv.modRevision} after ${head()}`);
          const event: WatchEvent =
            kind === 'create'
              ? { type: 'create', kv: { key, value, createRevision: kv.modRevision, modRevision: kv.modRevision }, revision: kv.modRevision }
              : kind === 'update'
                ? { type: 'update', kv: { key, value, createRevision: live!.createRevision, modRevision: kv.modRevision }, prevKv: live, revision: kv.modRevision }
                : { type: 'delete', kv: { ...live!, modRevision: kv.modRevision }, prevKv: live, revision: kv.modRevision };
          assert.deepEqual(kv, event.kv, `step ${step}: result of ${kind} ${key}`);
          history.push(event);
          if (racingList) {
            const res = await racingList;
            const state = [...stateAt(res.revision).values()].sort((x, y) => (x.key < y.key ? -1 : 1));
            assert.deepEqual(res.items, state, `seed ${seed} step ${step}: list racing a write, at ${res.revision}`);
          }
          if (racingGet) {
            const got = await racingGet;
            const before = history.length > 1 ? stateAt(history[history.length - 2]!.revision).get(key) ?? null : null;
            const after = stateAt(head()).get(key) ?? null;
            assert.ok(isDeepStrictEqual(got, before) || isDeepStrictEqual(got, after), `seed ${seed} step ${step}: get racing a write`);
          }
        } else if (roll < 0.75) {
          // A read at the head or at a random retained revision, through get or a paginated list.
          const revision = random() < 0.3 || head() === 0 ? 0 : Math.max(1, compacted) + Math.floor(random() * (head() - Math.max(1, compacted) + 1));
          const state = stateAt(revision || head());
          if (random() < 0.4) {
            assert.deepEqual(await s.get(key, { revision }), state.get(key) ?? null, `step ${step}: get ${key}@${revision}`);
          } else {
            const prefix = pick(prefixes);
            const expectedItems = [...state.values()].filter((kv) => kv.key.startsWith(prefix)).sort((x, y) => (x.key < y.key ? -1 : 1));
            const limit = pick([0, 1, 2, 3]);
            const seen: KeyValue[] = [];
            let startAfter: string | undefined;
            let at = revision;
            for (let page = 0; page < 20; page++) {
              const res = await s.list(prefix, { revision: at, limit, startAfter });
              at = res.revision;
              seen.push(...res.items);
              assert.equal(res.remaining, expectedItems.length - seen.length, `seed ${seed} step ${step}: remaining of ${prefix}@${at} after ${startAfter}`);
              assert.equal(res.more, res.remaining > 0);
              if (!res.more) break;
              startAfter = res.items[res.items.length - 1]!.key;
            }
            assert.equal(at, revision || head());
            assert.deepEqual(seen, expectedItems, `step ${step}: list ${prefix}@${revision} limit ${limit}`);
            if (!revision) assert.equal(await s.count(prefix), expectedItems.length);
          }
        } else if (roll < 0.83) {
          // A watcher from a random retained revision; checked against the model at the end.
          const from = compacted + Math.floor(random() * (head() - compacted + 1));
          const prefix = pick(prefixes);
          watchers.push({ from, prefix, c: EventCollector.start(s, prefix, from) });
        } else if (roll < 0.86 && head() > compacted) {
          // Compaction somewhere in the retained window; reads below it must then fail.
          const target = compacted + 1 + Math.floor(random() * (head() - compacted));
          await s.compact(target);
          compacted = target;
          assert.equal(await s.compactedRevision(), compacted);
          if (compacted > 1) await assert.rejects(s.get(key, { revision: compacted - 1 }), CompactedError);
        } else if (roll < 0.87) {
          // Restart: watchers end with the old store; everything else must carry over.
          await settleWatchers(watchers, history, head(), compacted);
          watchers.length = 0;
          await s.close();
          s = await openIn(dir);
          assert.equal(await s.currentRevision(), head());
          assert.equal(await s.compactedRevision(), compacted);
        }
      }
      await settleWatchers(watchers, history, head(), compacted);
    });
  });
}

/**
 * Each watcher must have received exactly the model's events after its start, for its prefix. A
 * watcher that compaction overtook (compacted past its start) may instead stop with
 * CompactedError, having delivered a gap-free prefix of them.
 */
async function settleWatchers(
  watchers: { from: number; prefix: string; c: EventCollector }[],
  history: WatchEvent[],
  head: number,
  compacted: number,
): Promise<void> {
  for (const { from, prefix, c } of watchers) {
    const expected = history.filter((e) => e.revision > from && e.revision <= head && e.kv.key.startsWith(prefix));
    try {
      await c.waitFor(expected.length);
    } catch (err) {
      if (!(err instanceof CompactedError) || compacted <= from) throw err;
    }
    // Give stray extra events a moment to show up before comparing.
    await new Promise((r) => setTimeout(r, 5));
    c.cancel();
    const what = `watch ${prefix} from ${from}`;
    if (c.error) assert.deepEqual(c.events, expected.slice(0, c.events.length), what);
    else assert.deepEqual(c.events, expected, what);
  }
}
