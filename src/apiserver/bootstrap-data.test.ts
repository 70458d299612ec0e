import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../storage/sqlite.js';
import { BOOTSTRAP_DATA_KEY, BOOTSTRAP_FILES, BootstrapTokenError, syncBootstrapData } from './bootstrap-data.js';
import { ensureCertificateAuthority } from '../pki/index.js';

const TOKEN = 'a-server-token-of-some-length';

function dirs(n: number): string[] {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bootstrap-data-'));
  test.after(() => rmSync(root, { recursive: true, force: true }));
  return Array.from({ length: n }, (_, i) => path.join(root, `pki-${i}`));
}
const files = (dir: string) => BOOTSTRAP_FILES.map((f) => readFileSync(path.join(dir, f), 'utf8'));

test('the first server publishes its keys sealed; a joining one with the token gets the same; the datastore never holds them in clear', async () => {
  const store = await openSqliteStore(':memory:');
  const [a, b] = dirs(2) as [string, string];
  assert.equal(await syncBootstrapData(store, a, TOKEN), 'published');
  assert.equal(await syncBootstrapData(store, b, TOKEN), 'joined');
  assert.deepEqual(files(b), files(a));
  const stored = (await store.get(BOOTSTRAP_DATA_KEY))!.value;
  for (const f of files(a)) for (const line of f.split('\n').filter((l) => l.length > 20)) assert.ok(!stored.includes(line), 'no key material in clear');
  assert.equal(await syncBootstrapData(store, a, TOKEN), 'joined', 'a restart reads the same back');
  await store.close();
});

test('a wrong token is refused with a clear error and writes nothing; a data dir of another cluster is refused', async () => {
  const store = await openSqliteStore(':memory:');
  const [a, b, c] = dirs(3) as [string, string, string];
  await syncBootstrapData(store, a, TOKEN);
  await assert.rejects(syncBootstrapData(store, b, 'not-the-server-token-at-all'), (err: Error) =>
    err instanceof BootstrapTokenError && /not the token the first server/.test(err.message));
  assert.throws(() => readFileSync(path.join(b, 'ca.crt')), /ENOENT/);
  await assert.rejects(syncBootstrapData(store, b, 'short'), /at least 16 characters/);
  await ensureCertificateAuthority(c);
  await assert.rejects(syncBootstrapData(store, c, TOKEN), /belongs to another cluster/);
  await store.close();
});

test('servers starting at once agree on one CA (one create wins, the others take it)', async () => {
  const store = await openSqliteStore(':memory:');
  const ds = dirs(3);
  const outcomes = await Promise.all(ds.map((d) => syncBootstrapData(store, d, TOKEN)));
  assert.equal(outcomes.filter((o) => o === 'published').length, 1);
  for (const d of ds.slice(1)) assert.deepEqual(files(d), files(ds[0]!));
  await store.close();
});
