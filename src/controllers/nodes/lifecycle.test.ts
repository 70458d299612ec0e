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
/** Each renewal writes a distinct renewTime (two within one millisecond would look like none). */
let renewals = 0;
const renew = (fake: FakeCluster, name: string) =>
  fake.update('Lease', name, 'kube-node-lease', { spec: { renewTime: new Date(Date.now() + ++renewals).toISOString() } });
/** The kubelet (edge agent) posts Ready=True, as it does when its link comes back. */
const postReady = (fake: FakeCluster, name: string, at = Date.now()) =>
  fake.update('Node', name, undefined, {
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date(at + ++renewals).toISOString(), lastTransitionTime: new Date(at).toISOString() }] },
  });

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
  await postReady(fake, 'edge');
  await eventually(() => fake.find<V1Pod>('Pod', 'e1', 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True', 3000, 'edge pod ready again');
  const edge = fake.find<V1Node>('Node', 'edge')!;
  assert.equal(edge.spec?.taints?.length ?? 0, 0);
  assert.equal(edge.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
  assert.equal(fake.find<V1Pod>('Pod', 'e1', 'default')?.metadata?.uid, e1);
  await c.stop();
});

test('renewals of healthy nodes cost no pass over all nodes; a node marked unreachable is recovered as soon as its kubelet posts Ready', async () => {
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
    await eventually(() => passes.length === 2, 3000, 'b looked at on its renewal');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fake.find<V1Node>('Node', 'b')!.spec?.taints?.length, 1, 'a lease renewal alone makes nothing Ready');
    assert.equal(fake.find<V1Node>('Node', 'b')!.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'Unknown');
    await postReady(fake, 'b');
    await eventually(() => (fake.find<V1Node>('Node', 'b')!.spec?.taints ?? []).length === 0, 3000, 'b untainted');
    assert.equal(fake.find<V1Node>('Node', 'b')!.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True');
    assert.ok(passes.slice(1).every((p) => p === 'b'), `only b was looked at: ${passes.join(' ')}`);
  } finally {
    await c.stop();
  }
});

/**
 * The state a control plane finds after a restart: what the previous controller wrote is in the API, nothing
 * is in memory. `down`/`edge-down` were marked unreachable long ago (taints, pods not Ready); `up` was Ready,
 * with a lease and heartbeat far in the past (the control plane was down longer than the grace period).
 */
