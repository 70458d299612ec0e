import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event, V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { Scheduler } from './scheduler.js';
import { ClusterState } from './cluster-state.js';
import { schedulePod } from './algorithm.js';

function node(name: string, labels: Record<string, string> = {}, extra: Partial<V1Node['spec']> = {}, cpu = '4'): V1Node {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
    spec: { ...extra },
    status: { allocatable: { cpu, memory: '8Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}
function pod(name: string, spec: Partial<V1Pod['spec']> = {}, labels: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', labels },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
  };
}
function stateOf(nodes: V1Node[], pods: V1Pod[] = []) {
  const state = new ClusterState();
  for (const n of nodes) state.setNode(n);
  for (const p of pods) state.setPod(p);
  return { state, namespaceLabels: () => ({}) };
}

test('nodeSelector and required node affinity restrict placement', () => {
  const ctx = stateOf([node('a', { zone: 'z1' }), node('b', { zone: 'z2' })]);
  assert.equal(schedulePod(pod('p', { nodeSelector: { zone: 'z2' } }), ctx).nodeName, 'b');
  const aff = pod('q', {
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] }] } } },
  });
  assert.equal(schedulePod(aff, ctx).nodeName, 'a');
  const none = schedulePod(pod('r', { nodeSelector: { zone: 'z9' } }), ctx);
  assert.equal(none.nodeName, undefined);
  assert.equal(none.message, "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.");
});

test('preferred node affinity wins among feasible nodes', () => {
  const ctx = stateOf([node('a', { disk: 'hdd' }), node('b', { disk: 'ssd' })]);
  const p = pod('p', {
    affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } },
  });
  assert.equal(schedulePod(p, ctx).nodeName, 'b');
});

test('taints need tolerations; unschedulable nodes are skipped; message counts each reason', () => {
  const ctx = stateOf([
    node('a', {}, { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
    node('b', {}, { unschedulable: true }),
    node('c', {}, { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] }),
  ]);
  const r = schedulePod(pod('p'), ctx);
  assert.equal(
    r.message,
    "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable.",
  );
  const tol = pod('t', { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] });
  assert.equal(schedulePod(tol, ctx).nodeName, 'a');
});

test('resource requests against allocatable, and host ports', () => {
  const big = (name: string, cpu: string) => pod(name, { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] });
  const running = { ...big('r', '3'), spec: { ...big('r', '3').spec!, nodeName: 'a' } };
  const ctx = stateOf([node('a', {}, {}, '4'), node('b', {}, {}, '2')], [running]);
  assert.equal(schedulePod(big('p', '1500m'), ctx).nodeName, 'b');
  assert.equal(schedulePod(big('q', '3'), ctx).message, '0/2 nodes are available: 2 Insufficient cpu.');
  const hp = (name: string, nodeName?: string) => pod(name, { nodeName, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }] });
  const ctx2 = stateOf([node('a'), node('b')], [hp('h1', 'a')]);
  assert.equal(schedulePod(hp('h2'), ctx2).nodeName, 'b');
  const ctx3 = stateOf([node('a'), node('b')], [hp('h1', 'a'), hp('h2', 'b')]);
  assert.equal(schedulePod(hp('h3'), ctx3).message, "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.");
});

test('pod anti-affinity on hostname and pod affinity on a zone/pool key', () => {
  const nodes = [node('a', { zone: 'z1' }), node('b', { zone: 'z1' }), node('c', { zone: 'z2' })];
  const web = (name: string, nodeName?: string, extra: Partial<V1Pod['spec']> = {}) => pod(name, { nodeName, ...extra }, { app: 'web' });
  const anti = { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } }] } } };
  const ctx = stateOf(nodes, [web('w1', 'a', anti), web('w2', 'b', anti)]);
  assert.equal(schedulePod(web('w3', undefined, anti), ctx).nodeName, 'c');
  const full = stateOf(nodes, [web('w1', 'a', anti), web('w2', 'b', anti), web('w3', 'c', anti)]);
  const r = schedulePod(web('w4', undefined, anti), full);
  assert.match(r.message!, /^0\/3 nodes are available: 3 node\(s\) didn't (match pod anti-affinity rules|satisfy existing pods anti-affinity rules)\.$/);
  // a plain pod (not selected by the anti-affinity of existing pods) still fits
  assert.ok(schedulePod(pod('other'), full).nodeName);
  // existing pods' anti-affinity repels a matching newcomer without its own rules
  assert.equal(schedulePod(web('w5'), full).message, "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.");
  const withDb = stateOf(nodes, [pod('db', { nodeName: 'c' }, { app: 'db' })]);
  const nearDb = pod('api', { affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { app: 'db' } } }] } } });
  assert.equal(schedulePod(nearDb, withDb).nodeName, 'c');
});

test('scheduler binds through the API, reports Unschedulable and retries when a node appears', async () => {
  const fake = new FakeCluster();
  const ctx = fakeContext(fake);
  const s = new Scheduler(ctx);
  s.start();
  await fake.create(node('n1', { pool: 'a' }));
  await fake.create(pod('p1'));
  await eventually(() => fake.find<V1Pod>('Pod', 'p1', 'default')?.spec?.nodeName === 'n1', 3000, 'p1 bound');
  await fake.create(pod('p2', { nodeSelector: { pool: 'b' } }));
  await eventually(
    () => fake.find<V1Pod>('Pod', 'p2', 'default')?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') ?? false,
    3000, 'p2 unschedulable',
  );
  await ctx.events.flush();
  const ev = fake.list<CoreV1Event>('Event', 'default').find((e) => e.reason === 'FailedScheduling');
  assert.equal(ev?.message, "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.");
  assert.equal(ev?.type, 'Warning');
  await fake.create(node('n2', { pool: 'b' }));
  await eventually(() => fake.find<V1Pod>('Pod', 'p2', 'default')?.spec?.nodeName === 'n2', 3000, 'p2 bound after node added');
  await s.stop();
});
