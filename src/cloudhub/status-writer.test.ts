import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, KubeApiError } from '../common/kube-client.js';
import { StatusWriter, annotationsAfterReport, leaseCoalesceWindowMs, microTime } from './status-writer.js';

interface Seen { method: string; url: string; auth?: string; type?: string; body?: unknown }

/** A stub API server: records requests, answers from `route`. */
async function stubApi(route: (r: Seen) => [number, unknown]) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: Seen = { method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body: text ? JSON.parse(text) : undefined };
      seen.push(r);
      const [code, body] = route(r);
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = KubeClient.fromConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'sekret' });
  return { kc, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const status = (code: number, reason: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: `${reason} says the stub` });

test('KubeClient: kubeconfig credentials, JSON both ways, non-2xx as KubeApiError with code and Status body', async () => {
  const api = await stubApi((r) => (r.url.endsWith('/missing') ? [404, status(404, 'NotFound')] : [200, { echo: r.body ?? null, method: r.method }]));
  try {
    const j = api.kc;
    assert.deepEqual(await j.request('PUT', '/api/v1/nodes/a', { x: 1 }), { echo: { x: 1 }, method: 'PUT' });
    assert.equal(api.seen[0]!.auth, 'Bearer sekret');
    assert.equal(api.seen[0]!.type, 'application/json');
    const err = await j.request('GET', '/api/v1/nodes/missing').catch((e: unknown) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.code, 404);
    assert.equal((JSON.parse(err.body) as { reason: string }).reason, 'NotFound');
    assert.match(err.message, /NotFound says the stub/);
  } finally {
    await api.close();
  }
});

test('lease renewals: created, then replaced from the last written copy (no GET), MicroTime renewTime, never moved backwards', async () => {
  let stored: Record<string, any> | undefined;
  let rv = 0;
  const api = await stubApi((r) => {
    if (r.method === 'GET') return stored ? [200, stored] : [404, status(404, 'NotFound')];
    assert.equal((r.body as any).metadata.managedFields, undefined, 'managedFields are not sent back');
    stored = { ...(r.body as object), metadata: { ...(r.body as any).metadata, resourceVersion: String(++rv), managedFields: [{ manager: 'm', operation: 'Update' }] } };
    return [r.method === 'POST' ? 201 : 200, stored];
  });
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const t1 = new Date('2026-01-01T00:00:10.123Z');
    const t2 = new Date('2026-01-01T00:00:20.456Z');
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: t1.toISOString(), durationSeconds: 40 }), { ok: true });
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: t2.toISOString(), durationSeconds: 40 }), { ok: true });
    // replayed from the offline buffer: older than what is stored
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: t1.toISOString(), durationSeconds: 40 }), { ok: true });
    assert.deepEqual(api.seen.map((s) => `${s.method} ${s.url}`), [
      'GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1',
      'POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
      'PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1',
    ]);
    assert.equal(stored!.spec.renewTime, '2026-01-01T00:00:20.456000Z');
    assert.equal(stored!.spec.holderIdentity, 'n1');
    assert.equal(stored!.metadata.resourceVersion, '2', 'the PUT carried the last written resourceVersion');
    assert.equal(microTime(t1), '2026-01-01T00:00:10.123000Z');
  } finally {
    await api.close();
  }
});

