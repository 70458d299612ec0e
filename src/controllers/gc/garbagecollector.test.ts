import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { GarbageCollector } from './garbagecollector.js';

async function tree(fake: FakeCluster) {
  const d = await fake.create<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'default' }, spec: { selector: {}, template: {} } });
  const own = (o: { metadata?: { name?: string; uid?: string } }, kind: string, apiVersion: string) => [{ apiVersion, kind, name: o.metadata!.name!, uid: o.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
  const rs = await fake.create<V1ReplicaSet>({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'd-1', namespace: 'default', ownerReferences: own(d, 'Deployment', 'apps/v1') }, spec: { selector: {} } });
  for (const n of ['p1', 'p2']) {
    await fake.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: n, namespace: 'default', ownerReferences: own(rs, 'ReplicaSet', 'apps/v1') }, spec: { containers: [] } });
  }
}
const names = (fake: FakeCluster) => ['Deployment', 'ReplicaSet', 'Pod'].flatMap((k) => fake.list(k, 'default').map((o) => `${k}/${o.metadata!.name}`)).sort();

for (const policy of ['Background', 'Foreground', 'Orphan'] as const) {
  test(`deleting a Deployment with propagationPolicy=${policy}`, async () => {
    const fake = new FakeCluster();
    const gc = new GarbageCollector(fakeContext(fake));
    gc.start();
    await tree(fake);
    await fake.delete({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'd' }, { propagationPolicy: policy });
    if (policy === 'Orphan') {
      await eventually(() => !fake.find('Deployment', 'd', 'default'), 3000, 'deployment gone');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(names(fake), ['Pod/p1', 'Pod/p2', 'ReplicaSet/d-1']);
      assert.equal(fake.find<V1ReplicaSet>('ReplicaSet', 'd-1', 'default')!.metadata?.ownerReferences, undefined);
      assert.equal(fake.find<V1Pod>('Pod', 'p1', 'default')!.metadata?.ownerReferences?.[0]?.kind, 'ReplicaSet');
    } else {
      await eventually(() => names(fake).length === 0, 3000, 'everything gone');
      if (policy === 'Foreground') {
        const order = fake.actions.filter((a) => a.startsWith('delete') || a.startsWith('patch Deployment'));
        // pods are deleted before the Deployment's finalizer is lifted
        assert.ok(order.findIndex((a) => a.startsWith('delete Pod')) < order.findIndex((a) => a.startsWith('patch Deployment')), order.join('\n'));
      }
    }
    await gc.stop();
  });
}
