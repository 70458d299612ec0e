import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { PodDeletionCostAnnotation, podsToDelete, ReplicaSetController } from './replicaset.js';

const now = Date.parse('2026-12-07T00:00:00Z');
const ago = (ms: number) => new Date(now - ms).toISOString();

function pod(name: string, o: { node?: string; phase?: string; readyFor?: number; cost?: string; restarts?: number; age?: number } = {}): V1Pod {
  return {
    metadata: { name, uid: `uid-${name}`, creationTimestamp: ago(o.age ?? 3600_000) as never, annotations: o.cost !== undefined ? { [PodDeletionCostAnnotation]: o.cost } : {} },
    spec: { nodeName: o.node ?? 'n1', containers: [{ name: 'c' }] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.readyFor !== undefined ? 'True' : 'False', lastTransitionTime: ago(o.readyFor ?? 0) as never }],
      containerStatuses: [{ name: 'c', image: 'x', imageID: '', ready: o.readyFor !== undefined, restartCount: o.restarts ?? 0 }],
    },
  };
}
const names = (l: V1Pod[]) => l.map((p) => p.metadata!.name);

test('scale-down picks pods in upstream order: unassigned, pending, not ready, low deletion cost first', () => {
  const pods = [
    pod('ready', { readyFor: 60_000 }),
    pod('cheap', { readyFor: 60_000, cost: '-5' }),
    pod('dear', { readyFor: 60_000, cost: '100' }),
    pod('notready'),
    pod('pending', { phase: 'Pending' }),
    pod('unassigned', { node: '', phase: 'Pending' }),
  ];
  assert.deepEqual(names(podsToDelete(pods, 5, pods, now)), ['unassigned', 'pending', 'notready', 'cheap', 'ready']);
});

test('scale-down prefers pods doubled up on a node, then the recently ready (by power-of-two age), restarts, the newer', () => {
  // Two of the owner's pods on n1, one on n2: one of n1's goes first.
  const spread = [pod('alone', { node: 'n2', readyFor: 10_000 }), pod('a', { node: 'n1', readyFor: 3600_000 }), pod('b', { node: 'n1', readyFor: 3600_000 })];
  assert.deepEqual(names(podsToDelete(spread, 1, spread, now)), ['a']);
  // Ready for 10 s vs 1 h: different buckets, the recent one goes. 60 s vs 61 s: the same bucket, UID decides.
  const byReady = [pod('old', { readyFor: 3600_000 }), pod('recent', { readyFor: 10_000 })];
  assert.deepEqual(names(podsToDelete(byReady, 1, byReady, now)), ['recent']);
  const sameBucket = [pod('y', { readyFor: 60_000 }), pod('x', { readyFor: 61_000 })];
  assert.deepEqual(names(podsToDelete(sameBucket, 1, sameBucket, now)), ['x']);
  const restarts = [pod('stable', { restarts: 0 }), pod('crashy', { restarts: 7 })];
  assert.deepEqual(names(podsToDelete(restarts, 1, restarts, now)), ['crashy']);
  const ages = [pod('older', { age: 7200_000 }), pod('newer', { age: 60_000 })];
  assert.deepEqual(names(podsToDelete(ages, 1, ages, now)), ['newer']);
});

test('a pod still terminating (e.g. on a cut-off node) does not hold the ReplicaSet back: its deletion counts once it has a deletionTimestamp', async () => {
  const fake = new FakeCluster();
  const rc = new ReplicaSetController(fakeContext(fake));
  rc.start();
  try {
    const rs = await fake.create<V1ReplicaSet>({
      apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web', namespace: 'default' },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    });
    const live = () => fake.list<V1Pod>('Pod', 'default').filter((p) => !p.metadata?.deletionTimestamp);
    await eventually(() => live().length === 3, 3000, '3 pods');
    // A kubelet that never finishes terminating: a finalizer keeps every pod around once deleted.
    for (const p of live()) await fake.update('Pod', p.metadata!.name!, 'default', { metadata: { finalizers: ['test/held'] } });
    await fake.update('ReplicaSet', 'web', 'default', { spec: { replicas: 1 } });
    await eventually(() => live().length === 1, 3000, 'scaled down to 1 (2 terminating)');
    assert.equal(fake.list('Pod', 'default').length, 3, 'the two are still there, terminating');
    // Scaling back up must not wait for them to be gone (upstream; the expectation TTL here is 30 s).
    await fake.update('ReplicaSet', 'web', 'default', { spec: { replicas: 2 } });
    await eventually(() => live().length === 2, 3000, 'a new pod while the old ones terminate');
    assert.equal(rs.metadata?.name, 'web');
  } finally {
    await rc.stop();
  }
});