test('renewals that arrive while the node\'s Lease write is in flight wait for it; only the newest is written, none conflicts', async () => {
  let stored: Record<string, any> = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease', resourceVersion: '1' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, renewTime: '2026-01-01T00:00:00.000000Z' } };
  const puts: string[] = [];
  let conflicts = 0;
  // A slow API that checks the resourceVersion, as the real one does.
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => setTimeout(() => {
      const answer = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'GET') return answer(200, stored);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (body.metadata.resourceVersion !== stored.metadata.resourceVersion) {
        conflicts++;
        return answer(409, status(409, 'Conflict'));
      }
      puts.push(body.spec.renewTime);
      stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
      answer(200, stored);
    }, 50));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const w = new StatusWriter(KubeClient.fromConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' }), () => undefined);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const results = await Promise.all([10, 20, 40, 30].map((s) => w.write('n1', 'lease', { renewTime: at(s), durationSeconds: 40 })));
    assert.deepEqual(results.map((r) => r.ok), [true, true, true, true]);
    assert.equal(conflicts, 0, 'no two writes of one Lease overlapped');
    assert.deepEqual(puts, ['2026-01-01T00:00:10.000000Z', '2026-01-01T00:00:40.000000Z'], 'the first, then only the newest of those that waited');
    assert.deepEqual(results.slice(1).map((r) => r.coalesced), [true, true, true], 'the waiters share that write');
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: at(50), durationSeconds: 40 }), { ok: true }, 'the queue is gone once drained');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('lease coalescing: a renewal younger than 3/8 of the duration after the last written one is held back and written when the session ends', async () => {
  let stored: Record<string, any> | undefined;
  let rv = 0;
  const api = await stubApi((r) => {
    if (r.method === 'GET') return stored ? [200, stored] : [404, status(404, 'NotFound')];
    stored = { ...(r.body as object), metadata: { ...(r.body as any).metadata, resourceVersion: String(++rv) } };
    return [r.method === 'POST' ? 201 : 200, stored];
  });
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const renew = (w: StatusWriter, s: number) => w.write('n1', 'lease', { renewTime: at(s), durationSeconds: 40 });
  try {
    const w = new StatusWriter(api.kc, () => undefined, undefined, undefined, { leaseCoalesceMs: leaseCoalesceWindowMs(40) });
    assert.deepEqual(await renew(w, 0), { ok: true }, 'first renewal: written (created)');
    assert.deepEqual(await renew(w, 10), { ok: true, coalesced: true }, '10 s < 15 s: held back');
    assert.equal(stored!.spec.renewTime, '2026-01-01T00:00:00.000000Z');
    assert.deepEqual(await renew(w, 20), { ok: true }, '20 s ≥ 15 s: written');
    assert.equal(stored!.spec.renewTime, '2026-01-01T00:00:20.000000Z');
    assert.deepEqual(await renew(w, 15), { ok: true }, 'a stale replay neither writes nor is held');
    assert.deepEqual(await renew(w, 30), { ok: true, coalesced: true });
    assert.equal(rv, 2, 'two writes for four renewals');
    // the session ends: the held renewal is written, so the grace runs from the last renewal received
    assert.deepEqual(await w.sessionEnded('n1'), { ok: true });
    assert.equal(stored!.spec.renewTime, '2026-01-01T00:00:30.000000Z');
    assert.deepEqual(await w.sessionEnded('n1'), { ok: true }, 'nothing held any more');
    assert.equal(rv, 3);
    // a different duration is news: written at once
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: at(35), durationSeconds: 60 }), { ok: true });
    assert.equal(stored!.spec.leaseDurationSeconds, 60);
    // a short grace (4 s: 1.5 s window) holds back only renewals closer than that
    const short = new StatusWriter(api.kc, () => undefined, undefined, undefined, { leaseCoalesceMs: leaseCoalesceWindowMs(4) });
    assert.deepEqual(await short.write('n1', 'lease', { renewTime: at(40), durationSeconds: 60 }), { ok: true }, 'no copy yet: written');
    assert.deepEqual(await short.write('n1', 'lease', { renewTime: at(41), durationSeconds: 60 }), { ok: true, coalesced: true });
    assert.deepEqual(await short.write('n1', 'lease', { renewTime: at(42), durationSeconds: 60 }), { ok: true }, '2 s ≥ 1.5 s: written');
  } finally {
    await api.close();
  }
});

test('lease conflict: a 409 re-reads and retries; a 403 is a permanent refusal, a 500 a transient one', async () => {
  let conflicts = 1;
  let mode: 'ok' | '403' | '500' = 'ok';
  const api = await stubApi((r) => {
    if (mode === '403') return [403, status(403, 'Forbidden')];
    if (mode === '500') return [500, status(500, 'InternalError')];
    if (r.method === 'GET') return [200, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease', resourceVersion: '7' }, spec: { renewTime: '2026-01-01T00:00:00.000000Z' } }];
    if (r.method === 'PUT' && conflicts-- > 0) return [409, status(409, 'Conflict')];
    return [200, r.body];
  });
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: '2026-01-01T00:00:30Z' }), { ok: true });
    assert.deepEqual(api.seen.map((s) => s.method), ['GET', 'PUT', 'GET', 'PUT']);
    mode = '403';
    const refused = await w.write('n2', 'lease', { renewTime: '2026-01-01T00:00:30Z' });
    assert.equal(refused.ok, false);
    assert.equal(refused.retry, false);
    assert.match(refused.reason!, /^403: Forbidden says the stub/);
    mode = '500';
    const transient = await w.write('n3', 'lease', { renewTime: '2026-01-01T00:00:30Z' });
    assert.equal(transient.retry, true);
  } finally {
    await api.close();
  }
});

