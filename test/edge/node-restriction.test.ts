/**
 * What a node may write about itself (upstream's NodeRestriction), against a real `kedge server`: through the hub
 * (edge-a's identity driving the real hub by hand) and through the API server (kubectl with edge-a's own client
 * certificate, with the system:node ClusterRole bound to system:nodes as an RBAC-only upstream cluster would):
 * no labels outside the kubelet's allow-list, no removing or changing the edge role or pool membership, events only
 * about its own objects, and a pod status report that leaves conditions others set alone and lets readiness gates
 * hold Ready back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KUBECTL, createToken, eventually, joinEdge, run, startCluster, type Cluster, type Edge } from './cluster.js';
import { RawClient, credsFrom, type Creds } from './raw-client.js';
import { buildKubeconfig, serializeKubeconfig } from '../../src/pki/index.js';

let c: Cluster;
let a: Edge;
let credsA: Creds;
let nodeKubeconfig: string;

interface NodeJson { metadata: { labels?: Record<string, string> }; status?: Record<string, unknown> }
interface PodJson {
  metadata: { uid: string };
  status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

const pod = (name: string, node: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox' }], ...extra },
});

/** kubectl as edge-a itself: its own client certificate from its data dir. */
const asNode = (args: string[], input?: string) => run(KUBECTL, ['--kubeconfig', nodeKubeconfig, ...args], { input });

before(async () => {
  c = await startCluster('node-restriction');
  const token = await createToken(c);
  [a] = await Promise.all([joinEdge(c, 'edge-a', token), joinEdge(c, 'edge-b', token)]);
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [pod('pod-a', 'edge-a'), pod('pod-b', 'edge-b')] }));
  await eventually('edge-a reported its Node', async () => (await c.kubectl(['get', 'node', 'edge-a', '-o', 'name'])).trim() === 'node/edge-a');
  // From here on edge-a's identity is driven by hand (hub) and through kubectl (API server).
  await a.proc.stop();
  credsA = credsFrom(a.dataDir);
  const server = `https://127.0.0.1:${c.apiPort}`;
  const ca = Buffer.from((await c.kubectl(['config', 'view', '--raw', '-o', 'jsonpath={.clusters[0].cluster.certificate-authority-data}'])).trim(), 'base64').toString('utf8');
  nodeKubeconfig = path.join(c.dataDir, 'edge-a.kubeconfig');
  await writeFile(nodeKubeconfig, serializeKubeconfig(buildKubeconfig({ server, caCertPem: ca, userName: 'edge-a', clientCertPem: credsA.cert, clientKeyPem: credsA.key })), { mode: 0o600 });
  // Upstream without the Node authorizer: nodes get the system:node role through RBAC; admission limits what they do with it.
  await c.kubectl(['create', 'clusterrolebinding', 'nodes-via-rbac', '--clusterrole=system:node', '--group=system:nodes']);
  await c.kubectl(['label', 'node', 'edge-a', 'apps.openyurt.io/nodepool=pool-1']);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

const nodeLabels = async (name: string) => (JSON.parse(await c.kubectl(['get', 'node', name, '-o', 'json'])) as NodeJson).metadata.labels ?? {};

test('labels through the hub: nothing outside the kubelet allow-list, the edge role and pool stay as the cloud set them', async () => {
  const status = (JSON.parse(await c.kubectl(['get', 'node', 'edge-a', '-o', 'json'])) as NodeJson).status;
  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    const report = (labels: Record<string, string>) => cl.status('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-a', labels }, status });
    for (const [labels, key] of [
      [{ 'node-role.kubernetes.io/control-plane': '' }, 'node-role.kubernetes.io/control-plane'],
      [{ 'node-restriction.kubernetes.io/pci-zone': 'true' }, 'node-restriction.kubernetes.io/pci-zone'],
      [{ 'node-role.kubernetes.io/edge': 'false' }, 'node-role.kubernetes.io/edge'],
      [{ 'apps.openyurt.io/nodepool': 'pool-2' }, 'apps.openyurt.io/nodepool'],
    ] as const) {
      const r = await report(labels);
      assert.equal(r.ok, false, key);
      assert.equal(r.reason, `forbidden: node "edge-a" is not allowed to modify labels: ${key}`);
    }
    // Allowed: what a kubelet may set; a report without the cloud's labels removes none.
    assert.equal((await report({ 'topology.kubernetes.io/zone': 'z1', 'example.com/rack': 'r4' })).ok, true);
  } finally {
    cl.close();
  }
  const labels = await nodeLabels('edge-a');
  assert.equal(labels['node-role.kubernetes.io/edge'], '');
  assert.equal(labels['apps.openyurt.io/nodepool'], 'pool-1');
  assert.equal(labels['topology.kubernetes.io/zone'], 'z1');
  assert.equal(labels['node-role.kubernetes.io/control-plane'], undefined);
  assert.equal(labels['node-restriction.kubernetes.io/pci-zone'], undefined);
  await c.server.waitForLog(/is not allowed to modify labels/, 10_000);
});

