import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { leanInformer, withoutManagedFields } from './lean-informer.js';

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
  // A stand-in API answering the informer's watch (the list comes from the lister below).
  const server = http.createServer((req, res) => {
    assert.match(req.url ?? '', /^\/api\/v1\/pods\?.*watch=true/);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'ADDED', object: pod('b', '11') })}\n`);
    res.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...pod('a', '12'), metadata: { ...pod('a', '12').metadata, labels: { app: 'y' } } } })}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const inf = leanInformer(kc, '/api/v1/pods', async () => ({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '10' }, items: [pod('a', '10')] }));
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
  } finally {
    await inf.stop();
    server.closeAllConnections();
    server.close();
  }
});
