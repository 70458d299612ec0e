import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubernetesObject } from '@kubernetes/client-node';
import { LeanInformer, withoutManagedFields } from './lean-informer.js';
import { KubeClient, type KubeApiError } from './kube-client.js';

const pod = (name: string, rv: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv, labels: { app: 'x' }, managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }] },
  spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'img' }] },
});

test('withoutManagedFields drops only metadata.managedFields', () => {
  const o = withoutManagedFields(pod('a', '5') as KubernetesObject);
  assert.deepEqual(o.metadata, { name: 'a', namespace: 'ns', uid: 'uid-a', resourceVersion: '5', labels: { app: 'x' } });
  assert.deepEqual((o as ReturnType<typeof pod>).spec, pod('a', '5').spec);
  const bare = { metadata: { name: 'b' } };
  assert.equal(withoutManagedFields(bare), bare);
});

test('a lean informer caches listed and watched objects without managedFields', async () => {
  // A stand-in API answering the list and then the watch.
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (!/watch=true/.test(req.url ?? '')) {
      assert.equal(req.url, '/api/v1/pods');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '10' }, items: [pod('a', '10')] }));
      return;
    }
    assert.match(req.url ?? '', /^\/api\/v1\/pods\?.*resourceVersion=10/);
    res.write(`${JSON.stringify({ type: 'ADDED', object: pod('b', '11') })}\n`);
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...pod('a', '12'), metadata: { ...pod('a', '12').metadata, labels: { app: 'y' } } } })}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = KubeClient.fromConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const inf = new LeanInformer(client, '/api/v1/pods');
  const seen: KubernetesObject[] = [];
  inf.on('add', (o) => seen.push(o));
  inf.on('update', (o) => seen.push(o));
  try {
    await inf.start();
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`), ['a@10', 'b@11', 'a@12']);
    for (const o of [...seen, ...inf.list()]) assert.equal((o.metadata as { managedFields?: unknown }).managedFields, undefined, `${o.metadata?.name} keeps no managedFields`);
    assert.deepEqual(inf.get('a', 'ns')?.metadata?.labels, { app: 'y' });
    assert.equal(inf.list().length, 2);
    assert.equal(inf.list('ns').length, 2);
    assert.equal(inf.list('other').length, 0);
  } finally {
    await inf.stop();
    client.close();
    server.closeAllConnections();
    server.close();
  }
});

test('a relist after 410 Gone deletes what vanished, updates what changed, keeps what did not; other failures emit error', async () => {
  let lists = 0;
  let watches = 0;
  const server = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    if (!/watch=true/.test(req.url ?? '')) {
      lists++;
      const items = lists === 1 ? [pod('a', '10'), pod('b', '10')] : [pod('a', '10'), pod('c', '20')];
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(lists * 10) }, items }));
      return;
    }
    watches++;
    if (watches === 1) {
      res.writeHead(410);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' }));
      return;
    }
    res.writeHead(500);
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'InternalError', code: 500, message: 'boom' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = KubeClient.fromConfig({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const inf = new LeanInformer(client, '/api/v1/pods');
  const events: string[] = [];
  inf.on('add', (o) => events.push(`add ${o.metadata?.name}`));
  inf.on('update', (o) => events.push(`update ${o.metadata?.name}`));
  inf.on('delete', (o) => events.push(`delete ${o.metadata?.name}`));
  const errors: unknown[] = [];
  inf.on('error', (e) => errors.push(e));
  try {
    await inf.start();
    for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ['add a', 'add b', 'delete b', 'add c']);
    assert.equal(lists, 2, 'one relist after 410');
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as KubeApiError).code, 500);
    assert.deepEqual(inf.list().map((o) => o.metadata?.name).sort(), ['a', 'c']);
  } finally {
    await inf.stop();
    client.close();
    server.closeAllConnections();
    server.close();
  }
});
