/**
 * Node-write batches (src/apiserver/node-writes.ts) and the node lane of the in-flight limit
 * (src/apiserver/inflight-lanes.ts), end to end on the real `kedge server`: each item of a batch is a PUT made
 * as its node — the Node authorizer's rules, NodeRestriction, optimistic concurrency, managedFields, one watch
 * event per object, request metrics — and a caller needs `create nodewrites.kedge.io` and `impersonate` of the
 * node. Requests go over the server's loopback socket with static tokens (plain HTTP, as the in-process hub).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import { Harness } from '../harness/processes.js';

const h = new Harness('apiserver-node-writes');
after(() => h.cleanup());

const ADMIN = 'admin-token-node-writes';
const ALICE = 'alice-token-node-writes';
const BOB = 'bob-token-node-writes';
let socketPath = '';

interface Answer { code: number; body: any }

function call(method: string, urlPath: string, token: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, accept: 'application/json', 'user-agent': 'kedge' };
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    const req = http.request({ socketPath, path: urlPath, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* metrics text */ }
        resolve({ code: res.statusCode!, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function ok(method: string, urlPath: string, body?: unknown): Promise<any> {
  const r = await call(method, urlPath, ADMIN, body);
  assert.ok(r.code >= 200 && r.code < 300, `${method} ${urlPath}: ${r.code} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

const leasePath = (n: string) => `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n}`;
const BATCH = '/apis/kedge.io/v1alpha1/nodewrites';
const batch = (items: unknown[], token = ADMIN) => call('POST', BATCH, token, { apiVersion: 'kedge.io/v1alpha1', kind: 'NodeWriteBatch', items });

before(async () => {
  const dataDir = h.tempDir('data');
  const apiPort = await h.freePort();
  const tokenFile = path.join(h.tempDir('tokens'), 'tokens.csv');
  writeFileSync(tokenFile, `${ADMIN},kubernetes-admin,admin-uid,"system:masters"\n${ALICE},alice,alice-uid\n${BOB},bob,bob-uid\n`, { mode: 0o600 });
  await h.startKedge('server', [
    'server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', '-1',
    '--disable-controllers', '--token-auth-file', tokenFile, '--max-mutating-requests-inflight', '2',
  ], { ready: { url: `https://127.0.0.1:${apiPort}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 60_000 } });
  socketPath = path.join(dataDir, 'apiserver-loopback.sock');
  for (let i = 0; i < 200 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 100));
  await ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-node-lease' } }).catch(() => {});
  for (const n of ['nw-1', 'nw-2']) {
    await ok('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
    await ok('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: n, namespace: 'kube-node-lease' }, spec: { holderIdentity: n, leaseDurationSeconds: 40 },
    });
  }
  await ok('POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nw-pod' }, spec: { nodeName: 'nw-2', containers: [{ name: 'c', image: 'busybox' }] },
  });
  // bob may create batches, but impersonate nobody
  await ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'nodewrites' }, rules: [{ apiGroups: ['kedge.io'], resources: ['nodewrites'], verbs: ['create'] }] });
  await ok('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'bob-nodewrites' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nodewrites' }, subjects: [{ kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io' }] });
});

