/**
 * The storage conformance suite (src/storage/conformance.ts, unchanged) against a real etcd: each test dir gets
 * its own etcd process (the contract numbers revisions from an empty store, and etcd's revisions are
 * cluster-wide), started and stopped here; a restart test reconnects to the same etcd.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { describeStoreConformance } from '../../src/storage/conformance.js';
import { openEtcdStore } from '../../src/storage/etcd.js';
import { Harness } from '../harness/processes.js';
import { startEtcd, type RunningEtcd } from '../harness/datastores.js';

const h = new Harness('etcd-store');
after(() => h.cleanup());
const engines = new Map<string, RunningEtcd>();

describeStoreConformance('etcd', {
  async open(dir) {
    let etcd = engines.get(dir);
    if (!etcd) {
      etcd = await startEtcd(h, { dataDir: dir, name: `etcd-${engines.size}` });
      engines.set(dir, etcd);
    }
    return openEtcdStore({ endpoints: [etcd.endpoint] });
  },
});

test('etcd: a list larger than gRPC\'s default 4 MiB message arrives whole (10,000 pods are ~12 MB)', async () => {
  const etcd = await startEtcd(h, { name: 'etcd-large' });
  const store = await openEtcdStore({ endpoints: [etcd.endpoint] });
  try {
    const value = 'x'.repeat(1 << 20);
    for (let i = 0; i < 6; i++) await store.create(`/big/${i}`, value);
    const res = await store.list('/big/');
    assert.equal(res.items.length, 6);
    assert.equal(res.items[5]!.value.length, 1 << 20);
  } finally {
    await store.close();
  }
});
