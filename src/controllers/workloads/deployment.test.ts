import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { DeploymentController, resolveFenceposts, RevisionAnnotation } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';

/** A stand-in kubelet: every new pod runs at once, Ready unless `ready` says otherwise. */
function autoReady(fake: FakeCluster, ready: (p: V1Pod) => boolean = () => true): void {
  fake.get<V1Pod>('pods').onAdd((p) => {
    queueMicrotask(() => {
      void setPodReady(fake, p, ready(p)).catch(() => {});
    });
  });
}

function setPodReady(fake: FakeCluster, p: V1Pod, ready: boolean) {
  return fake.update('Pod', p.metadata!.name!, p.metadata!.namespace, {
    spec: { nodeName: 'n1' },
    status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }] },
  });
}

function deployment(name: string, image: string, replicas: number, strategy?: V1Deployment['spec']): V1Deployment {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } },
      ...(strategy ?? {}),
    },
  };
}

test('fenceposts resolve percentages as upstream', () => {
  assert.deepEqual(resolveFenceposts(deployment('d', 'x', 10)), { maxSurge: 3, maxUnavailable: 2 });
  assert.deepEqual(resolveFenceposts(deployment('d', 'x', 1)), { maxSurge: 1, maxUnavailable: 0 });
  const zero = deployment('d', 'x', 3, { selector: { matchLabels: {} }, template: {}, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } } as never);
  assert.deepEqual(resolveFenceposts(zero), { maxSurge: 0, maxUnavailable: 1 });
});

test('deployment creates a ReplicaSet and pods, rolls to a new template, and rolls back by template', async () => {
  const fake = new FakeCluster();
  autoReady(fake);
  const ctx = fakeContext(fake);
  const dc = new DeploymentController(ctx);
  const rc = new ReplicaSetController(ctx);
  dc.start();
  rc.start();
  await fake.create(deployment('web', 'nginx:1', 3));
  const dep = () => fake.find<V1Deployment>('Deployment', 'web', 'default')!;
  const rsList = () => fake.list<V1ReplicaSet>('ReplicaSet', 'default');
  const activePods = () => fake.list<V1Pod>('Pod', 'default').filter((p) => !p.metadata?.deletionTimestamp);
  await eventually(() => dep().status?.availableReplicas === 3 && activePods().length === 3, 5000, 'first rollout');
  assert.equal(rsList().length, 1);
  const first = rsList()[0]!;
  assert.equal(first.metadata?.annotations?.[RevisionAnnotation], '1');
  assert.equal(dep().status?.conditions?.find((c) => c.type === 'Available')?.status, 'True');
  assert.equal(dep().status?.conditions?.find((c) => c.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');

  await fake.update('Deployment', 'web', 'default', { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } });
  await eventually(
    () => {
      const d = dep();
      return d.status?.observedGeneration === d.metadata?.generation && d.status?.updatedReplicas === 3 && d.status?.replicas === 3 && d.status?.availableReplicas === 3 && rsList().length === 2 && activePods().length === 3;
    },
    5000,
    'second rollout',
  );
  const second = rsList().find((rs) => rs.metadata?.name !== first.metadata?.name)!;
  assert.equal(second.metadata?.annotations?.[RevisionAnnotation], '2');
  assert.equal(fake.find<V1ReplicaSet>('ReplicaSet', first.metadata!.name!, 'default')?.spec?.replicas, 0);
  assert.ok(activePods().every((p) => p.spec?.containers[0]?.image === 'nginx:2'));

  // Undo as kubectl does: copy the old ReplicaSet's template (minus pod-template-hash) into the Deployment.
  await fake.update('Deployment', 'web', 'default', { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } } });
  await eventually(() => fake.find<V1ReplicaSet>('ReplicaSet', first.metadata!.name!, 'default')?.spec?.replicas === 3 && dep().status?.availableReplicas === 3 && dep().status?.updatedReplicas === 3, 5000, 'rollback');
  assert.equal(rsList().length, 2, 'no third ReplicaSet: the old one is reused');
  assert.equal(fake.find<V1ReplicaSet>('ReplicaSet', first.metadata!.name!, 'default')?.metadata?.annotations?.[RevisionAnnotation], '3');
  await dc.stop();
  await rc.stop();
});

