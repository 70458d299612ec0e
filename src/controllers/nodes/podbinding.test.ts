import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { autonomyOf, bindPod, PodBindingController } from './podbinding.js';

const node = (labels: Record<string, string>, annotations: Record<string, string> = {}): V1Node => ({ metadata: { name: 'n', labels, annotations } });
const edge = { 'node-role.kubernetes.io/edge': '' };
const defaults = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
];

test('autonomy: edge nodes forever by default; OpenYurt annotations and an explicit opt-out', () => {
  assert.deepEqual(autonomyOf(node(edge)), { bind: true });
  assert.deepEqual(autonomyOf(node({})), { bind: false });
  assert.deepEqual(autonomyOf(node({}, { 'apps.openyurt.io/binding': 'true' })), { bind: true });
  assert.deepEqual(autonomyOf(node({}, { 'node.beta.openyurt.io/autonomy': 'true' })), { bind: true });
  assert.deepEqual(autonomyOf(node(edge, { 'apps.openyurt.io/binding': 'false' })), { bind: false });
  assert.deepEqual(autonomyOf(node(edge, { 'node.openyurt.io/autonomy-duration': '1h' })), { bind: true, seconds: 3600 });
  assert.deepEqual(autonomyOf(node({}, { 'node.openyurt.io/autonomy-duration': '0' })), { bind: true });
  assert.deepEqual(autonomyOf(node(edge, { 'node.openyurt.io/autonomy-duration': 'soon' })), { bind: true, invalid: 'soon' });
});

test('bindPod keeps the originals in annotations and restores them, "infinite" for none', () => {
  const pod = { metadata: { annotations: {} }, spec: { containers: [], tolerations: [...defaults, { key: 'x', operator: 'Exists' }] } } as unknown as V1Pod;
  const bound = bindPod(pod, { bind: true })!;
  assert.deepEqual(bound.annotations, { 'apps.openyurt.io/original-not-ready-toleration-duration': '300', 'apps.openyurt.io/original-unreachable-toleration-duration': '300' });
  assert.ok(bound.tolerations.slice(0, 2).every((t) => !('tolerationSeconds' in t)));
  assert.deepEqual(bound.tolerations[2], { key: 'x', operator: 'Exists' });
  const after = { metadata: { annotations: bound.annotations }, spec: { containers: [], tolerations: bound.tolerations } } as unknown as V1Pod;
  assert.equal(bindPod(after, { bind: true }), undefined, 'already bound: nothing to do');
  assert.deepEqual(bindPod(after, { bind: false })!.tolerations.slice(0, 2), defaults);
  const forever = { metadata: {}, spec: { containers: [], tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }] } } as unknown as V1Pod;
  assert.deepEqual(bindPod(forever, { bind: true, seconds: 60 })!.annotations, { 'apps.openyurt.io/original-unreachable-toleration-duration': 'infinite' });
});

test('the controller rewrites pods on edge nodes and restores them when the node opts out', async () => {
  const fake = new FakeCluster();
  const c = new PodBindingController(fakeContext(fake));
  c.start();
  await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'e', labels: edge } });
  await fake.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'e', containers: [{ name: 'c', image: 'x' }], tolerations: defaults } });
  const tols = () => fake.find<V1Pod>('Pod', 'p', 'default')!.spec!.tolerations!;
  await eventually(() => tols().every((t) => t.tolerationSeconds === undefined), 3000, 'bound forever');
  await fake.update('Node', 'e', undefined, { metadata: { annotations: { 'node.openyurt.io/autonomy-duration': '10m' } } });
  await eventually(() => tols().every((t) => t.tolerationSeconds === 600), 3000, 'autonomy-duration');
  await fake.update('Node', 'e', undefined, { metadata: { annotations: { 'apps.openyurt.io/binding': 'false' } } });
  await eventually(() => tols().every((t) => t.tolerationSeconds === 300), 3000, 'opted out: originals back');
  await c.stop();
});

test('beside Kedge\'s own lifecycle (onlyWhereTainted) a node bound forever costs no pod patch; an autonomy-duration still rewrites', async () => {
  const fake = new FakeCluster();
  const c = new PodBindingController(fakeContext(fake), { onlyWhereTainted: true });
  c.start();
  await fake.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'e', labels: edge } });
  await fake.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'e', containers: [{ name: 'c', image: 'x' }], tolerations: defaults } });
  const pod = () => fake.find<V1Pod>('Pod', 'p', 'default')!;
  const rv = pod().metadata!.resourceVersion;
  // The node update below is seen after the pod's add: once it has been acted on, the pod's add has been too.
  await fake.update('Node', 'e', undefined, { metadata: { annotations: { 'node.openyurt.io/autonomy-duration': '10m' } } });
  await eventually(() => pod().spec!.tolerations!.every((t) => t.tolerationSeconds === 600), 3000, 'autonomy-duration');
  assert.notEqual(pod().metadata!.resourceVersion, rv);
  await c.stop();

  const fake2 = new FakeCluster();
  const lazy = new PodBindingController(fakeContext(fake2), { onlyWhereTainted: true });
  lazy.start();
  await fake2.create<V1Node>({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'e', labels: edge } });
  await fake2.create<V1Pod>({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { nodeName: 'e', containers: [{ name: 'c', image: 'x' }], tolerations: defaults } });
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(fake2.find<V1Pod>('Pod', 'p', 'default')!.spec!.tolerations, defaults, 'bound forever beside Kedge\'s lifecycle: left as it is');
  await lazy.stop();
});