async function stateBeforeRestart(fake: FakeCluster, t0: number) {
  const longAgo = new Date(t0 - 3600_000).toISOString();
  const unknown = { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: longAgo, lastTransitionTime: new Date(t0 - 600_000).toISOString() };
  const taintedAt = new Date(t0 - 250_000).toISOString();
  const nodes: Array<[string, Record<string, string>, object[], object]> = [
    ['down', {}, [{ key: UnreachableTaintKey, effect: 'NoSchedule', timeAdded: taintedAt }, { key: UnreachableTaintKey, effect: 'NoExecute', timeAdded: taintedAt }], unknown],
    ['edge-down', { 'node-role.kubernetes.io/edge': '' }, [{ key: UnreachableTaintKey, effect: 'NoSchedule', timeAdded: taintedAt }], unknown],
    ['up', {}, [], { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: longAgo, lastTransitionTime: longAgo }],
  ];
  for (const [name, labels, taints, ready] of nodes) {
    await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: { taints: taints as never }, status: { conditions: [ready as never] } });
    await fake.create<V1Lease>({
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: longAgo as never },
    });
    const pod = await fake.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-pod`, namespace: 'default' }, spec: { nodeName: name, containers: [{ name: 'c', image: 'x' }] } });
    const podReady = name === 'up' ? { type: 'Ready', status: 'True' } : { type: 'Ready', status: 'False', reason: 'NodeUnreachable' };
    await fake.update('Pod', pod.metadata!.name!, 'default', { status: { phase: 'Running', conditions: [{ type: 'ContainersReady', status: 'True' }, podReady] } });
  }
}

const readyOf = (fake: FakeCluster, node: string) => fake.find<V1Node>('Node', node)!.status!.conditions!.find((x) => x.type === 'Ready')!;
const podReady = (fake: FakeCluster, pod: string) => fake.find<V1Pod>('Pod', pod, 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status;
const taintsOf = (fake: FakeCluster, node: string) => (fake.find<V1Node>('Node', node)!.spec?.taints ?? []).map((t) => `${t.effect}@${String(t.timeAdded)}`);

test('after a control-plane restart (fake clock): every node keeps its last known condition, taints and pods for a full grace period', async () => {
  const fake = new FakeCluster();
  const t0 = Date.parse('2026-12-07T00:00:00Z');
  await stateBeforeRestart(fake, t0);
  const before = { down: taintsOf(fake, 'down'), edge: taintsOf(fake, 'edge-down'), readyDown: readyOf(fake, 'down') };
  const grace = 40_000;
  const setupWrites = fake.actions.length;
  const c = new NodeLifecycleController(fakeContext(fake, { nodeMonitorGracePeriodSeconds: grace / 1000, defaultTolerationSeconds: 300 }), () => t0);

  // The first passes after the restart: nothing has been heard from any node yet.
  for (const t of [t0, t0 + 5_000, t0 + grace - 1]) {
    await c.monitor(t);
    assert.deepEqual(readyOf(fake, 'down'), before.readyDown, `down keeps its Unknown condition at +${t - t0} ms`);
    assert.equal(readyOf(fake, 'edge-down').status, 'Unknown');
    assert.equal(readyOf(fake, 'up').status, 'True', 'up gets its grace period from the restart, not from its old heartbeat');
    assert.deepEqual(taintsOf(fake, 'down'), before.down, 'taints and their eviction clocks kept');
    assert.deepEqual(taintsOf(fake, 'edge-down'), before.edge);
    assert.deepEqual(taintsOf(fake, 'up'), []);
    assert.equal(podReady(fake, 'down-pod'), 'False', 'pods of a NotReady node stay out of endpoints');
    assert.equal(podReady(fake, 'edge-down-pod'), 'False');
    assert.equal(podReady(fake, 'up-pod'), 'True');
  }
  assert.deepEqual(fake.actions.slice(setupWrites), [], 'nothing written in the grace period');

  // One grace period after the restart without a heartbeat, the Ready node goes NotReady.
  await c.monitor(t0 + grace + 1);
  assert.equal(readyOf(fake, 'up').status, 'Unknown');
  assert.equal(readyOf(fake, 'up').reason, 'NodeStatusUnknown');
  assert.equal(String(readyOf(fake, 'up').lastTransitionTime), new Date(t0 + grace + 1).toISOString());
  assert.equal(podReady(fake, 'up-pod'), 'False');
  assert.deepEqual(taintsOf(fake, 'up').sort(), [`NoExecute@${new Date(t0 + grace + 1).toISOString()}`, `NoSchedule@${new Date(t0 + grace + 1).toISOString()}`]);

  // The cloud node's eviction clock ran on from its taint (250 s before the restart): 300 s toleration ends at +50 s.
  assert.ok(fake.find('Pod', 'down-pod', 'default'), 'not evicted yet');
  await c.monitor(t0 + 50_001);
  assert.equal(fake.find('Pod', 'down-pod', 'default'), undefined, 'evicted 300 s after the original taint');
  // Edge autonomy: never evicted, never a NoExecute taint, however long.
  await c.monitor(t0 + 3600_000);
  assert.equal(podReady(fake, 'edge-down-pod'), 'False');
  assert.ok(fake.find('Pod', 'edge-down-pod', 'default'));
  assert.deepEqual(taintsOf(fake, 'edge-down'), before.edge);
});

test('after a restart, a lease renewal alone makes nothing Ready; the kubelet posting Ready does, and restores the pods', async () => {
  const fake = new FakeCluster();
  const t0 = Date.now();
  await stateBeforeRestart(fake, t0);
  const c = new NodeLifecycleController(fakeContext(fake, { nodeMonitorGracePeriodSeconds: 40 }), () => t0);
  await c.monitor(t0);
  await renew(fake, 'edge-down');
  await c.monitor(t0 + 1000);
  await c.monitor(t0 + 30_000);
  assert.equal(readyOf(fake, 'edge-down').status, 'Unknown', 'no NodeLeaseRenewed: only the kubelet sets Ready');
  assert.equal(taintsOf(fake, 'edge-down').length, 1);
  assert.equal(podReady(fake, 'edge-down-pod'), 'False');

  await postReady(fake, 'edge-down', t0 + 31_000);
  await c.monitor(t0 + 31_000);
  assert.equal(readyOf(fake, 'edge-down').status, 'True');
  assert.deepEqual(taintsOf(fake, 'edge-down'), [], 'unreachable taint removed once Ready');
  assert.equal(podReady(fake, 'edge-down-pod'), 'True', 'the same pod is Ready again');
  // Heartbeats keep it Ready; silence takes it back to Unknown one grace period after the last one.
  await renew(fake, 'edge-down');
  await c.monitor(t0 + 60_000);
  await c.monitor(t0 + 99_000);
  assert.equal(readyOf(fake, 'edge-down').status, 'True');
  await c.monitor(t0 + 100_001);
  assert.equal(readyOf(fake, 'edge-down').status, 'Unknown');
});

test('upstream mode: an edge node is tainted NoExecute and its pods evicted after their toleration; a lone node (full disruption) is not', async () => {
  const fake = new FakeCluster();
  const upstreamNodeLifecycle = { nodeEvictionRate: 100, secondaryNodeEvictionRate: 100, unhealthyZoneThreshold: 0.55, largeClusterSizeThreshold: 50 };
  const ctx = fakeContext(fake, { nodeMonitorGracePeriodSeconds: 0.3, nodeMonitorPeriodSeconds: 0.1, upstreamNodeLifecycle });
  const c = new NodeLifecycleController(ctx);
  c.start();
  await addNode(fake, 'edge', { 'node-role.kubernetes.io/edge': '' });
  const tol = (s: number) => [UnreachableTaintKey, 'node.kubernetes.io/not-ready'].map((key) => ({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: s }));
  await addPod(fake, 'e1', 'edge', tol(1));
  // Alone in its zone and silent: full disruption (master disruption mode), so NoSchedule only, never evicted.
  await eventually(() => (fake.find<V1Node>('Node', 'edge')!.spec?.taints ?? []).length === 1, 3000, 'edge NoSchedule');
  await eventually(() => fake.find<V1Pod>('Pod', 'e1', 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'False', 3000, 'pod not ready');
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(fake.find('Pod', 'e1', 'default'), 'no eviction in full disruption');
  // A healthy node joins the zone: the silent one is now just unreachable, NoExecute follows, the pod goes after 1 s.
  await addNode(fake, 'cloud');
  const hb = setInterval(() => void renew(fake, 'cloud'), 50);
  await eventually(() => (fake.find<V1Node>('Node', 'edge')!.spec?.taints ?? []).some((t) => t.effect === 'NoExecute'), 3000, 'edge NoExecute');
  await eventually(() => !fake.find('Pod', 'e1', 'default'), 4000, 'edge pod evicted');
  // The kubelet posts Ready: taints go, and the controller leaves pods' readiness to the kubelet.
  await addPod(fake, 'e2', 'edge', tol(3600));
  await renew(fake, 'edge');
  await postReady(fake, 'edge');
  await eventually(() => (fake.find<V1Node>('Node', 'edge')!.spec?.taints ?? []).length === 0, 3000, 'taints removed');
  clearInterval(hb);
  await c.stop();
});

test('peer vote: a node the cloud lost but its pool reaches keeps its pods Ready and is not evicted; once its peers lose it, upstream\'s path', async () => {
  const fake = new FakeCluster();
  const ctx = fakeContext(fake, { nodeMonitorGracePeriodSeconds: 0.3, nodeMonitorPeriodSeconds: 0.1, defaultTolerationSeconds: 0.4 });
  const c = new NodeLifecycleController(ctx);
  c.start();
  const pool = { 'apps.openyurt.io/nodepool': 'p' };
  // Not autonomous (a cloud-style node that opted out): without the vote its pods would be evicted.
  await addNode(fake, 'n1', { ...pool, 'node.beta.openyurt.io/autonomy': 'false' });
  await addNode(fake, 'n2', pool);
  const u1 = await addPod(fake, 'p1', 'n1');
  const seen = (reachable: boolean) => fake.update('Node', 'n2', undefined, { metadata: { annotations: { 'kedge.io/peer-health': JSON.stringify({ n1: { reachable, since: new Date().toISOString() } }) } } });
  await seen(true);
  const hb = setInterval(() => void renew(fake, 'n2'), 50);
  try {
    const cond = () => fake.find<V1Node>('Node', 'n1')!.status?.conditions?.find((x) => x.type === 'PeerReachable');
    await eventually(() => cond()?.status === 'True', 3000, 'PeerReachable=True');
    assert.equal(cond()?.reason, 'PoolMajorityReachesNode');
    assert.equal(fake.find<V1Node>('Node', 'n1')!.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'Unknown');
    await new Promise((r) => setTimeout(r, 1200)); // well past grace + toleration
    assert.equal(fake.find<V1Pod>('Pod', 'p1', 'default')?.metadata?.uid, u1, 'pod kept');
    assert.equal(fake.find<V1Pod>('Pod', 'p1', 'default')?.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'True', 'pod stays Ready (in endpoints)');
    assert.deepEqual((fake.find<V1Node>('Node', 'n1')!.spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`), [`${UnreachableTaintKey}:NoSchedule`]);

    await seen(false);
    await eventually(() => cond()?.status === 'False', 3000, 'PeerReachable=False');
    await eventually(() => !fake.find('Pod', 'p1', 'default'), 3000, 'evicted as upstream once the pool lost it too');
  } finally {
    clearInterval(hb);
    await c.stop();
  }
});
