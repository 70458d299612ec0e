/**
 * Issue 4 acceptance: real `kedge server` (API + hub), two real `kedge edge` processes dialling through a
 * fault-injecting TCP proxy, real kubectl. Join; objects reach only their node; a cut link with 200 cloud
 * changes, a kill -9 + offline restart of the edge, then heal → exact convergence with reconnect bytes
 * measured against a full relist; the same after kill -9 of the cloud side.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { issueCertificate } from '../../src/pki/index.js';
import { bindingOfNode, bindingUri } from '../../src/cloudhub/node-identity.js';
import {
  createToken,
  edgeNames,
  edgeRunArgs,
  eventually,
  fingerprint,
  hubMetricsText,
  joinEdge,
  localGet,
  run,
  secretList,
  startCluster,
  KUBECTL,
  type Cluster,
  type Edge,
} from './cluster.js';

let c: Cluster;
let a: Edge;
let b: Edge;
const EXISTING = 300; // pods (each with its own configmap) per edge before the cut

before(async () => {
  c = await startCluster('edge-sync');
  const token = await createToken(c);
  [a, b] = await Promise.all([joinEdge(c, 'edge-a', token), joinEdge(c, 'edge-b', token)]);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

interface K8sObj {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string> };
  spec?: { nodeName?: string; containers?: Array<{ envFrom?: Array<{ configMapRef?: { name: string } }> }> };
  data?: Record<string, string>;
  status?: Record<string, unknown>;
}

const cm = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { value } });
const pod = (name: string, node: string, cmName: string, secretName?: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'sync-test' } },
  spec: {
    nodeName: node,
    // No service account token volume: the sets (and reconnect bytes) measured here are the test's own objects.
    automountServiceAccountToken: false,
    containers: [{ name: 'main', image: 'busybox', envFrom: [{ configMapRef: { name: cmName } }] }],
    volumes: secretName ? [{ name: 's', secret: { secretName } }] : [],
  },
});
const list = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });

async function cloudList(resource: string): Promise<K8sObj[]> {
  return (JSON.parse(await c.kubectl(['get', resource, '-n', 'default', '-o', 'json'])) as { items: K8sObj[] }).items;
}

/** The cloud's desired state for a node: its pods and the configmaps they reference (names, uids, data). */
async function cloudDesired(node: string): Promise<{ pods: string[]; configmaps: string[] }> {
  const pods = (await cloudList('pods')).filter((p) => p.spec?.nodeName === node);
  const refs = new Set(pods.flatMap((p) => (p.spec?.containers ?? []).flatMap((ct) => (ct.envFrom ?? []).map((e) => e.configMapRef?.name))));
  const cms = (await cloudList('configmaps')).filter((m) => refs.has(m.metadata.name));
  return { pods: fingerprint(pods), configmaps: fingerprint(cms) };
}

async function edgeHolds(e: Edge): Promise<{ pods: string[]; configmaps: string[] }> {
  const pods = await localGet<{ items: K8sObj[] }>(e, '/api/v1/namespaces/default/pods');
  const cms = await localGet<{ items: K8sObj[] }>(e, '/api/v1/namespaces/default/configmaps');
  return { pods: fingerprint(pods.body.items), configmaps: fingerprint(cms.body.items) };
}

async function converged(e: Edge): Promise<boolean | string> {
  const [want, have] = await Promise.all([cloudDesired(e.name), edgeHolds(e)]);
  if (JSON.stringify(want) === JSON.stringify(have)) return true;
  return `edge has ${have.pods.length} pods/${have.configmaps.length} configmaps, cloud wants ${want.pods.length}/${want.configmaps.length}`;
}

