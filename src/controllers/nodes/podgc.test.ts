import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { fakeContext } from '../testing/context.js';
import { PodGCController } from './podgc.js';

test('pods bound to a node that no longer exists are force-deleted; others stay', async () => {
  const fake = new FakeCluster();
  const gc = new PodGCController(fakeContext(fake), 60_000);
  gc.start();
  await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'alive' } });
  const mk = (name: string, nodeName?: string) => fake.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName, containers: [] } });
  await mk('on-alive', 'alive');
  await mk('on-gone', 'gone');
  await mk('pending');
  assert.equal(await gc.sweep(), 1);
  assert.deepEqual(fake.list<V1Pod>('Pod', 'default').map((p) => p.metadata!.name).sort(), ['on-alive', 'pending']);
  await gc.stop();
});
