/**
 * The storage conformance suite (src/storage/conformance.ts, unchanged) against a real etcd: each test dir gets
 * its own etcd process (the contract numbers revisions from an empty store, and etcd's revisions are
 * cluster-wide), started and stopped here; a restart test reconnects to the same etcd.
 */
import { after } from 'node:test';
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
