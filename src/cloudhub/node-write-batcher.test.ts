import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient, KubeApiError } from '../common/kube-client.js';
import type { NodeWriteBatch, NodeWriteBatchResult } from '../common/node-writes.js';
import { NodeWriteBatcher } from './node-write-batcher.js';
import { StatusWriter } from './status-writer.js';

/** A stub API answering node-write batches with `answer` (per batch); other requests from `other`. */
async function stubApi(answer: (b: NodeWriteBatch) => [number, unknown], other: (method: string, url: string, body: any) => [number, unknown] = () => [404, {}]) {
  const batches: NodeWriteBatch[] = [];
  const others: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      let code: number;
      let out: unknown;
      if (req.method === 'POST' && req.url === '/apis/kedge.io/v1alpha1/nodewrites') {
        batches.push(body as NodeWriteBatch);
        [code, out] = answer(body as NodeWriteBatch);
      } else {
        others.push(`${req.method} ${req.url}`);
        [code, out] = other(req.method!, req.url!, body);
      }
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = KubeClient.fromConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't' });
  return { kc, batches, others, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const result = (results: NodeWriteBatchResult['results']): NodeWriteBatchResult => ({ apiVersion: 'kedge.io/v1alpha1', kind: 'NodeWriteBatchResult', results });

test('node-write batcher: PUTs issued together go in one batch (split at the cap), each answered with its own resourceVersion or its own error code', async () => {
  let rv = 100;
  const api = await stubApi((b) => [200, result(b.items.map((it) => (it.node === 'bad' ? { code: 409, status: { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' } } : { code: 200, resourceVersion: String(++rv) })))]);
  try {
    const batcher = new NodeWriteBatcher(api.kc, { maxBatch: 3, windowMs: 0 });
    const puts = ['a', 'b', 'bad', 'c', 'd'].map((n) => batcher.put(n, `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n}`, { metadata: { name: n } }).then((v) => v, (e: unknown) => e));
    const out = await Promise.all(puts);
    assert.equal(api.batches.length, 2, 'five PUTs, a cap of 3: two batches');
    assert.deepEqual(api.batches.map((b) => b.items.map((i) => i.node)), [['a', 'b', 'bad'], ['c', 'd']]);
    assert.equal(api.batches[0]!.kind, 'NodeWriteBatch');
    assert.deepEqual(out.filter((o) => typeof o === 'string'), ['101', '102', '103', '104']);
    const err = out[2];
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.code, 409);
    assert.match(err.message, /the object has been modified/);
  } finally {
    await api.close();
  }
});

test('node-write batcher: a refused or malformed batch answer fails every item of it with that code; the next batch is sent anew', async () => {
  let call = 0;
  const api = await stubApi((b) => (++call === 1 ? [429, { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'Too many requests' }] : call === 2 ? [200, result([])] : [200, result(b.items.map(() => ({ code: 200, resourceVersion: '7' })))]));
  try {
    const batcher = new NodeWriteBatcher(api.kc);
    const first = await Promise.all(['a', 'b'].map((n) => batcher.put(n, `/api/v1/nodes/${n}/status`, {}).catch((e: unknown) => e)));
    assert.ok(first.every((e) => e instanceof KubeApiError && e.code === 429));
    const second = await batcher.put('a', '/api/v1/nodes/a/status', {}).catch((e: unknown) => e);
    assert.match(String(second), /1 items sent, 0 results answered/);
    assert.equal(await batcher.put('a', '/api/v1/nodes/a/status', {}), '7');
  } finally {
    await api.close();
  }
});

test('status writer with batchNodeWrites: renewals go in batches as their node, the next one replaces the Lease with the resourceVersion the batch answered; a conflict re-reads and retries', async () => {
  let stored: any = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease', resourceVersion: '5' }, spec: { holderIdentity: 'n1', leaseDurationSeconds: 40 } };
  let conflictOnce = false;
  const api = await stubApi((b) => [200, result(b.items.map((it) => {
    const sent = it.object as any;
    if (conflictOnce || sent.metadata.resourceVersion !== stored.metadata.resourceVersion) {
      conflictOnce = false;
      return { code: 409, status: { kind: 'Status', code: 409, reason: 'Conflict', message: 'modified' } };
    }
    stored = { ...sent, metadata: { ...sent.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) } };
    return { code: 200, resourceVersion: stored.metadata.resourceVersion };
  }))], (method) => (method === 'GET' ? [200, stored] : [500, {}]));
  try {
    const w = new StatusWriter(api.kc, () => undefined, undefined, undefined, { batchNodeWrites: true });
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: '2026-12-07T12:00:00.000Z', durationSeconds: 40 }), { ok: true });
    assert.deepEqual(api.others, ['GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1'], 'the first renewal reads the Lease once');
    assert.equal(api.batches[0]!.items[0]!.node, 'n1');
    assert.equal(api.batches[0]!.items[0]!.path, '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1');
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: '2026-12-07T12:00:10.000Z', durationSeconds: 40 }), { ok: true });
    assert.equal(api.others.length, 1, 'no GET: replaced from the copy sent, with the answered resourceVersion');
    assert.equal((api.batches[1]!.items[0]!.object as any).metadata.resourceVersion, '6');
    assert.equal(stored.spec.renewTime, '2026-12-07T12:00:10.000000Z');
    conflictOnce = true;
    assert.deepEqual(await w.write('n1', 'lease', { renewTime: '2026-12-07T12:00:20.000Z', durationSeconds: 40 }), { ok: true });
    assert.equal(api.others.length, 2, 'a conflict drops the copy: re-read');
    assert.equal(stored.spec.renewTime, '2026-12-07T12:00:20.000000Z');
  } finally {
    await api.close();
  }
});