test('join registers edge nodes with the edge role, node info and a lease', async () => {
  for (const e of [a, b]) {
    await eventually(`node ${e.name} registered`, async () => {
      const node = JSON.parse(await c.kubectl(['get', 'node', e.name, '-o', 'json'])) as K8sObj & { status: { nodeInfo?: { kubeletVersion?: string } } };
      assert.ok('node-role.kubernetes.io/edge' in (node.metadata.labels ?? {}));
      assert.match(node.status.nodeInfo?.kubeletVersion ?? '', /^v1\.32/);
      return true;
    });
    await eventually(`lease ${e.name}`, async () => {
      await c.kubectl(['get', 'lease', e.name, '-n', 'kube-node-lease']);
      return true;
    });
  }
  // The node's certificate came from a CSR the hub approved.
  const csrs = JSON.parse(await c.kubectl(['get', 'csr', '-o', 'json'])) as { items: Array<{ spec: { signerName: string }; status?: { conditions?: Array<{ type: string }> } }> };
  const edgeCsrs = csrs.items.filter((x) => x.spec.signerName === 'kedge.io/edge-node-client');
  assert.ok(edgeCsrs.length >= 2, 'a CSR per joined node');
  assert.ok(edgeCsrs.every((x) => x.status?.conditions?.some((cond) => cond.type === 'Approved')));
});

test('a pod and its configmap/secret reach only their node; the local API serves them to kubectl', async () => {
  await c.kubectl(['apply', '-f', '-'], secretList(['sec-a', 'sec-b']));
  await c.kubectl(['apply', '-f', '-'], list([cm('cm-a', 'a'), cm('cm-b', 'b'), cm('cm-unused', 'x'), pod('pod-a', 'edge-a', 'cm-a', 'sec-a'), pod('pod-b', 'edge-b', 'cm-b', 'sec-b')]));
  // Watches of different resources are not ordered with each other: wait for each kind.
  for (const [e, suffix] of [[a, 'a'], [b, 'b']] as const) {
    for (const [kind, want] of [['pods', `pod-${suffix}`], ['configmaps', `cm-${suffix}`], ['secrets', `sec-${suffix}`]]) {
      await eventually(`${kind} on ${e.name}`, async () => {
        const names = await edgeNames(e, `/api/v1/namespaces/default/${kind}`);
        return JSON.stringify(names) === JSON.stringify([want]) || names.join(',');
      });
    }
  }
  // And nothing else arrives later: after a further change is delivered, the sets are unchanged.
  await c.kubectl(['apply', '-f', '-'], list([cm('cm-a', 'a2')]));
  await eventually('cm-a update on edge-a', async () => (await localGet<{ data: { value: string } }>(a, '/api/v1/namespaces/default/configmaps/cm-a')).body.data.value === 'a2');
  assert.deepEqual(await edgeNames(a, '/api/v1/namespaces/default/configmaps'), ['cm-a']);
  assert.deepEqual(await edgeNames(b, '/api/v1/namespaces/default/configmaps'), ['cm-b']);
  assert.deepEqual(await edgeNames(a, '/api/v1/namespaces/default/secrets'), ['sec-a']);
  // A node-local client uses stock kubectl against the edge's read-only API; writes are refused.
  const emptyKubeconfig = path.join(c.h.tempDir('kc'), 'empty');
  writeFileSync(emptyKubeconfig, 'apiVersion: v1\nkind: Config\n');
  // (Nodes are a public read; pods need a credential, which kubectl sends only over TLS: test/edge/localapi.test.ts.)
  const local = (args: string[]) => run(KUBECTL, ['--kubeconfig', emptyKubeconfig, '-s', `http://127.0.0.1:${a.localApiPort}`, ...args]);
  assert.equal((await local(['get', 'nodes', '-o', 'name'])).trim(), 'node/edge-a');
  await assert.rejects(local(['delete', 'node', 'edge-a']), /MethodNotAllowed|not allowed/i);
});

