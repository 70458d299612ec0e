import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import {
  DesiredReplicasAnnotation,
  findActiveOrLatest,
  historyToDelete,
  isScalingEvent,
  MaxReplicasAnnotation,
  maxUnavailable,
  newReplicaSetAnnotations,
  newRSNewReplicas,
  planScale,
  RevisionAnnotation,
  RevisionHistoryAnnotation,
} from './deployment-util.js';

// The fixtures of upstream's sync_test.go TestScale: a Deployment with maxSurge/maxUnavailable 0 unless given,
// ReplicaSets whose replica annotations record the Deployment as it was before the resize.
const olderTs = '2016-05-20T00:00:00Z';
const oldTs = '2016-05-20T01:00:00Z';
const newTs = '2016-05-20T02:00:00Z';

function dep(replicas: number, maxSurge: number | string = 0, maxUnavailableValue: number | string = 0): V1Deployment {
  return {
    metadata: { name: 'foo', namespace: 'default', generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { foo: 'bar' } },
      template: {},
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable: maxUnavailableValue } },
    },
  };
}

/** A ReplicaSet last scaled for `before` (desired = its replicas, max = replicas + maxSurge). */
function rs(name: string, replicas: number, created: string, before?: V1Deployment, available?: number): V1ReplicaSet {
  const annotations: Record<string, string> = {};
  if (before) {
    const n = before.spec!.replicas!;
    const surge = Number(before.spec!.strategy!.rollingUpdate!.maxSurge);
    annotations[DesiredReplicasAnnotation] = String(n);
    annotations[MaxReplicasAnnotation] = String(n + surge);
  }
  return {
    metadata: { name, namespace: 'default', creationTimestamp: created as never, annotations },
    spec: { replicas, selector: { matchLabels: { foo: 'bar' } } },
    status: { replicas, availableReplicas: available ?? 0 },
  };
}

/** Applies planScale and returns every ReplicaSet's resulting size by name. */
function scaled(d: V1Deployment, newRS: V1ReplicaSet | undefined, old: V1ReplicaSet[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of [...old, ...(newRS ? [newRS] : [])]) out[x.metadata!.name!] = x.spec!.replicas!;
  for (const step of planScale(d, newRS, old)) out[step.rs.metadata!.name!] = step.replicas;
  return out;
}

