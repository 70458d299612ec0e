/**
 * The storage conformance suite (src/storage/conformance.ts, unchanged) against a real PostgreSQL: one private
 * cluster for the file (initdb + postgres, started and stopped here), one database per test dir (reopening a
 * dir reconnects to its database).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompactedError } from '../../src/storage/types.js';
import { createHash } from 'node:crypto';
import { describeStoreConformance } from '../../src/storage/conformance.js';
import { openPostgresStore } from '../../src/storage/postgres.js';
import { Harness } from '../harness/processes.js';
import { startPostgres, type RunningPostgres } from '../harness/datastores.js';

const h = new Harness('pg-store');
let engine: RunningPostgres;
before(async () => {
  engine = await startPostgres(h, { durable: false });
});
after(() => h.cleanup());
const databases = new Map<string, string>();

describeStoreConformance('postgres', {
  async open(dir) {
    let url = databases.get(dir);
    if (!url) {
      url = await engine.createDatabase('kedge_' + createHash('sha1').update(dir).digest('hex').slice(0, 12));
      databases.set(dir, url);
    }
    return openPostgresStore({ connectionString: url });
  },
});

test('postgres: a server whose watchers fell behind a compaction ends them with CompactedError, never with a gap', async () => {
  const url = await engine.createDatabase('kedge_overtaken');
  const writer = await openPostgresStore({ connectionString: url });
  // The second server hears of others' writes only when it next reads the log (no NOTIFY, no poll in time).
  const behind = await openPostgresStore({ connectionString: url, notify: false, pollIntervalMs: 3_600_000 });
  try {
    await writer.create('/o/a', '0');
    const failures: Error[] = [];
    const seen: number[] = [];
    behind.watch('/o/', { fromRevision: await behind.currentRevision() }, { onEvent: (e) => void seen.push(e.revision), onError: (err) => void failures.push(err) });
    for (let i = 1; i <= 5; i++) await writer.update('/o/a', String(i));
    await writer.compact(await writer.currentRevision());
    // Its own write makes it read the log: the updates it never published are gone.
    await behind.create('/o/b', 'x');
    assert.deepEqual(seen, [], 'no event delivered across the hole');
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof CompactedError, String(failures[0]));
  } finally {
    await writer.close();
    await behind.close();
  }
});