test('cut link, 200 cloud changes, kill -9 + offline restart of the edge, heal: exact convergence at a fraction of a relist', async () => {
  // Baseline: EXISTING pods on edge-a, each with its own configmap.
  const base: unknown[] = [];
  for (let i = 0; i < EXISTING; i++) base.push(cm(`cm-${i}`, `v0-${i}`), pod(`pod-${i}`, 'edge-a', `cm-${i}`));
  await c.kubectl(['apply', '-f', '-'], list(base));
  await eventually('baseline on edge-a', () => converged(a), 120_000, 500);

  await a.link.cut();
  await a.proc.waitForLog(/disconnected from hub/, 30_000);
  // 200 changes: 100 configmap edits, 50 pod deletions, 50 new pods.
  const changes: unknown[] = [];
  for (let i = 0; i < 100; i++) changes.push(cm(`cm-${i}`, `v1-${i}`));
  for (let i = 0; i < 50; i++) changes.push(pod(`new-${i}`, 'edge-a', `cm-${i}`));
  await c.kubectl(['apply', '-f', '-'], list(changes));
  await c.kubectl(['delete', 'pod', '--wait=false', ...Array.from({ length: 50 }, (_, i) => `pod-${250 + i}`)]);

  // kill -9 the edge while cut off, restart it: it must come back from its store alone.
  await a.proc.kill9();
  const restartedAt = new Date();
  restartedAt.setMilliseconds(0);
  const offline = await c.h.startKedge('edge-a-run', edgeRunArgs(a), { ready: { logLine: /edge agent started/, timeoutMs: 60_000 } });
  const stale = await edgeNames(a, '/api/v1/namespaces/default/pods');
  assert.equal(stale.length, EXISTING + 1, 'offline restart restored every pod from the local store');
  assert.ok(stale.includes('pod-299') && !stale.includes('new-0'), 'offline: the cloud changes are not there yet');

  a.link.resetCounters();
  await a.link.heal();
  await eventually('edge-a converged after heal', () => converged(a), 120_000, 250);
  const reconnect = a.link.counters();

  // The cloud got the edge's latest state: the offline-recorded Starting event, a fresh lease and node heartbeat.
  await eventually('Starting event from the offline restart delivered', async () => {
    const evs = JSON.parse(await c.kubectl(['get', 'events', '-n', 'default', '-o', 'json'])) as { items: Array<{ reason: string; involvedObject: { name: string }; lastTimestamp: string }> };
    return evs.items.some((e) => e.reason === 'Starting' && e.involvedObject.name === 'edge-a' && new Date(e.lastTimestamp) >= restartedAt);
  });
  await eventually('lease renewed after heal', async () => {
    const lease = JSON.parse(await c.kubectl(['get', 'lease', 'edge-a', '-n', 'kube-node-lease', '-o', 'json'])) as { spec: { renewTime: string } };
    return new Date(lease.spec.renewTime) >= restartedAt;
  });

  // Baseline for comparison, measured in the same run: a full relist of the same node (empty store).
  await offline.stop();
  for (const f of readdirSync(a.dataDir)) if (f.startsWith('store.db')) rmSync(path.join(a.dataDir, f));
  a.link.resetCounters();
  const fresh = await c.h.startKedge('edge-a-fresh', edgeRunArgs(a), { ready: { logLine: /edge agent started/, timeoutMs: 60_000 } });
  await eventually('edge-a full resync', () => converged(a), 120_000, 250);
  const full = a.link.counters();
  a.proc = fresh;
  const ratio = reconnect.downBytes / full.downBytes;
  console.log(JSON.stringify({ measure: 'reconnect-vs-relist', objects: EXISTING * 2 + 2, changes: 200, reconnectDownBytes: reconnect.downBytes, reconnectUpBytes: reconnect.upBytes, fullRelistDownBytes: full.downBytes, ratio: Number(ratio.toFixed(3)), bytesPerChange: Math.round(reconnect.downBytes / 200), bytesPerObjectRelist: Math.round(full.downBytes / (EXISTING * 2 + 2)) }));
  // 200 changes, of which 100 tiny configmap edits and 50 deletions, against ~600 existing objects.
  assert.ok(ratio < 0.5, `reconnect sent ${reconnect.downBytes} B vs ${full.downBytes} B for a full relist`);
});