test('planScale: upstream TestScale cases (sync_test.go)', () => {
  const cases: Array<{ name: string; d: V1Deployment; before: V1Deployment; newRS?: [string, number, string]; old: Array<[string, number, string]>; want: Record<string, number> }> = [
    { name: 'normal scaling event: 10 -> 12', d: dep(12), before: dep(10), newRS: ['foo-v1', 10, newTs], old: [], want: { 'foo-v1': 12 } },
    { name: 'normal scaling event: 10 -> 5', d: dep(5), before: dep(10), newRS: ['foo-v1', 10, newTs], old: [], want: { 'foo-v1': 5 } },
    { name: 'proportional scaling: 5 -> 10', d: dep(10), before: dep(5), newRS: ['foo-v2', 2, newTs], old: [['foo-v1', 3, oldTs]], want: { 'foo-v2': 4, 'foo-v1': 6 } },
    { name: 'proportional scaling: 5 -> 3', d: dep(3), before: dep(5), newRS: ['foo-v2', 2, newTs], old: [['foo-v1', 3, oldTs]], want: { 'foo-v2': 1, 'foo-v1': 2 } },
    { name: 'proportional scaling: 9 -> 4', d: dep(4), before: dep(9), newRS: ['foo-v2', 8, newTs], old: [['foo-v1', 1, oldTs]], want: { 'foo-v2': 4, 'foo-v1': 0 } },
    {
      name: 'proportional scaling: 7 -> 10', d: dep(10), before: dep(7), newRS: ['foo-v3', 2, newTs], old: [['foo-v2', 3, oldTs], ['foo-v1', 2, olderTs]],
      want: { 'foo-v3': 3, 'foo-v2': 4, 'foo-v1': 3 },
    },
    {
      name: 'proportional scaling: 13 -> 8', d: dep(8), before: dep(13), newRS: ['foo-v3', 2, newTs], old: [['foo-v2', 8, oldTs], ['foo-v1', 3, olderTs]],
      want: { 'foo-v3': 1, 'foo-v2': 5, 'foo-v1': 2 },
    },
    {
      name: 'leftover distribution: 3 -> 4 (scales up the new replica set)', d: dep(4), before: dep(3), newRS: ['foo-v3', 1, newTs], old: [['foo-v2', 1, oldTs], ['foo-v1', 1, olderTs]],
      want: { 'foo-v3': 2, 'foo-v2': 1, 'foo-v1': 1 },
    },
    {
      name: 'leftover distribution: 3 -> 2 (scales down the older replica set)', d: dep(2), before: dep(3), newRS: ['foo-v3', 1, newTs], old: [['foo-v2', 1, oldTs], ['foo-v1', 1, olderTs]],
      want: { 'foo-v3': 1, 'foo-v2': 1, 'foo-v1': 0 },
    },
    { name: 'proportional scaling (no new rs): 4 -> 5', d: dep(5), before: dep(4), old: [['foo-v2', 2, oldTs], ['foo-v1', 2, olderTs]], want: { 'foo-v2': 3, 'foo-v1': 2 } },
    {
      name: 'proportional scaling: 6 -> 0', d: dep(0), before: dep(6), newRS: ['foo-v3', 3, newTs], old: [['foo-v2', 2, oldTs], ['foo-v1', 1, olderTs]],
      want: { 'foo-v3': 0, 'foo-v2': 0, 'foo-v1': 0 },
    },
    {
      name: 'proportional scaling: 0 -> 6', d: dep(6), before: dep(6), newRS: ['foo-v3', 0, newTs], old: [['foo-v2', 0, oldTs], ['foo-v1', 0, olderTs]],
      want: { 'foo-v3': 6, 'foo-v2': 0, 'foo-v1': 0 },
    },
    { name: 'deployment with surge pods', d: dep(20, 2), before: dep(10, 2), newRS: ['foo-v2', 6, newTs], old: [['foo-v1', 6, oldTs]], want: { 'foo-v2': 11, 'foo-v1': 11 } },
    { name: 'change both surge and size', d: dep(50, 6), before: dep(10, 3), newRS: ['foo-v2', 5, newTs], old: [['foo-v1', 8, oldTs]], want: { 'foo-v2': 22, 'foo-v1': 34 } },
    { name: 'change both size and template', d: dep(14), before: dep(10), old: [['foo-v2', 7, newTs], ['foo-v1', 3, oldTs]], want: { 'foo-v2': 10, 'foo-v1': 4 } },
  ];
  for (const c of cases) {
    const newRS = c.newRS ? rs(...c.newRS, c.before) : undefined;
    const old = c.old.map((o) => rs(...o, c.before));
    assert.deepEqual(scaled(c.d, newRS, old), c.want, c.name);
  }
});

test('planScale: a ReplicaSet last scaled for another size gets its own proportion (upstream "failed rs update")', () => {
  // foo-v2's update to 5 failed earlier: it still records 3; the others already record 5.
  const d = dep(5);
  const newRS = rs('foo-v3', 2, newTs, dep(5));
  const old = [rs('foo-v2', 1, oldTs, dep(3)), rs('foo-v1', 1, olderTs, dep(5))];
  assert.deepEqual(scaled(d, newRS, old), { 'foo-v3': 2, 'foo-v2': 2, 'foo-v1': 1 });
});

test('planScale: a saturated new ReplicaSet empties the old ones; a broken one leaves them alone', () => {
  const d = dep(2, 1, 1);
  const saturated = rs('foo-v2', 2, newTs, dep(2, 1), 2);
  assert.deepEqual(scaled(d, saturated, [rs('foo-v1', 1, oldTs, dep(2, 1))]), { 'foo-v2': 2, 'foo-v1': 0 });
  const broken = rs('foo-v2', 2, newTs, dep(2, 1), 0);
  assert.deepEqual(scaled(d, broken, [rs('foo-v1', 1, oldTs, dep(2, 1))]), { 'foo-v2': 2, 'foo-v1': 1 });
});

test('planScale: the Kubernetes docs example (10 replicas, maxSurge 3, maxUnavailable 2, scaled to 15 mid-rollout)', () => {
  // https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#proportional-scaling
  const before = dep(10, 3, 2);
  const newRS = rs('nginx-new', 5, newTs, before);
  const old = [rs('nginx-old', 8, oldTs, before, 8)];
  assert.deepEqual(scaled(dep(15, 3, 2), newRS, old), { 'nginx-new': 7, 'nginx-old': 11 });
});