test('node status: a node writes only its own Node; labels added, then status replaced on the read object', async () => {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: '3', labels: { cloud: 'x' }, managedFields: [{ manager: 'm' }] }, spec: { podCIDR: '10.0.0.0/24' } };
  const withManaged = (o: any) => ({ ...o, metadata: { ...o.metadata, managedFields: [{ manager: 'm' }] } });
  const api = await stubApi((r) => (r.method === 'GET' ? [200, node] : [200, withManaged(r.body)]));
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const refused = await w.write('n1', 'node', { metadata: { name: 'other' } });
    assert.equal(refused.ok, false);
    assert.match(refused.reason!, /forbidden/);
    assert.equal(api.seen.length, 0);
    const ok = await w.write('n1', 'node', { metadata: { name: 'n1', labels: { edge: 'yes' } }, status: { capacity: { cpu: '4' } } });
    assert.deepEqual(ok, { ok: true });
    // The status is checked (dry run) before the label write, so a refused status changes nothing.
    assert.deepEqual(api.seen.map((s) => `${s.method} ${s.url}`), ['GET /api/v1/nodes/n1', 'PUT /api/v1/nodes/n1/status?dryRun=All', 'PUT /api/v1/nodes/n1', 'PUT /api/v1/nodes/n1/status']);
    assert.ok(api.seen.every((r) => (r.body as any)?.metadata?.managedFields === undefined), 'managedFields are not sent back');
    const labelled = api.seen[2]!.body as typeof node;
    assert.deepEqual(labelled.metadata.labels, { cloud: 'x', edge: 'yes', 'node-role.kubernetes.io/edge': '' });
    const st = api.seen[3]!.body as { spec: unknown; status: unknown };
    assert.deepEqual(st.status, { capacity: { cpu: '4' } });
    assert.deepEqual(st.spec, { podCIDR: '10.0.0.0/24' }, 'cloud-set spec kept');
  } finally {
    await api.close();
  }
});

/** Found by test/fuzz/hub.fuzz.test.ts: a status the API refuses used to leave the labels it came with written. */
test('node status: a status the API refuses changes nothing (checked by a dry run before the label write)', async () => {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', uid: 'u1', resourceVersion: '3', labels: {} }, spec: {} };
  const invalid = [422, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: 'status.capacity.cpu: Invalid value' }] as const;
  const api = await stubApi((r) => {
    if (r.method === 'GET') return [200, node];
    if (r.url.startsWith('/api/v1/nodes/n1/status')) return [...invalid];
    return [200, r.body ?? {}];
  });
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const refused = await w.write('n1', 'node', { metadata: { name: 'n1', labels: { 'kubernetes.io/arch': 'arm64' } }, status: { capacity: { cpu: 'banana' } } });
    assert.equal(refused.ok, false);
    assert.equal(refused.retry, false);
    assert.deepEqual(api.seen.map((s) => `${s.method} ${s.url}`), ['GET /api/v1/nodes/n1', 'PUT /api/v1/nodes/n1/status?dryRun=All'], 'no label write');
  } finally {
    await api.close();
  }
});

test('node status: labels a node may not set are refused with upstream\'s text and nothing is written; the edge role stays', async () => {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: '3', labels: { 'node-role.kubernetes.io/edge': '', 'apps.openyurt.io/nodepool': 'p1' } }, spec: {} };
  const api = await stubApi((r) => (r.method === 'GET' ? [200, node] : [200, r.body]));
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    for (const [labels, key] of [
      [{ 'node-role.kubernetes.io/control-plane': '' }, 'node-role.kubernetes.io/control-plane'],
      [{ 'node-restriction.kubernetes.io/pci': 'yes' }, 'node-restriction.kubernetes.io/pci'],
      [{ 'apps.openyurt.io/nodepool': 'other' }, 'apps.openyurt.io/nodepool'],
      [{ 'node-role.kubernetes.io/edge': 'no' }, 'node-role.kubernetes.io/edge'],
    ] as const) {
      const r = await w.write('n1', 'node', { metadata: { name: 'n1', labels }, status: {} });
      assert.equal(r.ok, false);
      assert.equal(r.retry, false);
      assert.equal(r.reason, `forbidden: node "n1" is not allowed to modify labels: ${key}`);
    }
    assert.deepEqual(api.seen.map((s) => s.method), ['GET', 'GET', 'GET', 'GET'], 'nothing written');
    // A report without the cloud's labels removes none of them; kubelet labels are added.
    assert.deepEqual(await w.write('n1', 'node', { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } }, status: {} }), { ok: true });
    const put = api.seen.find((s) => s.method === 'PUT' && s.url === '/api/v1/nodes/n1')!.body as typeof node;
    assert.deepEqual(put.metadata.labels, { 'node-role.kubernetes.io/edge': '', 'apps.openyurt.io/nodepool': 'p1', 'topology.kubernetes.io/zone': 'z1' });
  } finally {
    await api.close();
  }
});

