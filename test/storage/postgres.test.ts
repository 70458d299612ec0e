/**
 * The storage conformance suite (src/storage/conformance.ts, unchanged) against a real PostgreSQL: one private
 * cluster for the file (initdb + postgres, started and stopped here), one database per test dir (reopening a
 * dir reconnects to its database).
 */
import { after, before } from 'node:test';
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
