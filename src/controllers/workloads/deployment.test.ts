import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { DeploymentController, resolveFenceposts, RevisionAnnotation } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';

/** A stand-in kubelet: every new pod becomes Running and Ready right away. */
function autoReady(fake: FakeCluster): void {
  fake.get<V1Pod>('pods').onAdd((p) => {
    queueMicrotask(() => {
      void fake
        .update('Pod', p.metadata!.name!, p.metadata!.namespace, {
          spec: { nodeName: 'n1' },
          status: { phase: 'Running', podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] },
        })
        .catch(() => {});
    });
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
      return d.status?.updatedReplicas === 3 && d.status?.replicas === 3 && d.status?.availableReplicas === 3 && rsList().length === 2 && activePods().length === 3;
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