test('Recreate scales old to zero before creating the new ReplicaSet', async () => {
  const fake = new FakeCluster();
  autoReady(fake);
  const ctx = fakeContext(fake);
  const dc = new DeploymentController(ctx);
  const rc = new ReplicaSetController(ctx);
  dc.start();
  rc.start();
  const d = deployment('rec', 'a:1', 2);
  d.spec!.strategy = { type: 'Recreate' };
  await fake.create(d);
  await eventually(() => fake.find<V1Deployment>('Deployment', 'rec', 'default')!.status?.availableReplicas === 2, 5000, 'up');
  await fake.update('Deployment', 'rec', 'default', { spec: { template: { spec: { containers: [{ name: 'c', image: 'a:2' }] } } } });
  await eventually(() => fake.list<V1ReplicaSet>('ReplicaSet', 'default').length === 2 && fake.find<V1Deployment>('Deployment', 'rec', 'default')!.status?.updatedReplicas === 2, 5000, 'recreated');
  const order = fake.actions.filter((a) => a.startsWith('create ReplicaSet') || a.startsWith('delete Pod'));
  const newRsAt = order.findIndex((a, i) => i > 0 && a.startsWith('create ReplicaSet'));
  assert.equal(order.slice(0, newRsAt).filter((a) => a.startsWith('delete Pod')).length, 2, 'both old pods deleted before the new ReplicaSet');
  await dc.stop();
  await rc.stop();
});

test('progress deadline: a rollout that never becomes available gets Progressing=False ProgressDeadlineExceeded', async () => {
  const fake = new FakeCluster(); // no kubelet: pods never become ready
  const ctx = fakeContext(fake);
  const dc = new DeploymentController(ctx);
  const rc = new ReplicaSetController(ctx);
  dc.start();
  rc.start();
  const d = deployment('slow', 'x:1', 2);
  d.spec!.progressDeadlineSeconds = 1;
  await fake.create(d);
  await eventually(
    () => fake.find<V1Deployment>('Deployment', 'slow', 'default')?.status?.conditions?.some((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded') ?? false,
    6000,
    'deadline exceeded',
  );
  const avail = fake.find<V1Deployment>('Deployment', 'slow', 'default')!.status!.conditions!.find((c) => c.type === 'Available')!;
  assert.equal(avail.status, 'False');
  assert.equal(avail.reason, 'MinimumReplicasUnavailable');
  await dc.stop();
  await rc.stop();
});

test('a paused deployment does not roll out a template change, and resumes when unpaused', async () => {
  const fake = new FakeCluster();
  autoReady(fake);
  const ctx = fakeContext(fake);
  const dc = new DeploymentController(ctx);
  const rc = new ReplicaSetController(ctx);
  dc.start();
  rc.start();
  await fake.create(deployment('p', 'x:1', 2));
  await eventually(() => fake.find<V1Deployment>('Deployment', 'p', 'default')?.status?.availableReplicas === 2, 5000, 'up');
  await fake.update('Deployment', 'p', 'default', { spec: { paused: true, template: { spec: { containers: [{ name: 'c', image: 'x:2' }] } } } });
  await eventually(() => fake.find<V1Deployment>('Deployment', 'p', 'default')?.status?.conditions?.some((c) => c.reason === 'DeploymentPaused') ?? false, 3000, 'paused condition');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(fake.list('ReplicaSet', 'default').length, 1, 'no new ReplicaSet while paused');
  await fake.update('Deployment', 'p', 'default', { spec: { paused: false } });
  await eventually(() => fake.list('ReplicaSet', 'default').length === 2 && fake.find<V1Deployment>('Deployment', 'p', 'default')?.status?.updatedReplicas === 2, 5000, 'rolled after resume');
  await dc.stop();
  await rc.stop();
});

/** Both controllers over one fake cluster; `sizes()` is every ReplicaSet's spec.replicas by image. */
function harness(ready?: (p: V1Pod) => boolean) {
  const fake = new FakeCluster();
  autoReady(fake, ready);
  const ctx = fakeContext(fake);
  const dc = new DeploymentController(ctx);
  const rc = new ReplicaSetController(ctx);
  dc.start();
  rc.start();
  const sizes = () =>
    Object.fromEntries(fake.list<V1ReplicaSet>('ReplicaSet', 'default').map((rs) => [rs.spec!.template!.spec!.containers[0]!.image!, rs.spec!.replicas]));
  const activePods = () => fake.list<V1Pod>('Pod', 'default').filter((p) => !p.metadata?.deletionTimestamp);
  const dep = (name: string) => fake.find<V1Deployment>('Deployment', name, 'default')!;
  const settled = (name: string) => {
    const d = dep(name);
    return d.status?.observedGeneration === d.metadata?.generation;
  };
  return { fake, sizes, activePods, dep, settled, stop: async () => Promise.all([dc.stop(), rc.stop()]) };
}

const image = (p: V1Pod) => p.spec?.containers[0]?.image;

/**
 * 10 replicas of `from` (maxSurge 3, maxUnavailable 2), then a template change to `to`, whose pods the harness
 * never makes ready: the rollout stops at 8 old + 5 new (13 = 10 + maxSurge, 8 = 10 - maxUnavailable).
 */
async function stuckRollout(h: ReturnType<typeof harness>, name: string, from: string, to: string): Promise<void> {
  const d = deployment(name, from, 10);
  d.spec!.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } };
  await h.fake.create(d);
  await eventually(() => h.dep(name).status?.availableReplicas === 10, 5000, '10 available');
  await h.fake.update('Deployment', name, 'default', { spec: { template: { spec: { containers: [{ name: 'c', image: to }] } } } });
  await eventually(() => JSON.stringify(h.sizes()) === JSON.stringify({ [from]: 8, [to]: 5 }), 5000, 'stuck at 8 + 5');
}

