import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { NamespaceController } from './namespace.js';
import { ServiceAccountController } from './serviceaccount.js';

test('default ServiceAccount per namespace, recreated when deleted, creation is idempotent', async () => {
  const fake = new FakeCluster();
  const c = new ServiceAccountController(fakeContext(fake));
  c.start();
  await fake.create<V1Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
  await eventually(() => !!fake.find<V1ServiceAccount>('ServiceAccount', 'default', 'team-a'), 3000, 'default SA');
  await fake.delete({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'team-a', name: 'default' });
  await eventually(() => !!fake.find<V1ServiceAccount>('ServiceAccount', 'default', 'team-a'), 3000, 'default SA recreated');
  assert.equal(fake.actions.filter((a) => a === 'create ServiceAccount team-a/default').length, 2);
  await c.stop();
});

test('a terminating namespace is emptied, then its kubernetes finalizer removed', async () => {
  const fake = new FakeCluster();
  const c = new NamespaceController(fakeContext(fake));
  c.start();
  await fake.create<V1Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone' }, spec: { finalizers: ['kubernetes'] } });
  await fake.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'gone' }, spec: { containers: [] } });
  await fake.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'gone' }, spec: {} });
  await fake.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'keep', namespace: 'other' }, spec: { containers: [] } });
  await fake.update('Namespace', 'gone', undefined, { metadata: { deletionTimestamp: new Date().toISOString() }, status: { phase: 'Terminating' } });
  await eventually(() => !fake.find('Namespace', 'gone'), 5000, 'namespace removed');
  assert.equal(fake.list('Pod', 'gone').length, 0);
  assert.equal(fake.list('Service', 'gone').length, 0);
  assert.equal(fake.list('Pod', 'other').length, 1);
  await c.stop();
});