test('isScalingEvent reads the desired-replicas annotation of active ReplicaSets only', () => {
  const d = dep(1, 1);
  assert.equal(isScalingEvent(d, rs('a', 3, newTs, dep(3, 1)), []), true);
  assert.equal(isScalingEvent(d, rs('a', 1, newTs, dep(1, 1)), []), false);
  assert.equal(isScalingEvent(d, rs('a', 1, newTs, dep(1, 1)), [rs('b', 0, oldTs, dep(3, 1))]), false, 'an inactive ReplicaSet does not count');
  assert.equal(isScalingEvent(d, rs('a', 1, newTs), []), false, 'no annotation, no event');
});

test('newRSNewReplicas: grows within maxSurge and never above replicas', () => {
  const d = dep(10, 3, 2);
  const old = rs('old', 10, oldTs, d);
  const fresh = rs('new', 0, newTs, d);
  assert.equal(newRSNewReplicas(d, [old, fresh], fresh), 3);
  assert.equal(newRSNewReplicas(d, [rs('old', 8, oldTs), rs('new', 3, newTs)], rs('new', 3, newTs)), 5);
  assert.equal(newRSNewReplicas(d, [rs('old', 0, oldTs), rs('new', 9, newTs)], rs('new', 9, newTs)), 10);
  const recreate: V1Deployment = { ...d, spec: { ...d.spec!, strategy: { type: 'Recreate' } } };
  assert.equal(newRSNewReplicas(recreate, [old, fresh], fresh), 10);
  assert.equal(maxUnavailable(recreate), 0, 'Recreate tolerates no unavailability in the Available condition');
});

test('findActiveOrLatest: the lone active ReplicaSet, else the newest when none is active', () => {
  const a = rs('a', 0, olderTs);
  const b = rs('b', 0, oldTs);
  assert.equal(findActiveOrLatest(undefined, [a, b])?.metadata?.name, 'b');
  assert.equal(findActiveOrLatest(rs('n', 0, newTs), [a, b])?.metadata?.name, 'n');
  assert.equal(findActiveOrLatest(rs('n', 0, newTs), [a, rs('b', 2, oldTs)])?.metadata?.name, 'b');
  assert.equal(findActiveOrLatest(rs('n', 1, newTs), [a, rs('b', 2, oldTs)]), undefined);
});

test('revision annotations: a re-activated ReplicaSet takes the next revision and keeps the old in revision-history', () => {
  const d: V1Deployment = { ...dep(1), metadata: { name: 'foo', annotations: { 'kubernetes.io/change-cause': 'undo', [RevisionAnnotation]: '2' } } };
  const reused = rs('foo-v1', 0, olderTs);
  reused.metadata!.annotations = { [RevisionAnnotation]: '1' };
  assert.deepEqual(newReplicaSetAnnotations(d, reused, 3), { 'kubernetes.io/change-cause': 'undo', [RevisionAnnotation]: '3', [RevisionHistoryAnnotation]: '1' });
  reused.metadata!.annotations = { [RevisionAnnotation]: '3', [RevisionHistoryAnnotation]: '1', 'kubernetes.io/change-cause': 'undo' };
  assert.deepEqual(newReplicaSetAnnotations(d, reused, 3), {}, 'nothing to change');
});

test('historyToDelete: lowest revisions beyond the limit, never one with replicas', () => {
  const d = { ...dep(1), spec: { ...dep(1).spec!, revisionHistoryLimit: 1 } };
  const at = (name: string, rev: number, replicas: number, running: number): V1ReplicaSet => {
    const x = rs(name, replicas, oldTs);
    x.metadata!.annotations = { [RevisionAnnotation]: String(rev) };
    x.status = { replicas: running };
    return x;
  };
  const names = (l: V1ReplicaSet[]) => l.map((x) => x.metadata!.name);
  assert.deepEqual(names(historyToDelete(d, [at('c', 3, 0, 0), at('a', 1, 0, 0), at('b', 2, 0, 0)])), ['a', 'b']);
  assert.deepEqual(names(historyToDelete(d, [at('a', 1, 0, 1), at('b', 2, 0, 0), at('c', 3, 0, 0)])), ['b'], 'a still has a pod');
});