test('kill -9 of the cloud side while an edge is cut: diff resync, no blind duplicates', async () => {
  const base: unknown[] = [];
  for (let i = 0; i < EXISTING; i++) base.push(cm(`b-cm-${i}`, `v0-${i}`), pod(`b-pod-${i}`, 'edge-b', `b-cm-${i}`));
  await c.kubectl(['apply', '-f', '-'], list(base));
  await eventually('baseline on edge-b', () => converged(b), 120_000, 500);

  await b.link.cut();
  await c.server.kill9();
  await c.server.start();
  await c.server.waitForLog(/cloud hub listening/, 60_000);
  const changes: unknown[] = [];
  for (let i = 0; i < 150; i++) changes.push(cm(`b-cm-${i}`, `v1-${i}`));
  await c.kubectl(['apply', '-f', '-'], list(changes));
  await c.kubectl(['delete', 'pod', '--wait=false', ...Array.from({ length: 50 }, (_, i) => `b-pod-${i}`)]);

  b.link.resetCounters();
  await b.link.heal();
  await eventually('edge-b converged after cloud restart', () => converged(b), 120_000, 250);
  const diff = b.link.counters();
  // edge-a (never cut) reconnected on its own and is in sync too.
  await eventually('edge-a converged after cloud restart', () => converged(a), 120_000, 250);
  console.log(JSON.stringify({ measure: 'cloud-restart-diff', objects: EXISTING * 2 + 2, changes: 200, downBytes: diff.downBytes, upBytes: diff.upBytes }));
  // A full resend of ~600 objects costs several times what 150 small edits + 50 deletes do.
  const fullish = (await c.kubectl(['get', 'pods,configmaps', '-n', 'default', '-o', 'json'])).length;
  assert.ok(diff.downBytes < fullish / 4, `diff resync sent ${diff.downBytes} B; the namespace's objects are ${fullish} B of JSON`);
});

test('a black-holed link (no RST, nothing delivered) is detected by keepalives and the edge catches up after heal', async () => {
  const silentBefore = (a.proc.currentOutput.match(/hub link silent too long/g) ?? []).length;
  a.link.drop();
  await c.kubectl(['apply', '-f', '-'], list([cm('cm-1', 'during-blackhole')]));
  // --keepalive 1000: the edge gives up on a silent link after 3 s and starts reconnecting (into the hole).
  await eventually('edge-a noticed the dead link', async () => (a.proc.currentOutput.match(/hub link silent too long/g) ?? []).length > silentBefore, 30_000);
  await a.link.heal();
  await eventually('edge-a caught up after the black hole', () => converged(a), 120_000, 250);
  const v = await localGet<{ data: { value: string } }>(a, '/api/v1/namespaces/default/configmaps/cm-1');
  assert.equal(v.body.data.value, 'during-blackhole');
});

/** One of the hub's Prometheus counters. */
async function hubMetric(name: string): Promise<number> {
  const m = (await hubMetricsText(c)).match(new RegExp(`^${name} (\\d+)$`, 'm'));
  if (!m) throw new Error(`${name} not in hub metrics`);
  return Number(m[1]);
}

/** The "connected to hub" log lines of an edge's current run, parsed. */
function connectLines(e: Edge): Array<{ tlsResumed?: boolean; resume?: boolean }> {
  return e.proc.currentOutput
    .split('\n')
    .filter((l) => l.includes('"connected to hub"'))
    .map((l) => JSON.parse(l) as { tlsResumed?: boolean; resume?: boolean });
}

/** RST the edge's link and return how the next connection was made. */
async function reconnect(e: Edge): Promise<{ tlsResumed?: boolean; resume?: boolean }> {
  const before = connectLines(e).length;
  e.link.reset();
  await eventually(`${e.name} reconnected`, async () => connectLines(e).length > before, 60_000, 100);
  return connectLines(e).at(-1)!;
}