/** Watch events on `urlPath` from `rv` until `stop` resolves. */
function collectEvents(urlPath: string, rv: string): { events: any[]; close: () => void; ready: Promise<void> } {
  const events: any[] = [];
  let buf = '';
  let done: () => void = () => {};
  const ready = new Promise<void>((r) => (done = r));
  const req = http.request({ socketPath, path: `${urlPath}?watch=true&resourceVersion=${rv}`, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
    done();
    res.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) events.push(JSON.parse(line));
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return { events, ready, close: () => req.destroy() };
}

const metric = async (resource: string, code: string) => {
  const text = (await call('GET', '/metrics', ADMIN)).body as string;
  const line = text.split('\n').find((l) => l.startsWith('apiserver_request_total{') && l.includes(`verb="update"`) && l.includes(`resource="${resource}"`) && l.includes(`code="${code}"`));
  return line ? Number(line.split(' ').pop()) : 0;
};

test('node-write batch: each item is a PUT as its node — own Lease and status written (one watch event each, managedFields, metrics), another node\'s objects, stale resourceVersions and anything else refused item by item', async () => {
  const lease1 = await ok('GET', leasePath('nw-1'));
  const lease2 = await ok('GET', leasePath('nw-2'));
  const node1 = await ok('GET', '/api/v1/nodes/nw-1');
  const pod = await ok('GET', '/api/v1/namespaces/default/pods/nw-pod');
  const leasesWatch = collectEvents('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease2.metadata.resourceVersion);
  const nodesWatch = collectEvents('/api/v1/nodes', (await ok('GET', '/api/v1/nodes')).metadata.resourceVersion);
  await Promise.all([leasesWatch.ready, nodesWatch.ready]);
  const leaseMetricBefore = await metric('leases.coordination.k8s.io', '200');
  const renew = '2026-12-07T12:00:00.000000Z';
  const { managedFields: _m, ...lease1Meta } = lease1.metadata;
  const r = await batch([
    { node: 'nw-1', path: leasePath('nw-1'), object: { ...lease1, metadata: lease1Meta, spec: { ...lease1.spec, renewTime: renew } } },
    { node: 'nw-1', path: leasePath('nw-2'), object: { ...lease2, spec: { ...lease2.spec, renewTime: renew } } },
    { node: 'nw-2', path: leasePath('nw-2'), object: { ...lease2, metadata: { ...lease2.metadata, resourceVersion: '1' }, spec: { ...lease2.spec, renewTime: renew } } },
    { node: 'nw-1', path: '/api/v1/nodes/nw-1/status', object: { ...node1, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: '2026-12-07T12:00:00Z', lastTransitionTime: '2026-12-07T12:00:00Z' }] } } },
    { node: 'nw-1', path: '/api/v1/nodes/nw-2/status', object: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'nw-2' }, status: { conditions: [] } } },
    { node: 'nw-1', path: '/api/v1/namespaces/default/pods/nw-pod/status', object: { ...pod, status: { phase: 'Running' } } },
    { node: 'nw-1', path: '/api/v1/namespaces/default/configmaps/x', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } },
  ]);
  assert.equal(r.code, 200, JSON.stringify(r.body));
  const res = r.body.results as { code: number; resourceVersion?: string; status?: { reason: string; message: string } }[];
  assert.equal(res.length, 7);
  assert.equal(res[0]!.code, 200, JSON.stringify(res[0]));
  assert.equal(res[1]!.code, 403);
  assert.match(res[1]!.status!.message, /User "system:node:nw-1" cannot update resource "leases".*can only access node lease with the same name as the requesting node/);
  assert.equal(res[2]!.code, 409);
  assert.equal(res[2]!.status!.reason, 'Conflict');
  assert.equal(res[3]!.code, 200, JSON.stringify(res[3]));
  assert.equal(res[4]!.code, 403);
  assert.match(res[4]!.status!.message, /node "nw-1" is not allowed to modify node "nw-2"/);
  assert.equal(res[5]!.code, 403);
  assert.match(res[5]!.status!.message, /node "nw-1" can only update pod status for pods with spec.nodeName set to itself/);
  assert.equal(res[6]!.code, 403);
  assert.match(res[6]!.status!.message, /User "system:node:nw-1" cannot update resource "configmaps"/);

  const after1 = await ok('GET', leasePath('nw-1'));
  assert.equal(after1.spec.renewTime, renew);
  assert.equal(after1.metadata.resourceVersion, res[0]!.resourceVersion);
  assert.ok(after1.metadata.managedFields.some((f: any) => f.manager === 'kedge' && f.operation === 'Update' && f.fieldsV1?.['f:spec']?.['f:renewTime']), JSON.stringify(after1.metadata.managedFields));
  assert.equal((await ok('GET', leasePath('nw-2'))).metadata.resourceVersion, lease2.metadata.resourceVersion, 'refused items wrote nothing');
  const n1 = await ok('GET', '/api/v1/nodes/nw-1');
  assert.equal(n1.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');
  assert.equal((await ok('GET', '/api/v1/namespaces/default/pods/nw-pod')).status?.phase, pod.status?.phase);

  // One MODIFIED per written object, nothing for the refused ones.
  for (let i = 0; i < 100 && (leasesWatch.events.length < 1 || nodesWatch.events.length < 1); i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  leasesWatch.close();
  nodesWatch.close();
  assert.deepEqual(leasesWatch.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['MODIFIED nw-1']);
  assert.deepEqual(nodesWatch.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['MODIFIED nw-1']);
  assert.equal(await metric('leases.coordination.k8s.io', '200'), leaseMetricBefore + 1, 'each item is counted as an update request');
  // The same status written by a PUT of its own, for comparison: the batch item records ownership as it does.
  const n2 = await ok('GET', '/api/v1/nodes/nw-2');
  const put2 = await ok('PUT', '/api/v1/nodes/nw-2/status', { ...n2, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ok', lastHeartbeatTime: '2026-12-07T12:00:00Z', lastTransitionTime: '2026-12-07T12:00:00Z' }] } });
  const owners = (o: any) => (o.metadata.managedFields ?? []).map((f: any) => `${f.manager}/${f.operation}/${f.subresource ?? ''}`);
  assert.deepEqual(owners(n1), owners(put2));
});

test('node-write batch is no side door: without create nodewrites 403; with it but without impersonate, each item 403; a malformed batch 400 and nothing written', async () => {
  const lease1 = await ok('GET', leasePath('nw-1'));
  const item = { node: 'nw-1', path: leasePath('nw-1'), object: { ...lease1, spec: { ...lease1.spec, renewTime: '2026-12-07T12:30:00.000000Z' } } };
  const alice = await batch([item], ALICE);
  assert.equal(alice.code, 403);
  assert.match(alice.body.message, /User "alice" cannot create resource "nodewrites" in API group "kedge.io"/);
  const bob = await batch([item], BOB);
  assert.equal(bob.code, 200);
  assert.equal(bob.body.results[0].code, 403);
  assert.match(bob.body.results[0].status.message, /User "bob" cannot impersonate resource "users"/);
  for (const bad of [{ items: 'x' }, { items: [{ node: 'Not A Node!', path: leasePath('nw-1'), object: {} }] }, { items: [item, { node: 'nw-1', path: leasePath('nw-1') }] }]) {
    const r = await call('POST', BATCH, ADMIN, bad);
    assert.equal(r.code, 400, JSON.stringify(r.body));
    assert.equal(r.body.reason, 'BadRequest');
  }
  const many = await batch(Array.from({ length: 1001 }, () => item));
  assert.equal(many.code, 400);
  assert.match(many.body.message, /at most 1000 items/);
  assert.equal((await ok('GET', leasePath('nw-1'))).metadata.resourceVersion, lease1.metadata.resourceVersion);
});

/** A write request whose body never finishes: it holds a slot of its lane until destroyed. */
function heldWrite(urlPath: string): Promise<http.ClientRequest> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: urlPath, method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'content-length': 100_000 } });
    req.on('error', () => {});
    req.write('{"apiVersion":"v1",', () => resolve(req));
  });
}