test('scaling a settled Deployment down and up: its ReplicaSet follows (kubectl scale --replicas=1 on 3)', async () => {
  const h = harness();
  try {
    await h.fake.create(deployment('web', 'nginx:1', 3));
    await eventually(() => h.dep('web').status?.availableReplicas === 3 && h.activePods().length === 3, 5000, '3 available');
    await h.fake.update('Deployment', 'web', 'default', { spec: { replicas: 1 } });
    await eventually(() => h.settled('web') && h.sizes()['nginx:1'] === 1 && h.activePods().length === 1 && h.dep('web').status?.replicas === 1, 5000, 'scaled to 1');
    const d = h.dep('web');
    assert.equal(d.status?.readyReplicas, 1, 'READY 1/1');
    const rs = h.fake.list<V1ReplicaSet>('ReplicaSet', 'default')[0]!;
    assert.equal(rs.metadata?.annotations?.['deployment.kubernetes.io/desired-replicas'], '1');
    assert.equal(rs.metadata?.annotations?.['deployment.kubernetes.io/max-replicas'], '2');
    assert.ok(h.fake.actions.every((a) => !a.startsWith('create ReplicaSet') || a.includes('web-')), 'no new ReplicaSet for a resize');
    assert.equal(h.fake.list('ReplicaSet', 'default').length, 1);

    await h.fake.update('Deployment', 'web', 'default', { spec: { replicas: 4 } });
    await eventually(() => h.settled('web') && h.sizes()['nginx:1'] === 4 && h.dep('web').status?.availableReplicas === 4, 5000, 'scaled to 4');
    assert.equal(h.activePods().length, 4);
  } finally {
    await h.stop();
  }
});

