import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { TestCluster, waitFor } from './cluster.js';

// Short periods so the test runs in seconds: a node is unreachable after 2s of lease silence, and the pods
// tolerate the unreachable taint for 3s (the API server's DefaultTolerationSeconds would give them 300s).
const GRACE_S = 2;
const TOLERATION_S = 3;
const c = new TestCluster('controllers-nodes');

before(async () => {
  await c.start(['--node-monitor-grace-period', String(GRACE_S), '--default-toleration-seconds', String(TOLERATION_S)]);
  await c.addNodes('cloud', 2, (i) => ({ labels: { role: 'cloud' }, heartbeatMs: 500, subnet: 20 + i }));
  await c.addNodes('edge', 1, { labels: { role: 'edge', 'node-role.kubernetes.io/edge': '' }, heartbeatMs: 500, subnet: 30 });
  await c.addNodes('yurt', 1, { labels: { role: 'yurt' }, annotations: { 'node.beta.openyurt.io/autonomy': 'true' }, heartbeatMs: 500, subnet: 31 });
});
after(() => c.stop());

const deploy = async (name: string, role: string, replicas: number) => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: {
        nodeSelector: { role },
        tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: TOLERATION_S }],
        containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] } },
    },
  }));
  await c.kubectl(['rollout', 'status', `deployment/${name}`, '--timeout=60s']);
  await c.kubectl(['expose', 'deployment', name, '--port=80']);
};
const pods = async (app: string) => (await c.json<{ items: any[] }>(['get', 'pods', '-l', `app=${app}`])).items;
const nodeJson = (name: string) => c.json(['get', 'node', name]);
const readyOf = (o: any) => o.status.conditions.find((x: any) => x.type === 'Ready')?.status;
const readySliceIps = async (svc: string) =>
  (await c.json<{ items: any[] }>(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${svc}`])).items
    .flatMap((s) => (s.endpoints ?? []).filter((e: any) => e.conditions.ready).map((e: any) => e.addresses[0])).sort();

test('a cloud node that stops heartbeating has its pods evicted after the toleration period', async () => {
  await deploy('cloudapp', 'cloud', 4);
  const before = await pods('cloudapp');
  const onCloud0 = before.filter((p) => p.spec.nodeName === 'cloud-0');
  assert.ok(onCloud0.length > 0, 'some replicas on cloud-0');
  c.node('cloud-0').stop();
  await waitFor('cloud-0 NotReady', async () => readyOf(await nodeJson('cloud-0')) === 'Unknown', 30_000);
  assert.match(await c.kubectl(['get', 'node', 'cloud-0']), /cloud-0\s+NotReady/);
  // Ready=Unknown and the taints are separate writes: wait for both taints.
  const taints = await waitFor('cloud-0 tainted', async () => {
    const t = ((await nodeJson('cloud-0')).spec.taints ?? []).map((x: any) => `${x.key}:${x.effect}`).sort();
    return t.length === 2 ? t : undefined;
  }, 30_000);
  assert.deepEqual(taints, ['node.kubernetes.io/unreachable:NoExecute', 'node.kubernetes.io/unreachable:NoSchedule']);
  // Evicted: the original pods are deleted (Terminating: the kubelet is gone, as upstream) and replaced on cloud-1.
  await waitFor('pods on cloud-0 evicted', async () => {
    const now = await pods('cloudapp');
    return onCloud0.every((o) => {
      const p = now.find((x) => x.metadata.uid === o.metadata.uid);
      return !p || p.metadata.deletionTimestamp;
    });
  }, 30_000);
  await waitFor('4 replicas running on cloud-1', async () => {
    const live = (await pods('cloudapp')).filter((p) => !p.metadata.deletionTimestamp);
    return live.length === 4 && live.every((p) => p.spec.nodeName === 'cloud-1' && p.status.phase === 'Running');
  }, 30_000);
  const events = await c.kubectl(['get', 'events', '--field-selector', 'reason=TaintManagerEviction', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /Marking for deletion Pod default\/cloudapp-/);
});

for (const kind of ['edge', 'yurt'] as const) {
  test(`an ${kind === 'edge' ? 'edge node (node-role.kubernetes.io/edge)' : 'autonomous node (node.beta.openyurt.io/autonomy)'} keeps its pods through a long disconnect`, async () => {
    const app = `${kind}app`;
    await deploy(app, kind, 2);
    const node = `${kind}-0`;
    const before = await pods(app);
    assert.ok(before.every((p) => p.spec.nodeName === node));
    const uids = before.map((p) => p.metadata.uid).sort();
    const ips = before.map((p) => p.status.podIP).sort();
    await waitFor('endpoints ready', async () => JSON.stringify(await readySliceIps(app)) === JSON.stringify(ips));

    c.node(node).stop();
    await waitFor(`${node} NotReady`, async () => readyOf(await nodeJson(node)) === 'Unknown', 30_000);
    const taints = await waitFor(`${node} tainted`, async () => {
      const t = ((await nodeJson(node)).spec.taints ?? []).map((x: any) => `${x.key}:${x.effect}`);
      return t.length ? t : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 2 * GRACE_S * 1000)); // a NoExecute taint would have come by now
    assert.deepEqual(((await nodeJson(node)).spec.taints ?? []).map((x: any) => `${x.key}:${x.effect}`), taints);
    assert.deepEqual(taints, ['node.kubernetes.io/unreachable:NoSchedule'], 'no NoExecute taint on an autonomous node');
    // Pods stop being Ready, so the cloud side stops routing to them...
    await waitFor('pods not ready', async () => (await pods(app)).every((p) => readyOf(p) === 'False'), 30_000);
    await waitFor('endpoints drop them', async () => (await readySliceIps(app)).length === 0, 30_000);
    // ...but nothing is evicted, for 10x the toleration period.
    const until = Date.now() + 10 * TOLERATION_S * 1000;
    while (Date.now() < until) {
      const now = await pods(app);
      assert.deepEqual(now.map((p) => p.metadata.uid).sort(), uids, 'same pods');
      assert.ok(now.every((p) => !p.metadata.deletionTimestamp && p.spec.nodeName === node), 'not deleted, still bound');
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.equal(readyOf(await nodeJson(node)), 'Unknown', 'still disconnected');

    await c.node(node).resume();
    await waitFor(`${node} Ready again`, async () => readyOf(await nodeJson(node)) === 'True', 30_000);
    await waitFor('taint removed', async () => ((await nodeJson(node)).spec.taints ?? []).length === 0, 30_000);
    await waitFor('pods Ready again', async () => (await pods(app)).every((p) => readyOf(p) === 'True'), 30_000);
    const after = await pods(app);
    assert.deepEqual(after.map((p) => p.metadata.uid).sort(), uids, 'same UIDs after reconnect');
    await waitFor('endpoints back', async () => JSON.stringify(await readySliceIps(app)) === JSON.stringify(ips), 30_000);
    assert.match(await c.kubectl(['get', 'deployment', app]), new RegExp(`${app}\\s+2/2\\s`));
  });
}

test('a control-plane restart (kill -9) keeps a NotReady node NotReady, its pods out of endpoints until it heartbeats; a Ready node that never heartbeats again goes NotReady one grace period later', async () => {
  await c.addNodes('restart', 2, (i) => ({ labels: { role: `restart-${i}`, 'node-role.kubernetes.io/edge': '' }, heartbeatMs: 500, subnet: 40 + i }));
  await deploy('downapp', 'restart-0', 2);
  await deploy('silentapp', 'restart-1', 1);
  const downIps = (await pods('downapp')).map((p) => p.status.podIP).sort();
  await waitFor('downapp endpoints', async () => JSON.stringify(await readySliceIps('downapp')) === JSON.stringify(downIps));

  // restart-0 loses its link before the restart and is marked NotReady, its pods taken out of endpoints.
  c.node('restart-0').stop();
  await waitFor('restart-0 NotReady', async () => readyOf(await nodeJson('restart-0')) === 'Unknown', 30_000);
  await waitFor('downapp pods not ready', async () => (await pods('downapp')).every((p) => readyOf(p) === 'False'), 30_000);
  await waitFor('downapp endpoints empty', async () => (await readySliceIps('downapp')).length === 0, 30_000);
  const before = await nodeJson('restart-0');
  const beforeReady = before.status.conditions.find((x: any) => x.type === 'Ready');
  const beforeTaints = JSON.stringify(before.spec.taints);
  assert.equal(readyOf(await nodeJson('restart-1')), 'True');

  // restart-1 is Ready and never heartbeats again; the control plane is down longer than the grace period.
  c.node('restart-1').stop();
  await c.server.kill9();
  await new Promise((r) => setTimeout(r, (GRACE_S + 2) * 1000));
  await c.server.restart();
  await c.server.waitForLog(/became leader/, 60_000);
  const leaderAt = Date.now();

  // Fast reads through client-node: for three grace periods restart-0 never flips to Ready, nor do its pods.
  const core = c.kc.makeApiClient(CoreV1Api);
  const discovery = c.kc.makeApiClient(DiscoveryV1Api);
  const until = Date.now() + 3 * GRACE_S * 1000;
  while (Date.now() < until) {
    const node = await core.readNode({ name: 'restart-0' });
    assert.equal(node.status?.conditions?.find((x) => x.type === 'Ready')?.status, 'Unknown', 'a NotReady node stays NotReady across the restart');
    const downPods = (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=downapp' })).items;
    assert.ok(downPods.every((p) => p.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'False'), 'its pods stay not Ready');
    const slices = (await discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=downapp' })).items;
    assert.deepEqual(slices.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready)), [], 'and out of endpoints');
    await new Promise((r) => setTimeout(r, 100));
  }
  const after = await nodeJson('restart-0');
  assert.deepEqual(after.status.conditions.find((x: any) => x.type === 'Ready'), beforeReady, 'the Ready condition was never rewritten');
  assert.equal(JSON.stringify(after.spec.taints), beforeTaints, 'taints (and their timeAdded) untouched');

  // restart-1: NotReady, but only one grace period after the restart, not at once for its old heartbeat.
  const silent = await waitFor('restart-1 NotReady', async () => {
    const n = await nodeJson('restart-1');
    return n.status.conditions.find((x: any) => x.type === 'Ready' && x.status === 'Unknown');
  }, 30_000);
  const wentAfterMs = Date.parse(silent.lastTransitionTime) - leaderAt;
  assert.ok(wentAfterMs >= GRACE_S * 1000 - 1500, `restart-1 went NotReady ${wentAfterMs} ms after the controllers started (grace ${GRACE_S} s)`);
  await waitFor('silentapp pods not ready', async () => (await pods('silentapp')).every((p) => readyOf(p) === 'False'), 30_000);
  assert.equal((await pods('silentapp')).length, 1, 'an edge node\'s pod is kept');

  // The heartbeat comes back (lease + the kubelet posting Ready): the same pods return to the endpoints.
  const uids = (await pods('downapp')).map((p) => p.metadata.uid).sort();
  await c.node('restart-0').resume();
  await waitFor('restart-0 Ready', async () => readyOf(await nodeJson('restart-0')) === 'True', 30_000);
  await waitFor('taint removed', async () => ((await nodeJson('restart-0')).spec.taints ?? []).length === 0, 30_000);
  await waitFor('downapp endpoints back', async () => JSON.stringify(await readySliceIps('downapp')) === JSON.stringify(downIps), 30_000);
  assert.deepEqual((await pods('downapp')).map((p) => p.metadata.uid).sort(), uids, 'same pods');
});