test('node status re-asserted: the conditions the node reported replace the lifecycle\'s Unknown; its heartbeat kept, the transition now, others\' conditions kept', async () => {
  const hb = '2026-01-01T00:00:00Z';
  let stored: Record<string, any> = {
    apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: '5', labels: { 'node-role.kubernetes.io/edge': '' } },
    status: { conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' }], capacity: { cpu: '2' } },
  };
  const api = await stubApi((r) => {
    if (r.url.includes('/leases')) return r.method === 'GET' ? [404, status(404, 'NotFound')] : [201, r.body];
    if (r.method === 'GET') return [200, stored];
    stored = r.body as Record<string, any>;
    return [200, stored];
  });
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const reported = { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: hb, lastTransitionTime: hb };
    assert.deepEqual(await w.write('n1', 'node', { metadata: { name: 'n1' }, status: { conditions: [reported], capacity: { cpu: '2' } } }), { ok: true });
    // the lifecycle marks it Unknown (the hub's cache shows the change while the node's session is live)
    const before = stored.status;
    stored = { ...stored, status: { ...stored.status, conditions: [{ ...reported, status: 'Unknown', reason: 'NodeStatusUnknown' }, { type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated' }] } };
    w.nodeReports.statusChanged('n1', before, stored.status, true);
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: new Date().toISOString() }), { ok: true }, 'the node renews: alive');
    for (let i = 0; i < 100 && stored.status.conditions[0].status !== 'True'; i++) await new Promise((r) => setTimeout(r, 10));
    const ready = stored.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, 'KubeletReady');
    assert.equal(ready.lastHeartbeatTime, hb, 'the node\'s heartbeat, not the hub\'s: the lifecycle\'s clock is not reset');
    assert.notEqual(ready.lastTransitionTime, hb, 'Unknown → True is a transition');
    assert.ok(stored.status.conditions.some((c: { type: string }) => c.type === 'NetworkUnavailable'), 'conditions others own are kept');
    assert.deepEqual(stored.status.capacity, { cpu: '2' });
    assert.equal(w.nodeReports.reasserted, 1);
  } finally {
    await api.close();
  }
});

test('node status: a node\'s first report (the Node as its join registered it) with a forbidden label is refused, nothing written', async () => {
  // The join registers the Node with the edge role only (join.ts); the node's own labels arrive with its first report.
  const registered = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', resourceVersion: '1', labels: { 'node-role.kubernetes.io/edge': '' } }, spec: {} };
  const api = await stubApi((r) => (r.method === 'GET' ? [200, registered] : [200, r.body]));
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const r = await w.write('n1', 'node', { metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1', 'node-role.kubernetes.io/master': '' } }, status: {} });
    assert.equal(r.ok, false);
    assert.match(r.reason!, /^forbidden: node "n1" .*node-role\.kubernetes\.io\/master/);
    assert.deepEqual(api.seen.map((s) => s.method), ['GET']);
  } finally {
    await api.close();
  }
});

test('pod status: the edge\'s report keeps conditions others set and Ready waits for the readiness gate', async () => {
  const pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u1', resourceVersion: '7' },
    spec: { nodeName: 'n1', readinessGates: [{ conditionType: 'example.com/lb' }] },
    status: { phase: 'Running', conditions: [{ type: 'example.com/lb', status: 'False' }, { type: 'DisruptionTarget', status: 'True' }] },
  };
  const api = await stubApi((r) => (r.method === 'GET' ? [200, pod] : [200, r.body]));
  try {
    const w = new StatusWriter(api.kc, () => pod as never);
    const reported = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] };
    assert.deepEqual(await w.write('n1', 'pod', { namespace: 'default', name: 'p', uid: 'u1', status: reported }), { ok: true });
    const written = (api.seen.find((s) => s.method === 'PUT')!.body as { status: { conditions: Array<{ type: string; status: string; reason?: string }> } }).status;
    const byType = Object.fromEntries(written.conditions.map((c) => [c.type, c]));
    assert.equal(byType['example.com/lb']!.status, 'False');
    assert.equal(byType.DisruptionTarget!.status, 'True');
    assert.equal(byType.Ready!.status, 'False');
    assert.equal(byType.Ready!.reason, 'ReadinessGatesNotReady');
    assert.equal(byType.ContainersReady!.status, 'True');
  } finally {
    await api.close();
  }
});