test('scaling during a stuck rollout is proportional (the upstream docs example), and the rollout then completes', async () => {
  let badBecomesReady = false;
  const h = harness((p) => image(p) !== 'nginx:bad' || badBecomesReady);
  try {
    await stuckRollout(h, 'web', 'nginx:1', 'nginx:bad');

    // 10 -> 15: 18 allowed, 5 more, 3 to the old and 2 to the new ReplicaSet.
    await h.fake.update('Deployment', 'web', 'default', { spec: { replicas: 15 } });
    await eventually(() => h.sizes()['nginx:1'] === 11 && h.sizes()['nginx:bad'] === 7, 5000, '11 + 7');
    // 15 -> 5: 8 allowed, 10 fewer, 6 from the old and 4 from the new.
    const history: Record<string, number[]> = {};
    h.fake.get<V1ReplicaSet>('replicasets').onUpdate((rs) => {
      const l = (history[rs.spec!.template!.spec!.containers[0]!.image!] ??= []);
      if (l[l.length - 1] !== rs.spec!.replicas) l.push(rs.spec!.replicas!);
    });
    for (const rs of h.fake.list<V1ReplicaSet>('ReplicaSet', 'default')) history[rs.spec!.template!.spec!.containers[0]!.image!] = [rs.spec!.replicas!];
    await h.fake.update('Deployment', 'web', 'default', { spec: { replicas: 5 } });
    // The rolling step then goes on from there: 3 old available (5 - maxUnavailable), 5 new (3 + maxSurge).
    await eventually(() => h.sizes()['nginx:1'] === 3 && h.sizes()['nginx:bad'] === 5, 5000, '3 + 5');
    assert.deepEqual(history['nginx:1']!.slice(-3), [11, 5, 3], 'old: proportional 11 -> 5, then rolling 5 -> 3');
    assert.deepEqual(history['nginx:bad']!.slice(-3), [7, 3, 5], 'new: proportional 7 -> 3, then rolling 3 -> 5');
    await eventually(() => h.settled('web') && h.activePods().length === 8, 5000, '8 pods');

    // The new pods become ready: the rollout finishes at 5 new, 0 old.
    badBecomesReady = true;
    for (const p of h.activePods().filter((x) => image(x) === 'nginx:bad')) await setPodReady(h.fake, p, true);
    await eventually(() => h.sizes()['nginx:1'] === 0 && h.sizes()['nginx:bad'] === 5 && h.dep('web').status?.availableReplicas === 5 && h.dep('web').status?.updatedReplicas === 5, 5000, 'rolled out');
    await eventually(() => h.activePods().length === 5, 5000, '5 pods');
    assert.ok(h.activePods().every((p) => image(p) === 'nginx:bad'));
  } finally {
    await h.stop();
  }
});

test('a paused Deployment scales proportionally but does not roll', async () => {
  const h = harness((p) => image(p) !== 'x:2');
  try {
    await stuckRollout(h, 'p', 'x:1', 'x:2');
    await h.fake.update('Deployment', 'p', 'default', { spec: { paused: true } });
    await eventually(() => h.dep('p').status?.conditions?.some((c) => c.reason === 'DeploymentPaused') ?? false, 3000, 'paused');
    await h.fake.update('Deployment', 'p', 'default', { spec: { replicas: 15 } });
    await eventually(() => h.sizes()['x:1'] === 11 && h.sizes()['x:2'] === 7, 5000, '11 + 7 while paused');
    // A template change while paused makes no ReplicaSet.
    await h.fake.update('Deployment', 'p', 'default', { spec: { template: { spec: { containers: [{ name: 'c', image: 'x:3' }] } } } });
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(h.sizes(), { 'x:1': 11, 'x:2': 7 });
  } finally {
    await h.stop();
  }
});

test('Recreate: a resize scales the one active ReplicaSet; a rollout never overlaps old and new pods', async () => {
  const h = harness();
  try {
    const d = deployment('rec', 'a:1', 3);
    d.spec!.strategy = { type: 'Recreate' };
    await h.fake.create(d);
    await eventually(() => h.dep('rec').status?.availableReplicas === 3, 5000, 'up');
    await h.fake.update('Deployment', 'rec', 'default', { spec: { replicas: 1 } });
    await eventually(() => h.settled('rec') && h.sizes()['a:1'] === 1 && h.activePods().length === 1, 5000, 'down to 1');
    let overlap = false;
    h.fake.get<V1Pod>('pods').onAdd((added) => {
      if (image(added) === 'a:2' && h.activePods().some((p) => image(p) === 'a:1')) overlap = true;
    });
    // Size and template at once: upstream resizes the old ReplicaSet first (a scaling event), then recreates.
    await h.fake.update('Deployment', 'rec', 'default', { spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'a:2' }] } } } });
    await eventually(() => h.sizes()['a:2'] === 2 && h.dep('rec').status?.availableReplicas === 2 && h.activePods().length === 2, 5000, 'recreated at 2');
    assert.equal(h.sizes()['a:1'], 0);
    assert.equal(overlap, false, 'no new pod while an old one was active');
  } finally {
    await h.stop();
  }
});
