import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { findBestMatch, SELECTED_NODE_ANNOTATION, STORAGE_PROVISIONER_ANNOTATION } from './claims.js';
import { PersistentVolumeBinder } from './pv-binder.js';
import { helperImage, nodePath, DEFAULT_HELPER_IMAGE, DEFAULT_PATH } from './local-path.js';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';

const pv = (name: string, storage: string, extra: Partial<V1PersistentVolume['spec']> = {}, labels?: Record<string, string>): V1PersistentVolume => ({
  apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name, labels },
  spec: { capacity: { storage }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/mnt/${name}` }, storageClassName: 'slow', volumeMode: 'Filesystem', ...extra },
  status: { phase: 'Available' },
});
const claim = (name: string, storage: string, extra: Partial<V1PersistentVolumeClaim['spec']> = {}): V1PersistentVolumeClaim => ({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } }, storageClassName: 'slow', volumeMode: 'Filesystem', ...extra },
});

test('findBestMatch: class, access modes, capacity, volume mode and selector must match; the smallest wins, a pre-bound one first', () => {
  const vols = [pv('big', '10Gi'), pv('small', '2Gi'), pv('tiny', '500Mi'), pv('fast', '1Gi', { storageClassName: 'fast' }), pv('rox', '1Gi', { accessModes: ['ReadOnlyMany'] }),
    pv('block', '1Gi', { volumeMode: 'Block' }), pv('labelled', '3Gi', {}, { tier: 'gold' })];
  assert.equal(findBestMatch(claim('c', '1Gi'), vols)?.metadata?.name, 'small');
  assert.equal(findBestMatch(claim('c', '1Gi', { storageClassName: 'fast' }), vols)?.metadata?.name, 'fast');
  assert.equal(findBestMatch(claim('c', '1Gi', { volumeMode: 'Block' }), vols)?.metadata?.name, 'block');
  assert.equal(findBestMatch(claim('c', '1Gi', { selector: { matchLabels: { tier: 'gold' } } }), vols)?.metadata?.name, 'labelled');
  assert.equal(findBestMatch(claim('c', '20Gi'), vols), undefined);
  assert.equal(findBestMatch(claim('c', '1Gi', { accessModes: ['ReadWriteMany'] }), vols), undefined);
  const taken = pv('taken', '1Gi', { claimRef: { namespace: 'default', name: 'other', uid: 'uid-other' } });
  const reserved = pv('reserved', '10Gi', { claimRef: { namespace: 'default', name: 'c' } });
  assert.equal(findBestMatch(claim('c', '1Gi'), [taken, reserved, pv('small', '2Gi')])?.metadata?.name, 'reserved');
  assert.equal(findBestMatch(claim('d', '1Gi'), [taken, reserved]), undefined);
});

test('binder: binds an Immediate claim to the best volume both ways; hands an unmatched one to its provisioner; waits for a first consumer', async () => {
  const fake = new FakeCluster();
  await fake.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'slow' }, provisioner: 'example.com/slow', volumeBindingMode: 'Immediate' } as never);
  await fake.create({ apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'lazy' }, provisioner: 'example.com/lazy', volumeBindingMode: 'WaitForFirstConsumer' } as never);
  await fake.create(pv('small', '2Gi'));
  const binder = new PersistentVolumeBinder(fakeContext(fake));
  binder.start();
  try {
    await fake.create(claim('data', '1Gi'));
    await eventually(() => fake.find<V1PersistentVolumeClaim>('PersistentVolumeClaim', 'data', 'default')?.status?.phase === 'Bound', 3000, 'claim bound');
    const c = fake.find<V1PersistentVolumeClaim>('PersistentVolumeClaim', 'data', 'default')!;
    const v = fake.find<V1PersistentVolume>('PersistentVolume', 'small')!;
    assert.equal(c.spec?.volumeName, 'small');
    assert.deepEqual(c.status?.capacity, { storage: '2Gi' });
    assert.equal(c.metadata?.annotations?.['pv.kubernetes.io/bind-completed'], 'yes');
    assert.equal(v.spec?.claimRef?.name, 'data');
    assert.equal(v.status?.phase, 'Bound');

    await fake.create(claim('more', '5Gi'));
    await eventually(() => fake.find<V1PersistentVolumeClaim>('PersistentVolumeClaim', 'more', 'default')?.metadata?.annotations?.[STORAGE_PROVISIONER_ANNOTATION] === 'example.com/slow', 3000, 'handed to the provisioner');

    await fake.create(claim('later', '1Gi', { storageClassName: 'lazy' }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.find<V1PersistentVolumeClaim>('PersistentVolumeClaim', 'later', 'default')?.metadata?.annotations?.[STORAGE_PROVISIONER_ANNOTATION], undefined);
    await fake.update('PersistentVolumeClaim', 'later', 'default', { metadata: { annotations: { [SELECTED_NODE_ANNOTATION]: 'n1' } } });
    await eventually(() => fake.find<V1PersistentVolumeClaim>('PersistentVolumeClaim', 'later', 'default')?.metadata?.annotations?.[STORAGE_PROVISIONER_ANNOTATION] === 'example.com/lazy', 3000, 'provisioning after the node was chosen');

    // The claim goes: its volume is Released (policy Retain keeps it).
    await fake.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data' });
    await eventually(() => fake.find<V1PersistentVolume>('PersistentVolume', 'small')?.status?.phase === 'Released', 3000, 'volume released');
  } finally {
    await binder.stop();
  }
});

test('local-path config: nodePathMap per node, the default entry, bad paths refused; helper image from helperPod.yaml', () => {
  const cfg = (nodePathMap: unknown) => ({ data: { 'config.json': JSON.stringify({ nodePathMap }) } });
  assert.equal(nodePath(undefined, 'n1'), DEFAULT_PATH);
  assert.equal(nodePath(cfg([{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/opt/lp'] }, { node: 'n1', paths: ['/data/n1'] }]), 'n1'), '/data/n1');
  assert.equal(nodePath(cfg([{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/opt/lp'] }]), 'n2'), '/opt/lp');
  assert.throws(() => nodePath(cfg([{ node: 'n1', paths: ['relative'] }]), 'n1'), /one absolute path/);
  // The directory the node's agent reports (<data-dir>/storage) beats the defaults, not a listed node; a bad one is ignored.
  assert.equal(nodePath(undefined, 'n1', '/srv/edge/storage'), '/srv/edge/storage');
  assert.equal(nodePath(cfg([{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/opt/lp'] }]), 'n2', '/srv/edge/storage'), '/srv/edge/storage');
  assert.equal(nodePath(cfg([{ node: 'n1', paths: ['/data/n1'] }]), 'n1', '/srv/edge/storage'), '/data/n1');
  assert.equal(nodePath(undefined, 'n1', '/srv/../etc'), DEFAULT_PATH);
  assert.equal(nodePath(undefined, 'n1', 'relative/storage'), DEFAULT_PATH);
  assert.equal(helperImage(undefined).image, DEFAULT_HELPER_IMAGE);
  assert.deepEqual(helperImage({ data: { 'helperPod.yaml': 'spec:\n  containers:\n  - name: h\n    image: busybox:1\n    imagePullPolicy: Never\n' } }), { image: 'busybox:1', imagePullPolicy: 'Never' });
  assert.equal(helperImage({ data: { 'helperPod.yaml': ': not yaml : [' } }).image, DEFAULT_HELPER_IMAGE);
});