test('TLS session resumption: a reset link resumes the session as the same node; a replaced certificate forces a full handshake', async () => {
  // 1. Same credentials: the next connection resumes (no certificate exchange), and it is still edge-b's session.
  const resumedBefore = await hubMetric('kedge_hub_tls_resumed_total');
  const first = await reconnect(b);
  assert.equal(first.tlsResumed, true, 'a reconnect with unchanged credentials resumes the TLS session');
  assert.ok((await hubMetric('kedge_hub_tls_resumed_total')) > resumedBefore, 'the hub counted a resumed session');
  await c.kubectl(['apply', '-f', '-'], list([cm('b-cm-200', 'after-tls-resume')]));
  await eventually('edge-b receives its changes over the resumed session', async () => (await localGet<{ data: { value: string } }>(b, '/api/v1/namespaces/default/configmaps/b-cm-200')).body.data?.value === 'after-tls-resume');

  // 2. Replace the certificate: restart edge-b with one that is due for rotation ~12 s after start (90 s validity,
  //    backdated 5 min), so the running agent renews it through the hub after its first connection.
  await b.proc.stop();
  const caDir = path.join(c.dataDir, 'pki');
  const ca = { certPem: readFileSync(path.join(caDir, 'ca.crt'), 'utf8'), keyPem: readFileSync(path.join(caDir, 'ca.key'), 'utf8') };
  // Bound to edge-b's Node as the hub's join signs it (node-identity.ts), or the hub would refuse it.
  const binding = bindingOfNode(JSON.parse(await c.kubectl(['get', 'node', 'edge-b', '-o', 'json'])) as { metadata: { uid: string; annotations?: Record<string, string> } })!;
  const shortLived = await issueCertificate(ca, { commonName: 'system:node:edge-b', organizations: ['system:nodes'], purposes: ['client'], uris: [bindingUri(binding)], validityMs: 90_000 });
  writeFileSync(path.join(b.dataDir, 'pki', 'node.crt'), shortLived.certPem);
  writeFileSync(path.join(b.dataDir, 'pki', 'node.key'), shortLived.keyPem, { mode: 0o600 });
  b.proc = await c.h.startKedge('edge-b-rotating', edgeRunArgs(b), { ready: { logLine: /connected to hub/, timeoutMs: 60_000 } });
  await b.proc.waitForLog(/node certificate rotated/, 60_000);
  const out = b.proc.currentOutput;
  assert.ok(out.indexOf('"connected to hub"') < out.indexOf('node certificate rotated'), 'the first connection (and its ticket) predates the rotation');
  const fullBefore = await hubMetric('kedge_hub_tls_full_handshakes_total');
  const afterRotation = await reconnect(b);
  assert.equal(afterRotation.tlsResumed, false, 'the ticket of the old certificate is not offered: full handshake with the new one');
  assert.ok((await hubMetric('kedge_hub_tls_full_handshakes_total')) > fullBefore, 'the hub counted a full handshake');
  // The new certificate's session resumes in turn.
  assert.equal((await reconnect(b)).tlsResumed, true);
  await c.kubectl(['apply', '-f', '-'], list([cm('b-cm-200', 'after-rotation')]));
  await eventually('edge-b syncing after rotation', async () => (await localGet<{ data: { value: string } }>(b, '/api/v1/namespaces/default/configmaps/b-cm-200')).body.data?.value === 'after-rotation');
});

test('protocol v2 patches: two changes to one pod while cut off (the edge lacks the patch base) still converge exactly', async () => {
  await eventually('edge-b connected', async () => b.link.counters().active > 0);
  await b.link.cut();
  await b.proc.waitForLog(/disconnected from hub/, 30_000);
  // Change 1 adds x, change 2 adds y: the hub's patch (change 1 → 2) holds only y. Applied blindly onto the
  // version the edge holds, x would be missing; the edge must see the base differs and read the pod whole.
  await c.kubectl(['label', 'pod', 'b-pod-100', 'x=1']);
  await c.kubectl(['label', 'pod', 'b-pod-100', 'y=2']);
  // And one change to another pod: a plain patch onto the version the edge holds.
  await c.kubectl(['label', 'pod', 'b-pod-101', 'z=3']);
  await b.link.heal();
  const labels = async (name: string) => (await localGet<K8sObj>(b, `/api/v1/namespaces/default/pods/${name}`)).body.metadata.labels ?? {};
  await eventually('both changes on edge-b', async () => {
    const l = await labels('b-pod-100');
    return (l.x === '1' && l.y === '2') || JSON.stringify(l);
  });
  // The two pods' changes travel independently; nothing orders b-pod-101's after b-pod-100's.
  await eventually('the other pod\'s change on edge-b', async () => (await labels('b-pod-101')).z === '3' || JSON.stringify(await labels('b-pod-101')));
  const cloud = JSON.parse(await c.kubectl(['get', 'pod', 'b-pod-100', '-o', 'json'])) as K8sObj & { metadata: { resourceVersion: string } };
  const edge = (await localGet<K8sObj & { metadata: { resourceVersion: string } }>(b, '/api/v1/namespaces/default/pods/b-pod-100')).body;
  assert.deepEqual(edge.metadata.labels, cloud.metadata.labels);
  assert.deepEqual(edge.spec, cloud.spec);
});