test('events: only about the node\'s own objects, in their namespaces; a repeat updates the Event only if it is the node\'s', async () => {
  const pods: Record<string, unknown> = {
    'default/mine': { metadata: { name: 'mine', namespace: 'default' }, spec: { nodeName: 'n1' } },
    'default/theirs': { metadata: { name: 'theirs', namespace: 'default' }, spec: { nodeName: 'n2' } },
  };
  const existing: Record<string, unknown> = {
    '/api/v1/namespaces/default/events/mine.1': { metadata: { name: 'mine.1', namespace: 'default', resourceVersion: '4' }, involvedObject: { kind: 'Pod', namespace: 'default', name: 'mine' }, source: { host: 'n1' }, count: 1 },
    '/api/v1/namespaces/default/events/theirs.1': { metadata: { name: 'theirs.1', namespace: 'default', resourceVersion: '5' }, involvedObject: { kind: 'Pod', namespace: 'default', name: 'theirs' }, source: { host: 'n2' }, count: 1 },
  };
  const api = await stubApi((r) => {
    if (r.method === 'POST') {
      const name = (r.body as { metadata: { name: string } }).metadata.name;
      return existing[`${r.url}/${name}`] ? [409, status(409, 'AlreadyExists')] : [201, r.body];
    }
    if (r.method === 'GET') return existing[r.url] ? [200, existing[r.url]] : [404, status(404, 'NotFound')];
    return [200, r.body];
  });
  try {
    const w = new StatusWriter(api.kc, (ns, name) => pods[`${ns}/${name}`] as never);
    const e = (name: string, ns: string, io: Record<string, string>, count = 1) => ({ metadata: { name, namespace: ns }, involvedObject: io, reason: 'R', message: 'm', count });
    const refusedWith = async (body: unknown, re: RegExp) => {
      const r = await w.write('n1', 'event', body as Record<string, unknown>);
      assert.equal(r.ok, false);
      assert.match(r.reason!, re);
    };
    await refusedWith(e('x', 'kube-system', { kind: 'Pod', namespace: 'default', name: 'mine' }), /in the pod's namespace/);
    await refusedWith(e('x', 'default', { kind: 'Pod', namespace: 'default', name: 'theirs' }), /spec.nodeName set to itself/);
    await refusedWith(e('x', 'kube-system', { kind: 'Node', name: 'n1' }), /namespace "default"/);
    assert.equal(api.seen.length, 0, 'refused before any request');
    // A name chosen to collide with another node's Event: the repeat path does not touch it.
    await refusedWith(e('theirs.1', 'default', { kind: 'Pod', namespace: 'default', name: 'mine' }, 2), /may not update event default\/theirs.1/);
    assert.ok(!api.seen.some((s) => s.method === 'PUT'));
    assert.deepEqual(await w.write('n1', 'event', e('mine.1', 'default', { kind: 'Pod', namespace: 'default', name: 'mine' }, 3)), { ok: true });
    assert.equal((api.seen.find((s) => s.method === 'PUT')!.body as { count: number }).count, 3);
    assert.deepEqual(await w.write('n1', 'event', e('n1.1', '', { kind: 'Node', name: 'n1' })), { ok: true });
    assert.equal(api.seen.at(-1)!.url, '/api/v1/namespaces/default/events');
  } finally {
    await api.close();
  }
});

test('node status: a report for a Node that does not exist (deleted meanwhile) is refused, never creates it', async () => {
  const api = await stubApi((r) => (r.method === 'GET' ? [404, status(404, 'NotFound')] : [201, r.body]));
  try {
    const w = new StatusWriter(api.kc, () => undefined);
    const r = await w.write('n1', 'node', { metadata: { name: 'n1', labels: { edge: 'yes' } }, status: { capacity: { cpu: '4' } } });
    assert.equal(r.ok, false);
    assert.equal(r.retry, false, 'not retried: the edge drops it');
    assert.match(r.reason!, /does not exist/);
    assert.deepEqual(api.seen.map((s) => `${s.method} ${s.url}`), ['GET /api/v1/nodes/n1'], 'no POST: a status report does not register a node');
  } finally {
    await api.close();
  }
});

test('KubeClient over TLS: client certificate from the kubeconfig; a burst of 100 requests shares a bounded set of connections', async () => {
  const { createCertificateAuthority, issueServerCertificate, issueClientCertificate } = await import('../pki/index.js');
  const https = await import('node:https');
  const ca = await createCertificateAuthority('test-ca');
  const srv = await issueServerCertificate(ca, 'api', ['127.0.0.1']);
  const client = await issueClientCertificate(ca, 'system:kedge-hub', ['system:masters']);
  let connections = 0;
  const subjects = new Set<string>();
  const server = https.createServer({ cert: srv.certPem, key: srv.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    subjects.add(String((req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN));
    // answer a little later, so the burst really is concurrent
    setTimeout(() => res.end(JSON.stringify({ ok: req.url })), 5);
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const api = KubeClient.fromConfig({ server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caCertPem: ca.certPem, clientCertPem: client.certPem, clientKeyPem: client.keyPem });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => api.request<{ ok: string }>('GET', `/r/${i}`)));
    assert.deepEqual(answers.map((a) => a.ok), Array.from({ length: 100 }, (_, i) => `/r/${i}`));
    assert.deepEqual([...subjects], ['system:kedge-hub']);
    assert.ok(connections <= 32, `${connections} connections for 100 concurrent requests`);
    const before = connections;
    await Promise.all(Array.from({ length: 20 }, (_, i) => api.request('GET', `/again/${i}`)));
    assert.equal(connections, before, 'kept-alive connections are reused');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('node status: a node may write its own peer-health annotation (when it parses), no other annotation', () => {
  const value = JSON.stringify({ b: { reachable: false, since: '2026-12-07T08:00:00Z' }, a: { reachable: true, since: '2026-12-07T08:00:00Z' } });
  const next = annotationsAfterReport({ 'cloud/x': '1' }, { 'kedge.io/peer-health': value, 'cloud/x': 'hijack', other: 'y' });
  assert.deepEqual(next, { 'cloud/x': '1', 'kedge.io/peer-health': '{"a":{"reachable":true,"since":"2026-12-07T08:00:00Z"},"b":{"reachable":false,"since":"2026-12-07T08:00:00Z"}}' });
  assert.equal(annotationsAfterReport(next, { 'kedge.io/peer-health': next!['kedge.io/peer-health']! }), undefined, 'unchanged: no write');
  assert.equal(annotationsAfterReport({}, { 'kedge.io/peer-health': 'nope' }), undefined, 'malformed: ignored');
  assert.equal(annotationsAfterReport({}, { other: 'y' }), undefined, 'other annotations: ignored');
  assert.deepEqual(annotationsAfterReport(next, {}), { 'cloud/x': '1' }, 'a report without it removes a stale one');
  assert.equal(annotationsAfterReport({}, { 'kedge.io/peer-health': JSON.stringify({ ['x'.repeat(70_000)]: { reachable: true, since: 's' } }) }), undefined, 'oversized: ignored');
  // The local-path directory: kept when absolute and normal, a bad one ignored, dropped when no longer reported.
  assert.deepEqual(annotationsAfterReport({}, { 'kedge.io/local-storage-path': '/srv/edge/storage' }), { 'kedge.io/local-storage-path': '/srv/edge/storage' });
  assert.equal(annotationsAfterReport({}, { 'kedge.io/local-storage-path': '/srv/../etc' }), undefined, 'not normal: ignored');
  assert.equal(annotationsAfterReport({}, { 'kedge.io/local-storage-path': 'relative' }), undefined, 'relative: ignored');
  assert.deepEqual(annotationsAfterReport({ 'kedge.io/local-storage-path': '/a/storage', x: '1' }, {}), { x: '1' });
});
