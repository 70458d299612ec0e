import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Lease, V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { evictionDelayMs, NodeLifecycleController, UnreachableTaintKey } from './lifecycle.js';

async function addNode(fake: FakeCluster, name: string, labels: Record<string, string> = {}) {
  await fake.create<V1Node>({
    apiVersion: 'v1', kind: 'Node', metadata: { name, labels },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
  });
  await fake.create<V1Lease>({
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' },
    spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new Date().toISOString() as never },
  });
}
async function addPod(fake: FakeCluster, name: string, nodeName: string, tolerations?: V1Pod['spec'] extends infer S ? S extends { tolerations?: infer T } ? T : never : never) {
  const p = await fake.create<V1Pod>({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { nodeName, containers: [{ name: 'c', image: 'x' }], ...(tolerations ? { tolerations } : {}) },
  });
  await fake.update('Pod', name, 'default', {
    status: { phase: 'Running', conditions: [{ type: 'ContainersReady', status: 'True' }, { type: 'Ready', status: 'True' }] },
  });
  return p.metadata!.uid!;
}
const renew = (fake: FakeCluster, name: string) =>
  fake.update('Lease', name, 'kube-node-lease', { spec: { renewTime: new Date(Date.now() + Math.random()).toISOString() } });

test('eviction delay follows tolerations, defaulting like DefaultTolerationSeconds', () => {
  const taint = { key: UnreachableTaintKey, effect: 'NoExecute' };
  const pod = (tolerations?: object[]) => ({ spec: { containers: [], tolerations } }) as unknown as V1Pod;
  assert.equal(evictionDelayMs(pod(), taint, 300), 300_000);
  assert.equal(evictionDelayMs(pod([{ key: UnreachableTaintKey, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 7 }]), taint, 300), 7000);
  assert.equal(evictionDelayMs(pod([{ operator: 'Exists' }]), taint, 300), undefined);
  assert.equal(evictionDelayMs(pod(), { key: 'custom', effect: 'NoExecute' }, 300), 0);
});

test('cloud node: unreachable → taints, pods not ready, evicted after toleration; edge node: nothing evicted, restored on renewal', async () => {
  const fake = new FakeCluster();
  const ctx = fakeContext(fake, { nodeMonitorGracePeriodSeconds: 0.3, nodeMonitorPeriodSeconds: 0.1, defaultTolerationSeconds: 0.4 });
  const c = new NodeLifecycleController(ctx);
  c.start();
  await addNode(fake, 'cloud');
  await addNode(fake, 'edge', { 'node-role.kubernetes.io/edge': '' });
  await addPod(fake, 'c1', 'cloud');
  const e1 = await addPod(fake, 'e1', 'edge');
  // Keep the edge node alive for a while, let the cloud node go silent.
  const hb = setInterval(() => void renew(fake, 'edge'), 50);
  await eventually(() => (fake.find<V1Node>('Node', 'cloud')!.spec?.taints ?? []).length === 2, 3000, 'cloud tainted');
  const cloud = fake.find<V1Node>('Node', 'cloud')!;
  assert.equal(cloud.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'Unknown');
  await eventually(() => !fake.find('Pod', 'c1', 'default'), 3000, 'c1 evicted');
  assert.equal(fake.find<V1Node>('Node', 'edge')!.spec?.taints, undefined, 'renewing edge node untouched');

  clearInterval(hb);
  await eventually(() => (fake.find<V1Node>('Node', 'edge')!.spec?.taints ?? []).length === 1, 3000, 'edge tainted');
  assert.deepEqual(fake.find<V1Node>('Node', 'edge')!.spec!.taints!.map((t) => `${t.key}:${t.effect}`), [`${UnreachableTaintKey}:NoSchedule`]);
  await eventually(() => fake.find<V1Pod>('Pod', 'e1', 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'False', 3000, 'edge pod not ready');
  await new Promise((r) => setTimeout(r, 1500)); // well past grace + toleration
  assert.equal(fake.find<V1Pod>('Pod', 'e1', 'default')?.metadata?.uid, e1, 'edge pod kept');
  await renew(fake, 'edge');
  await eventually(() => fake.find<V1Pod>('Pod', 'e1', 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True', 3000, 'edge pod ready again');
  const edge = fake.find<V1Node>('Node', 'edge')!;
  assert.equal(edge.spec?.taints?.length ?? 0, 0);
  assert.equal(edge.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  assert.equal(fake.find<V1Pod>('Pod', 'e1', 'default')?.metadata?.uid, e1);
  await c.stop();
});

test('renewals of healthy nodes cost no pass over all nodes; a node marked unreachable is recovered from its renewal alone', async () => {
  const fake = new FakeCluster();
  // A long monitor period: only the first full pass runs during the test.
  const ctx = fakeContext(fake, { nodeMonitorGracePeriodSeconds: 120, nodeMonitorPeriodSeconds: 60 });
  const c = new NodeLifecycleController(ctx);
  const passes: string[] = [];
  const monitor = c.monitor.bind(c);
  c.monitor = (now?: number, only?: ReadonlySet<string>) => {
    passes.push(only ? [...only].join(',') : '*');
    return monitor(now, only);
  };
  for (const n of ['a', 'b', 'c']) await addNode(fake, n, { 'node-role.kubernetes.io/edge': '' });
  c.start();
  try {
    await eventually(() => passes.length === 1, 3000, 'first full pass');
    for (let i = 0; i < 10; i++) for (const n of ['a', 'b', 'c']) await renew(fake, n);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(passes, ['*'], 'renewals of healthy nodes start no pass');

    // As if the controller had found b silent: Ready=Unknown and the unreachable taint.
    await fake.update('Node', 'b', undefined, {
      spec: { taints: [{ key: UnreachableTaintKey, effect: 'NoSchedule' }] },
      status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] },
    });
    await renew(fake, 'b');
    await eventually(() => (fake.find<V1Node>('Node', 'b')!.spec?.taints ?? []).length === 0, 3000, 'b untainted');
    assert.equal(fake.find<V1Node>('Node', 'b')!.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
    assert.deepEqual(passes, ['*', 'b'], 'only b was looked at');
  } finally {
    await c.stop();
  }
});
