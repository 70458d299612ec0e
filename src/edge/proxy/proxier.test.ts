import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/logger.js';
import { openSqliteStore } from '../../storage/sqlite.js';
import { ServiceProxy } from './proxier.js';

/** A stand-in `nft` that records each transaction and fails while FAIL exists next to it. */
function fakeNft(dir: string): string {
  const bin = path.join(dir, 'nft');
  writeFileSync(bin, `#!/bin/sh\n[ -e "${dir}/FAIL" ] && { echo refused >&2; exit 1; }\ncat >> "${dir}/applied"\necho "# end" >> "${dir}/applied"\n`);
  chmodSync(bin, 0o755);
  return bin;
}

test('metrics: service ports programmed, transactions, sync time and failures', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-proxy-'));
  const store = await openSqliteStore(':memory:');
  const registry = new Registry();
  const proxy = new ServiceProxy({ store, nodeName: 'n1', log: createLogger('test', 'silent'), nftPath: fakeNft(dir), podRoutes: false, batchMs: 10, metrics: registry });
  try {
    await store.create('/registry/services/default/web', JSON.stringify({ metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.43.0.5', ports: [{ port: 80, protocol: 'TCP' }] } }));
    await store.create('/registry/endpointslices.discovery.k8s.io/default/web-x', JSON.stringify({
      metadata: { namespace: 'default', name: 'web-x', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: ['10.244.1.5'], nodeName: 'n1', conditions: { ready: true } }],
    }));
    await proxy.start();
    await proxy.settle();
    let text = await registry.metrics();
    assert.match(text, /kedge_edge_proxy_service_ports 1/);
    assert.match(text, /kedge_edge_proxy_nft_transactions_total 1/);
    assert.match(text, /kedge_edge_proxy_sync_duration_seconds_count 1/);
    assert.match(text, /kedge_edge_proxy_sync_last_timestamp_seconds \d/);
    assert.match(readFileSync(path.join(dir, 'applied'), 'utf8'), /10\.43\.0\.5/);

    writeFileSync(path.join(dir, 'FAIL'), '');
    await store.delete('/registry/services/default/web');
    // The store's watch reaches the proxy when it does (a loaded machine): wait for the refused apply, no fixed sleep.
    for (let i = 0; i < 200 && !/kedge_edge_proxy_sync_failures_total [1-9]/.test(await registry.metrics()); i++) {
      await new Promise((r) => setTimeout(r, 50));
      await proxy.settle();
    }
    text = await registry.metrics();
    assert.match(text, /kedge_edge_proxy_sync_failures_total [1-9]/);
    assert.match(text, /kedge_edge_proxy_nft_transactions_total 1/, 'a refused transaction is not counted as applied');
  } finally {
    await proxy.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