test('labels through the API server: a node cannot set a forbidden label, drop the edge role, or touch another Node', async () => {
  assert.match(await asNode(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']), /^system:node:edge-a$/);
  await assert.rejects(asNode(['label', 'node', 'edge-a', 'node-role.kubernetes.io/control-plane=']),
    /nodes "edge-a" is forbidden: is not allowed to modify labels: node-role.kubernetes.io\/control-plane/);
  await assert.rejects(asNode(['label', 'node', 'edge-a', 'node-role.kubernetes.io/edge-']),
    /nodes "edge-a" is forbidden: is not allowed to modify labels: node-role.kubernetes.io\/edge/);
  await assert.rejects(asNode(['label', 'node', 'edge-a', '--overwrite', 'apps.openyurt.io/nodepool=pool-2']),
    /is not allowed to modify labels: apps.openyurt.io\/nodepool/);
  await assert.rejects(asNode(['label', 'node', 'edge-b', 'example.com/x=1']), /nodes "edge-b" is forbidden: node "edge-a" is not allowed to modify node "edge-b"/);
  await assert.rejects(asNode(['taint', 'node', 'edge-a', 'dedicated=x:NoSchedule']), /node "edge-a" is not allowed to modify taints/);
  await asNode(['label', 'node', 'edge-a', 'example.com/rack=r5', '--overwrite']);
  const labels = await nodeLabels('edge-a');
  assert.equal(labels['example.com/rack'], 'r5');
  assert.equal(labels['node-role.kubernetes.io/edge'], '');
  assert.equal(labels['apps.openyurt.io/nodepool'], 'pool-1');
  assert.equal(labels['node-role.kubernetes.io/control-plane'], undefined);
});

test('pods and leases through the API server: only its own pods\' status, no pods of its own making, only its own Lease', async () => {
  const podB = JSON.parse(await c.kubectl(['get', 'pod', 'pod-b', '-o', 'json'])) as { metadata: { resourceVersion: string } };
  // kubectl replace sends the PUT directly (a node may not GET pods/status, as upstream's system:node role).
  const withMessage = async (name: string, message: string) => {
    const p = JSON.parse(await c.kubectl(['get', 'pod', name, '-o', 'json'])) as { status?: Record<string, unknown> };
    return JSON.stringify({ ...p, status: { ...p.status, message } });
  };
  await assert.rejects(asNode(['replace', '--subresource=status', '-f', '-'], await withMessage('pod-b', 'owned')),
    /pods "pod-b" is forbidden: node "edge-a" can only update pod status for pods with spec.nodeName set to itself/);
  await assert.rejects(asNode(['label', 'pod', 'pod-a', 'role=db']), /forbidden/);
  // A pod that would hand this node another Secret: refused (only mirror pods, and those reference nothing).
  await assert.rejects(asNode(['create', '-f', '-'], JSON.stringify(pod('grab', 'edge-a', { volumes: [{ name: 's', secret: { secretName: 'anything' } }] }))),
    /pods "grab" is forbidden: pod does not have "kubernetes.io\/config.mirror" annotation, node "edge-a" can only create mirror pods/);
  await assert.rejects(asNode(['create', '-f', '-'], JSON.stringify({ ...pod('grab', 'edge-a', { volumes: [{ name: 's', secret: { secretName: 'anything' } }] }), metadata: { name: 'grab', namespace: 'default', annotations: { 'kubernetes.io/config.mirror': 'x' } } })),
    /node "edge-a" can not create pods that reference secrets/);
  await assert.rejects(asNode(['annotate', 'lease', '-n', 'kube-node-lease', 'edge-b', 'x=y']),
    /leases.coordination.k8s.io "edge-b" is forbidden: can only access node lease with the same name as the requesting node/);
  await asNode(['replace', '--subresource=status', '-f', '-'], await withMessage('pod-a', 'from edge-a'));
  assert.equal((JSON.parse(await c.kubectl(['get', 'pod', 'pod-b', '-o', 'json'])) as typeof podB).metadata.resourceVersion, podB.metadata.resourceVersion);
});

test('events: a node cannot write events about another node\'s pod (API server and hub), nor outside the pod\'s namespace', async () => {
  const event = (name: string, namespace: string, involvedObject: Record<string, string>) => JSON.stringify({
    apiVersion: 'v1', kind: 'Event', metadata: { name, namespace }, involvedObject, reason: 'Probe', message: `from edge-a about ${involvedObject.name}`, type: 'Normal',
  });
  await assert.rejects(asNode(['create', '-f', '-'], event('forged.1', 'default', { kind: 'Pod', namespace: 'default', name: 'pod-b' })),
    /events "forged.1" is forbidden: node "edge-a" can only record events about pods with spec.nodeName set to itself/);
  await assert.rejects(asNode(['create', '-f', '-'], event('forged.2', 'default', { kind: 'Node', name: 'edge-b' })),
    /node "edge-a" can only record events about itself, not node "edge-b"/);
  await asNode(['create', '-f', '-'], event('own.1', 'default', { kind: 'Pod', namespace: 'default', name: 'pod-a' }));

  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    const send = (name: string, namespace: string, io: Record<string, string>) =>
      cl.status('event', { metadata: { name, namespace }, involvedObject: io, reason: 'Probe', message: 'forged', count: 1 });
    for (const [name, ns, io] of [
      ['forged.3', 'default', { kind: 'Pod', namespace: 'default', name: 'pod-b' }],
      ['forged.4', 'kube-system', { kind: 'Pod', namespace: 'default', name: 'pod-a' }],
      ['forged.5', 'kube-system', { kind: 'Node', name: 'edge-a' }],
    ] as const) {
      const r = await send(name, ns, io);
      assert.equal(r.ok, false, name);
      assert.match(String(r.reason), /^forbidden: node "edge-a" can only record events/);
    }
    // Reusing the name of an Event it did not write does not let it rewrite that Event.
    const r = await send('own.1', 'default', { kind: 'Pod', namespace: 'default', name: 'pod-a' });
    assert.equal(r.ok, false);
    assert.match(String(r.reason), /may not update event default\/own.1/);
  } finally {
    cl.close();
  }
  const all = await c.kubectl(['get', 'events', '-A', '-o', 'json']);
  assert.ok(!all.includes('forged'), 'no forged event stored');
});

test('pod status: a readiness-gate condition set with kubectl survives the edge\'s reports, reaches the edge, and gates Ready', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify(pod('gated', 'edge-a', { readinessGates: [{ conditionType: 'example.com/load-balancer' }] })));
  const get = async () => JSON.parse(await c.kubectl(['get', 'pod', 'gated', '-o', 'json'])) as PodJson;
  const uid = (await get()).metadata.uid;
  const setGate = (status: string) => c.kubectl(['patch', 'pod', 'gated', '--subresource=status', '--type=strategic', '-p',
    JSON.stringify({ status: { conditions: [{ type: 'example.com/load-balancer', status, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } })]);
  const condition = (p: PodJson, type: string) => p.status?.conditions?.find((x) => x.type === type);
  // What the edge computes with all containers ready, not knowing the gate: the hub keeps the gate and holds Ready.
  const t = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const edgeReport = {
    namespace: 'default', name: 'gated', uid,
    status: {
      phase: 'Running',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: t })),
      containerStatuses: [{ name: 'main', image: 'busybox', imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: t } } }],
    },
  };
  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    await setGate('False');
    // The condition someone else set is news for the edge (its Ready counts it): the pod is sent down with it.
    await cl.waitFor((m) => m.type === 'upsert' && m.key === '/registry/pods/default/gated'
      && JSON.stringify((m.object as PodJson).status?.conditions ?? []).includes('example.com/load-balancer'), 30_000);
    await eventually('the edge report is written', async () => (await cl.status('pod', edgeReport)).ok === true || 'not yet in the hub cache', 30_000);
    let p = await get();
    assert.equal(condition(p, 'example.com/load-balancer')?.status, 'False', 'the gate condition survived the edge report');
    assert.equal(condition(p, 'ContainersReady')?.status, 'True');
    assert.equal(condition(p, 'Ready')?.status, 'False');
    assert.equal(condition(p, 'Ready')?.reason, 'ReadinessGatesNotReady');
    assert.equal(condition(p, 'Ready')?.message, 'the status of pod readiness gate "example.com/load-balancer" is not "True", but False');
    await setGate('True');
    assert.equal((await cl.status('pod', edgeReport)).ok, true);
    p = await get();
    assert.equal(condition(p, 'example.com/load-balancer')?.status, 'True');
    assert.equal(condition(p, 'Ready')?.status, 'True');
  } finally {
    cl.close();
  }
});
