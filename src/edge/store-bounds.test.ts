import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../storage/sqlite.js';
import { EDGE_STORE_CACHE_KIB, EDGE_STORE_WAL_PAGES } from './agent.js';
import { LocalStore } from './local-store.js';

test('the edge store\'s write-ahead log stays bounded under churn (issue 19: it grew to ~4 MB and stayed)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edge-wal-'));
  try {
    const file = path.join(dir, 'store.db');
    // As the agent opens it (agent.ts).
    const store = await openSqliteStore(file, { synchronous: 'full', cacheSizeKiB: EDGE_STORE_CACHE_KIB, walAutocheckpointPages: EDGE_STORE_WAL_PAGES });
    const value = JSON.stringify({ status: 'x'.repeat(60_000) });
    const local = new LocalStore(store);
    let maxWal = 0;
    // ~24 MB of large-object churn: with SQLite's defaults (1,000 pages, 64 MiB journal limit) the WAL passes 2.5 MB.
    for (let i = 0; i < 400; i++) {
      await local.put(`/registry/pods/default/p${i % 30}`, value);
      if (i % 5 === 0) maxWal = Math.max(maxWal, statSync(`${file}-wal`).size);
    }
    maxWal = Math.max(maxWal, statSync(`${file}-wal`).size);
    await store.close();
    // One checkpoint interval of pages (4 KiB each) plus the transaction that crossed it.
    assert.ok(maxWal <= (EDGE_STORE_WAL_PAGES + 64) * 4096, `WAL reached ${maxWal} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