test('in-flight lanes: with the mutating lane full (2 pod writes in flight), another pod write is 429 while a Lease renewal and a node-write batch are still admitted', async () => {
  const held = [await heldWrite('/api/v1/namespaces/default/pods'), await heldWrite('/api/v1/namespaces/default/pods')];
  try {
    // Wait until both hold their slots (the server has read their headers).
    let refused: Answer | undefined;
    for (let i = 0; i < 100; i++) {
      refused = await call('POST', '/api/v1/namespaces/default/configmaps', ADMIN, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'lane-' } });
      if (refused.code === 429) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(refused!.code, 429, 'the mutating lane is full');
    assert.equal(refused!.body.reason, 'TooManyRequests');
    const lease = await ok('GET', leasePath('nw-2'));
    const renewed = await call('PUT', leasePath('nw-2'), ADMIN, { ...lease, spec: { ...lease.spec, renewTime: '2026-12-07T12:40:00.000000Z' } });
    assert.equal(renewed.code, 200, JSON.stringify(renewed.body));
    const lease1 = await ok('GET', leasePath('nw-1'));
    const b = await batch([{ node: 'nw-1', path: leasePath('nw-1'), object: { ...lease1, spec: { ...lease1.spec, renewTime: '2026-12-07T12:40:00.000000Z' } } }]);
    assert.equal(b.code, 200);
    assert.equal(b.body.results[0].code, 200, JSON.stringify(b.body.results[0]));
    assert.equal((await call('POST', '/api/v1/namespaces/default/configmaps', ADMIN, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'lane-' } })).code, 429);
  } finally {
    for (const r of held) r.destroy();
  }
  // Slots are given back when the held requests end.
  let code = 0;
  for (let i = 0; i < 100 && code !== 201; i++) {
    code = (await call('POST', '/api/v1/namespaces/default/configmaps', ADMIN, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'lane-' } })).code;
    if (code !== 201) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(code, 201);
});
