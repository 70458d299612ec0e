import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { planVolumes } from './volumes.js';

const node = (name: string): V1Node => ({ metadata: { name, labels: { 'kubernetes.io/hostname': name } } });
const pod = (claim: string): V1Pod => ({ metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c' }], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: claim } }] } });
const claim = (name: string, storageClassName: string, extra: Record<string, unknown> = {}) =>
  ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default', ...(extra.metadata as object) }, spec: { storageClassName, ...(extra.spec as object) }, status: extra.status }) as never;

test('planVolumes: missing and Immediate unbound claims are unschedulable; WaitForFirstConsumer is delayed, then waits; bound volumes filter nodes', async () => {
  const fake = new FakeCluster();
  await fake.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'now' }, provisioner: 'x', volumeBindingMode: 'Immediate' } as never);
  await fake.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'lazy' }, provisioner: 'x', volumeBindingMode: 'WaitForFirstConsumer' } as never);
  await fake.create(claim('imm', 'now'));
  await fake.create(claim('wffc', 'lazy'));
  await fake.create(claim('chosen', 'lazy', { metadata: { annotations: { 'volume.kubernetes.io/selected-node': 'n1' } } }));
  await fake.create(claim('bound', 'lazy', { spec: { volumeName: 'pv1' }, status: { phase: 'Bound' } }));
  await fake.create({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv1' },
    spec: { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }] }] } } } } as never);

  assert.deepEqual(planVolumes(pod('none'), fake), { kind: 'unschedulable', message: 'persistentvolumeclaim "none" not found' });
  assert.deepEqual(planVolumes(pod('imm'), fake), { kind: 'unschedulable', message: 'pod has unbound immediate PersistentVolumeClaims' });
  const delayed = planVolumes(pod('wffc'), fake);
  assert.equal(delayed.kind === 'schedule' && delayed.delayed.map((c) => c.metadata?.name).join(), 'wffc');
  assert.deepEqual(planVolumes(pod('chosen'), fake), { kind: 'wait' });
  const bound = planVolumes(pod('bound'), fake);
  assert.ok(bound.kind === 'schedule' && bound.admits);
  assert.equal(bound.admits(node('n1')), false);
  assert.equal(bound.admits(node('n2')), true);
});
