/**
 * SQLite backend: the shared conformance suite (with default options, and again with tiny
 * replay/compaction chunks and no group commit, so chunk boundaries and the one-write-per-commit
 * path are exercised too), plus what only an embedded file store has: crash safety, the
 * single-writer lock, group-commit batches, bounded watcher buffers, auto-compaction.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { describeStoreConformance, EventCollector } from './conformance.js';
import { openSqliteStore, startAutoCompaction, type SqliteStore } from './sqlite.js';
import { KeyExistsError, StorageError, StoreClosedError, WatchOverflowError, type WatchEvent } from './types.js';

const summary = (events: WatchEvent[]) => events.map((e) => `${e.type} ${e.kv.key}@${e.revision}`);

describeStoreConformance('sqlite', { open: (dir) => openSqliteStore(join(dir, 'kedge.db')) });
describeStoreConformance('sqlite (tiny chunks, no group commit, synchronous=normal)', {
  open: (dir) =>
    openSqliteStore(join(dir, 'kedge.db'), { replayChunkSize: 3, compactionChunk: 2, maxBatchSize: 1, synchronous: 'normal' }),
});

describeStoreConformance('sqlite (background checkpointer every 5 ms, frequent WAL restarts)', {
  open: (dir) =>
    openSqliteStore(join(dir, 'kedge.db'), { checkpoint: 'background', checkpointIntervalMs: 5, checkpointRestartFrames: 16 }),
});

describeStoreConformance('sqlite (SQLite\'s own blocking FULL sync)', {
  open: (dir) => openSqliteStore(join(dir, 'kedge.db'), { asyncFsync: false }),
});

describe('sqlite store specifics', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of stores) await s.close().catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  async function dbPath(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kedge-sqlite-'));
    dirs.push(dir);
    return join(dir, 'kedge.db');
  }
  async function open(path: string, opts: Parameters<typeof openSqliteStore>[1] = {}): Promise<SqliteStore> {
    const s = await openSqliteStore(path, opts);
    stores.push(s);
    return s;
  }

  for (const mode of ['inline', 'background'] as const) {
    test(`every acknowledged write survives SIGKILL mid-writes (${mode} checkpoints)`, async () => {
      await crashAndCheck(mode);
    });
  }

  async function crashAndCheck(mode: 'inline' | 'background'): Promise<void> {
    const path = await dbPath();
    const script = fileURLToPath(new URL('./testdata/crash-writer.ts', import.meta.url));
    const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, path, mode], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const acked = new Map<string, { revision: number; value: string }>();
    let checkpoints = { rounds: 0, restarts: 0 };
    let maxRevision = 0;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('crash writer produced too few acknowledgements')), 60_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') return;
        if (line.startsWith('# ')) {
          const [, rounds, , restarts] = line.slice(2).split(' ');
          checkpoints = { rounds: Number(rounds), restarts: Number(restarts) };
          return;
        }
        const [key, rev, value] = line.split(' ') as [string, string, string];
        const revision = Number(rev);
        const prev = acked.get(key);
        if (!prev || prev.revision < revision) acked.set(key, { revision, value });
        maxRevision = Math.max(maxRevision, revision);
        if (acked.size >= 3000 && child.exitCode === null && !child.killed) {
          clearTimeout(timer);
          child.kill('SIGKILL'); // mid-stream: 64 writers still have writes in flight
          resolve();
        }
      });
      child.once('exit', () => reject(new Error('crash writer exited on its own')));
    });
    await exited;
    assert.equal(child.signalCode, 'SIGKILL');
    if (mode === 'background') {
      assert.ok(checkpoints.rounds > 0 && checkpoints.restarts > 0, `the kill landed among background checkpoints: ${JSON.stringify(checkpoints)}`);
    }

    const store = await open(path);
    assert.ok((await store.currentRevision()) >= maxRevision);
    let missing = 0;
    for (const [key, ack] of acked) {
      const kv = await store.get(key);
      if (!kv || kv.modRevision < ack.revision || (kv.modRevision === ack.revision && kv.value !== ack.value)) missing++;
    }
    assert.equal(missing, 0, `${missing} of ${acked.size} acknowledged keys lost or wrong`);
    // History is consistent too: the log replays to exactly the current state.
    const replay = EventCollector.start(store, '/crash/', 0);
    const events = await replay.waitFor(await store.currentRevision());
    replay.cancel();
    const rebuilt = new Map<string, string>();
    for (const e of events) e.type === 'delete' ? rebuilt.delete(e.kv.key) : rebuilt.set(e.kv.key, e.kv.value);
    const listed = await store.list('/crash/');
    assert.equal(listed.items.length, rebuilt.size);
    for (const kv of listed.items) assert.equal(rebuilt.get(kv.key), kv.value);
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
  }

  test('writes stay invisible and unacknowledged until the WAL sync covering them returns', async () => {
    const releases: (() => void)[] = [];
    const s = await open(':memory:', { syncWal: () => new Promise<void>((resolve) => releases.push(resolve)) });
    const syncsWaiting = (): number => releases.length;
    const watch = EventCollector.start(s, '/d/', 0);
    let settled = false;
    const first = s.create('/d/a', '1').finally(() => (settled = true));
    const deadline = Date.now() + 10_000;
    while (syncsWaiting() === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(syncsWaiting(), 1, 'the batch was committed and its sync started');
    const second = s.create('/d/b', '2'); // commits while the first sync is still under way
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false);
    assert.equal(await s.currentRevision(), 0);
    assert.equal(await s.get('/d/a'), null);
    assert.deepEqual((await s.list('/d/')).items, []);
    assert.equal(await s.count('/d/'), 0);
    assert.equal(watch.events.length, 0);
    assert.equal(syncsWaiting(), 1, 'one sync at a time');

    releases.shift()!();
    assert.equal((await first).modRevision, 1);
    assert.equal(await s.currentRevision(), 1);
    assert.deepEqual((await s.list('/d/')).items.map((kv) => kv.key), ['/d/a']);
    assert.equal(await s.count('/d/'), 1);
    while (syncsWaiting() === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    releases.shift()!();
    assert.equal((await second).modRevision, 2);
    assert.deepEqual(summary(await watch.waitFor(2)), ['create /d/a@1', 'create /d/b@2']);
    watch.cancel();
  });

  test('a failed WAL sync stops the store: covered writes fail, watchers end, calls are refused', async () => {
    let fail: (err: Error) => void = () => {};
    const s = await open(':memory:', { syncWal: () => new Promise<void>((_, reject) => (fail = reject)) });
    const watch = EventCollector.start(s, '/', 0);
    const covered = s.create('/e', '1');
    await new Promise((r) => setTimeout(r, 20));
    const queued = s.create('/q', '1'); // waits for the sync in flight
    await new Promise((r) => setTimeout(r, 20));
    fail(new Error('EIO'));
    await assert.rejects(covered, /WAL sync failed/);
    await assert.rejects(queued, /WAL sync failed/);
    assert.match((await watch.waitForError()).message, /WAL sync failed/);
    await assert.rejects(s.create('/f', '1'), /WAL sync failed/);
    await assert.rejects(s.get('/e'), /WAL sync failed/);
  });

  test('a file store syncs its WAL off the event loop by default', async () => {
    const s = await open(await dbPath());
    await Promise.all([s.create('/w/1', 'a'), s.create('/w/2', 'b')]);
    await s.create('/w/3', 'c');
    assert.ok(s.stats().syncs >= 2, `syncs: ${s.stats().syncs}`);
    const blocking = await open(await dbPath(), { asyncFsync: false });
    await blocking.create('/w/1', 'a');
    assert.equal(blocking.stats().syncs, 0);
  });

  test('a second opener of the same file is refused while the first is open', async () => {
    const path = await dbPath();
    const first = await open(path);
    await first.create('/x', '1');
    await assert.rejects(open(path), (err: unknown) => err instanceof StorageError && /another process/.test(err.message));
    await assert.rejects(open(join(path, 'no-such-dir', 'db')), StorageError);
    await first.close();
    const again = await open(path);
    assert.equal((await again.get('/x'))!.value, '1');
  });

  const kib = (n: number) => 'x'.repeat(n * 1024);
  const waitUntil = async (what: string, cond: () => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  test('background mode: a checkpointer thread copies the WAL into the database file; the writer never does', async () => {
    const path = await dbPath();
    const s = await open(path, { checkpoint: 'background', checkpointIntervalMs: 20 });
    assert.equal(s.stats().checkpointMode, 'background');
    const dbBytesAtStart = statSync(path).size;
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => s.create(`/bg/${round}/${i}`, kib(1))));
    }
    // ~1 MiB written: below SQLite's 1,000-page autocheckpoint, so only the thread can have copied it.
    await waitUntil('a background checkpoint', () => s.stats().backgroundCheckpoints > 0);
    await waitUntil('the rows reaching the database file', () => statSync(path).size > dbBytesAtStart + 512 * 1024);
    assert.equal(s.stats().inlineCheckpoints, 0);
    // Once everything is copied, a later commit rewinds the WAL instead of appending to it. SQLite marks a rewind by
    // a new salt in the WAL header; a commit that finds the checkpointer's read lock held appends instead, so on a
    // loaded machine the rewind may take a few commits: what must hold is that it happens without the writer
    // checkpointing, not that the first commit wins the race.
    const walSalt = () => readFileSync(`${path}-wal`).subarray(16, 24).toString('hex');
    const saltBefore = walSalt();
    let rewound = false;
    for (let attempt = 0; attempt < 50 && !rewound; attempt++) {
      const roundsNow = s.stats().backgroundCheckpoints;
      await waitUntil('two more checkpoint rounds', () => s.stats().backgroundCheckpoints >= roundsNow + 2);
      await s.create(`/bg/after/${attempt}`, 'small');
      rewound = walSalt() !== saltBefore;
    }
    assert.ok(rewound, 'the WAL was reused from its start (new salt), not only appended to');
    assert.equal(s.stats().inlineCheckpoints, 0);
    const afterCount = await s.count('/bg/after/');
    assert.equal(await s.count('/bg/'), 1000 + afterCount);
    await s.close();
    const reopened = await open(path);
    assert.equal((await reopened.get('/bg/9/99'))!.value.length, 1024);
  });

  test('background mode: a stalled checkpointer cannot grow the WAL past its limit (the writer checkpoints, warns, counts)', async () => {
    const path = await dbPath();
    const warnings: string[] = [];
    const logger = { warn: (_: unknown, msg: string) => warnings.push(msg), error: (_: unknown, msg: string) => warnings.push(msg) };
    const limit = 256 * 1024;
    const s = await open(path, {
      checkpoint: 'background',
      checkpointIntervalMs: 3_600_000, // never runs within the test: stalled
      walLimitBytes: limit,
      logger: logger as unknown as NonNullable<Parameters<typeof openSqliteStore>[1]>['logger'],
    });
    let maxWal = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.create(`/stall/${round}/${i}`, kib(2))));
      maxWal = Math.max(maxWal, statSync(`${path}-wal`).size);
      await new Promise((r) => setTimeout(r, 110)); // the writer looks at the WAL's size at most every 100 ms
    }
    const stats = s.stats();
    assert.equal(stats.backgroundCheckpoints, 0);
    assert.ok(stats.inlineCheckpoints > 0, `inline checkpoints: ${stats.inlineCheckpoints}`);
    // One batch (20 × 2 KiB plus index pages) may land on top of the limit before the writer acts.
    assert.ok(maxWal < limit + 200 * 1024, `WAL reached ${maxWal} bytes with a ${limit}-byte limit`);
    assert.ok(warnings.some((w) => /WAL past its limit/.test(w)), warnings.join('; '));
    assert.equal(await s.count('/stall/'), 400);
  });

  test('background mode keeps a single writer: a second opener is refused, in either mode, until the first closes', async () => {
    const path = await dbPath();
    const first = await open(path, { checkpoint: 'background' });
    await first.create('/one', '1');
    await assert.rejects(open(path, { checkpoint: 'background' }), (err: unknown) => err instanceof StorageError && /another process/.test(err.message));
    await assert.rejects(open(path), StorageError);
    await first.close();
    const inline = await open(path);
    await assert.rejects(open(path, { checkpoint: 'background' }), StorageError);
    await inline.close();
    const again = await open(path, { checkpoint: 'background' });
    assert.equal((await again.get('/one'))!.value, '1');
  });

  test('writes queued together commit as one batch, each with its own revision and outcome', async () => {
    const s = await open(':memory:');
    const start = await s.currentRevision();
    const commitsBefore = s.stats().commits;
    const results = await Promise.allSettled([
      s.create('/b/1', 'a'),
      s.create('/b/1', 'dup'),
      s.update('/b/1', 'b'),
      s.delete('/b/missing'),
      s.create('/b/2', 'c'),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value.modRevision : (r.reason as Error).constructor.name)),
      [start + 1, 'KeyExistsError', start + 2, 'KeyNotFoundError', start + 3],
    );
    assert.equal(s.stats().commits, commitsBefore + 1, 'one transaction for the whole batch');
    assert.equal((await s.get('/b/1'))!.value, 'b', 'later writes in a batch see earlier ones');
    // Without group commit the same writes take one transaction each.
    const single = await open(':memory:', { maxBatchSize: 1 });
    await Promise.all([single.create('/s/1', 'a'), single.create('/s/2', 'b'), single.create('/s/3', 'c')]);
    assert.equal(single.stats().commits, 3);
    assert.ok(results[1]!.status === 'rejected' && results[1]!.reason instanceof KeyExistsError);
  });

  test('commitIntervalMs gathers writes from separate event-loop turns into one transaction, acknowledged after it', async () => {
    for (const [interval, expectedCommits] of [[0, 3], [200, 2]] as const) {
      const s = await open(':memory:', { commitIntervalMs: interval });
      await s.create('/ci/0', 'v'); // one commit: the interval counts from here
      const commitsBefore = s.stats().commits;
      const settled: string[] = [];
      const writes = [1, 2].map(async (i) => {
        if (i === 2) await new Promise((r) => setTimeout(r, 20)); // a later turn of the event loop
        await s.create(`/ci/${i}`, 'v');
        settled.push(`/ci/${i}`);
      });
      if (interval > 0) {
        await new Promise((r) => setTimeout(r, 60));
        assert.deepEqual(settled, [], 'nothing acknowledged before the commit holding it');
        assert.equal(s.stats().commits, commitsBefore);
      }
      await Promise.all(writes);
      assert.equal(s.stats().commits - commitsBefore + 1, expectedCommits, `interval ${interval}`);
      assert.equal(await s.count('/ci/'), 3);
    }
  });

  test('a watcher that stops consuming is cut off without slowing writers; others continue', async () => {
    const s = await open(':memory:', { watchBufferLimit: 50 });
    let stuckEvents = 0;
    let stuckError = null as Error | null;
    s.watch('/o/', { fromRevision: 0 }, {
      onEvent: () => {
        stuckEvents++;
        return new Promise<void>(() => {}); // never finishes consuming
      },
      onError: (err) => (stuckError = err),
    });
    const healthy = EventCollector.start(s, '/o/', 0);
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.create(`/o/${i}`, 'v')));
    await healthy.waitFor(200);
    healthy.cancel();
    assert.equal(stuckEvents, 1);
    assert.ok(stuckError instanceof WatchOverflowError);
    assert.equal((stuckError as WatchOverflowError).lastDeliveredRevision, 1);
  });

  test('a handler returning a promise gets events one at a time, in order', async () => {
    const s = await open(':memory:');
    const seen: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    s.watch('/bp/', { fromRevision: 0 }, {
      onEvent: async (e: WatchEvent) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setImmediate(r));
        seen.push(e.revision);
        inFlight--;
      },
      onError: (err) => assert.fail(err),
    });
    for (let i = 0; i < 20; i++) await s.create(`/bp/${i}`, 'v');
    await Promise.all(Array.from({ length: 30 }, (_, i) => s.create(`/bp/p${i}`, 'v')));
    const deadline = Date.now() + 10_000;
    while (seen.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seen, Array.from({ length: 50 }, (_, i) => i + 1));
    assert.equal(maxInFlight, 1);
  });

  test('replaying a long history yields to other work between chunks', async () => {
    const s = await open(':memory:', { replayChunkSize: 10 });
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.create(`/long/${i}`, 'v')));
    const replay = EventCollector.start(s, '/long/', 0);
    const deliveredWhenOtherWorkRan = await new Promise<number>((r) => setImmediate(() => r(replay.events.length)));
    assert.ok(deliveredWhenOtherWorkRan < 300, `other work ran only after ${deliveredWhenOtherWorkRan} events`);
    const events = await replay.waitFor(300);
    replay.cancel();
    assert.deepEqual(events.map((e) => e.revision), Array.from({ length: 300 }, (_, i) => i + 1));
  });

  test('closing ends watchers with StoreClosedError and refuses later calls', async () => {
    const s = await open(':memory:');
    const c = EventCollector.start(s, '/', 0);
    const write = s.create('/q', 'queued');
    await s.close();
    assert.equal((await write).key, '/q', 'writes queued before close are committed');
    assert.ok((await c.waitForError()) instanceof StoreClosedError);
    await assert.rejects(s.create('/r', 'x'), StoreClosedError);
    await assert.rejects(s.get('/q'), StoreClosedError);
  });

  test('invalid keys and values are refused', async () => {
    const s = await open(':memory:');
    await assert.rejects(s.create('', 'x'), StorageError);
    await assert.rejects(s.create('/k', undefined as unknown as string), StorageError);
    assert.equal(await s.currentRevision(), 0);
  });

  test('auto-compaction keeps the configured window', async () => {
    const s = await open(':memory:');
    for (let i = 0; i < 30; i++) await s.create(`/ac/${i}`, 'v');
    const auto = startAutoCompaction(s, { intervalMs: 20, retainRevisions: 10 });
    try {
      const deadline = Date.now() + 10_000;
      while ((await s.compactedRevision()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await s.compactedRevision(), 20);
      for (let i = 0; i < 5; i++) await s.update(`/ac/${i}`, 'w');
      assert.equal(await auto.runOnce(), 25);
      assert.equal(await auto.runOnce(), null, 'nothing new to compact');
      assert.equal(await s.count('/ac/'), 30);
    } finally {
      auto.stop();
    }
  });
});
