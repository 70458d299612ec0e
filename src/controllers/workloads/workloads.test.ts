import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1DaemonSet, V1Job, V1Node, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { DaemonSetController, nodeShouldRunDaemon } from './daemonset.js';
import { JobController, wantActive } from './job.js';
import { StatefulSetController } from './statefulset.js';

const tmpl = (app: string, image = 'x:1') => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image }] } });
const setPhase = (fake: FakeCluster, p: V1Pod, phase: string, ready: boolean) =>
  fake.update('Pod', p.metadata!.name!, p.metadata!.namespace, {
    status: { phase, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }] },
  });

test('daemonset: eligibility honours nodeSelector and taints, pods pinned by node affinity', async () => {
  const fake = new FakeCluster();
  const c = new DaemonSetController(fakeContext(fake));
  c.start();
  for (const n of ['a', 'b', 'c']) await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: n, labels: { role: n === 'c' ? 'db' : 'web' } }, spec: {} });
  await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'tainted', labels: { role: 'web' } }, spec: { taints: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }] } });
  const ds: V1DaemonSet = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'kube-system' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: { ...tmpl('agent'), spec: { ...tmpl('agent').spec, nodeSelector: { role: 'web' } } } } };
  assert.equal(nodeShouldRunDaemon(ds, fake.find<V1Node>('Node', 'tainted')!), false);
  assert.equal(nodeShouldRunDaemon(ds, { metadata: { name: 'u', labels: { role: 'web' } }, spec: { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] } }), true);
  await fake.create(ds);
  await eventually(() => fake.list<V1Pod>('Pod', 'kube-system').length === 2, 3000, 'two daemons');
  const targets = fake.list<V1Pod>('Pod', 'kube-system').map((p) => p.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!.matchFields![0]!.values![0]).sort();
  assert.deepEqual(targets, ['a', 'b']);
  assert.ok(fake.list<V1Pod>('Pod', 'kube-system')[0]!.spec!.tolerations!.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute'));
  await eventually(() => fake.find<V1DaemonSet>('DaemonSet', 'agent', 'kube-system')?.status?.desiredNumberScheduled === 2, 3000, 'status');
  await c.stop();
});

test('job: runs to completions with parallelism, and fails past backoffLimit', async () => {
  assert.equal(wantActive({ spec: { template: {}, completions: 5, parallelism: 2 } }, 4), 1);
  assert.equal(wantActive({ spec: { template: {} } }, 0), 1);
  const fake = new FakeCluster();
  const c = new JobController(fakeContext(fake));
  c.start();
  await fake.create<V1Job>({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'j', namespace: 'default' }, spec: { completions: 3, parallelism: 2, template: { ...tmpl('j'), spec: { ...tmpl('j').spec, restartPolicy: 'Never' } } } });
  const active = () => fake.list<V1Pod>('Pod', 'default').filter((p) => !p.status?.phase || p.status.phase === 'Running');
  for (let done = 0; done < 3; done++) {
    await eventually(() => active().length >= 1, 3000, 'active pod');
    await setPhase(fake, active()[0]!, 'Succeeded', false);
  }
  await eventually(() => fake.find<V1Job>('Job', 'j', 'default')?.status?.conditions?.some((x) => x.type === 'Complete' && x.status === 'True') ?? false, 3000, 'complete');
  assert.equal(fake.find<V1Job>('Job', 'j', 'default')!.status!.succeeded, 3);

  await fake.create<V1Job>({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'f', namespace: 'ns2' }, spec: { backoffLimit: 1, template: { ...tmpl('f'), spec: { ...tmpl('f').spec, restartPolicy: 'Never' } } } });
  for (let i = 0; i < 2; i++) {
    await eventually(() => fake.list<V1Pod>('Pod', 'ns2').some((p) => !p.status?.phase), 3000, 'pod to fail');
    await setPhase(fake, fake.list<V1Pod>('Pod', 'ns2').find((p) => !p.status?.phase)!, 'Failed', false);
  }
  await eventually(() => fake.find<V1Job>('Job', 'f', 'ns2')?.status?.conditions?.some((x) => x.type === 'Failed' && x.reason === 'BackoffLimitExceeded') ?? false, 3000, 'failed');
  await c.stop();
});

test('statefulset: OrderedReady creates NAME-0, NAME-1, ... one after another', async () => {
  const fake = new FakeCluster();
  const c = new StatefulSetController(fakeContext(fake));
  c.start();
  await fake.create<V1StatefulSet>({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: 'default' }, spec: { replicas: 3, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: tmpl('db') } });
  for (let i = 0; i < 3; i++) {
    await eventually(() => !!fake.find('Pod', `db-${i}`, 'default'), 3000, `db-${i}`);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fake.list('Pod', 'default').length, i + 1, 'next ordinal waits for readiness');
    await setPhase(fake, fake.find<V1Pod>('Pod', `db-${i}`, 'default')!, 'Running', true);
  }
  assert.equal(fake.find<V1Pod>('Pod', 'db-2', 'default')!.spec!.hostname, 'db-2');
  await eventually(() => fake.find<V1StatefulSet>('StatefulSet', 'db', 'default')?.status?.readyReplicas === 3, 3000, 'ready');
  await fake.update('StatefulSet', 'db', 'default', { spec: { replicas: 1 } });
  await eventually(() => fake.list('Pod', 'default').length === 1, 3000, 'scaled down');
  assert.ok(fake.find('Pod', 'db-0', 'default'));
  await c.stop();
});
