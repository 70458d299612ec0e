import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../common/logger.js';
import { openSqliteStore } from '../../storage/sqlite.js';
import { NetpolEnforcer } from './enforcer.js';

/** A stand-in `nft` that records each transaction (its last one in `last`). */
function fakeNft(dir: string): string {
  const bin = path.join(dir, 'nft');
  writeFileSync(bin, `#!/bin/sh\ncat > "${dir}/last"\ncat "${dir}/last" >> "${dir}/applied"\n`);
  chmodSync(bin, 0o755);
  return bin;
}

const POD = '/registry/pods/default/server';
const podJson = (ip: string) => JSON.stringify({ metadata: { namespace: 'default', name: 'server', labels: { app: 'server' } }, spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Running', podIP: ip } });

test('the table follows the store: a pod going away takes its chain; a restart replaces the table from the store (offline too)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-netpol-'));
  const store = await openSqliteStore(':memory:');
  const opts = { store, nodeName: 'n1', log: createLogger('test', 'silent'), nftPath: fakeNft(dir), batchMs: 10, bridgeNetfilter: false };
  let enf = new NetpolEnforcer(opts);
  const last = () => readFileSync(path.join(dir, 'last'), 'utf8');
  try {
    await store.create('/registry/networkpolicies.networking.k8s.io/default/deny', JSON.stringify({ metadata: { namespace: 'default', name: 'deny' }, spec: { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'] } }));
    await store.create(POD, podJson('10.244.1.2'));
    await enf.start();
    assert.match(last(), /^add table ip kedge-netpol\ndelete table ip kedge-netpol\n/, 'replaced whole');
    assert.match(last(), /add element ip kedge-netpol ingress-pods \{ 10\.244\.1\.2 : jump ing-\w+ \}/);
    assert.equal(enf.transactions, 1);
    // A status write that changes nothing of the table runs no nft.
    await store.update(POD, podJson('10.244.1.2'));
    await new Promise((r) => setTimeout(r, 50));
    await enf.settle();
    assert.equal(enf.transactions, 1);
    await store.delete(POD);
    for (let i = 0; i < 200 && enf.transactions < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await enf.settle();
    }
    assert.equal(enf.transactions, 2);
    assert.doesNotMatch(last(), /chain ip kedge-netpol ing-/, 'the pod\'s chain is gone with it');
    // A new agent (no hub here: the store is all it has) replaces what the last one left.
    await store.create(POD, podJson('10.244.1.7'));
    await enf.stop();
    enf = new NetpolEnforcer(opts);
    await enf.start();
    assert.match(last(), /^add table ip kedge-netpol\ndelete table ip kedge-netpol\n/);
    assert.match(last(), /10\.244\.1\.7 : jump ing-/);
    assert.doesNotMatch(last(), /10\.244\.1\.2/);
  } finally {
    await enf.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
