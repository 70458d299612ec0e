/**
 * @kubernetes/client-node against the real `kedge server`: typed list/create, watch, an informer that keeps its
 * cache right across server-ended watches (re-watch/relist), and the patch flavours.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { Harness } from '../harness/processes.js';
import path from 'node:path';
import { eventually } from './kubectl-env.js';

const h = new Harness('client-node');
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const ns = 'cn-test';

before(async () => {
  const dir = h.tempDir('data');
  // Watches end after 2–4 s, so the informer test exercises client-node's re-watch path for real.
  await h.startKedge('kedge-server', ['server', '--data-dir', dir, '--secure-port', '0', '--hub-port', '-1', '--min-request-timeout', '2', '--disable-controllers'], {
    ready: { logLine: /kedge server ready/, timeoutMs: 60_000 },
  });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(path.join(dir, 'admin.kubeconfig'));
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});
after(() => h.cleanup());

test('typed list, create, read and the NotFound error', async () => {
  for (const n of ['a', 'b', 'c']) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${n}`, labels: { set: 'abc' } }, data: { n } } });
  const list = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'set=abc' });
  assert.deepEqual(list.items.map((i) => i.metadata?.name), ['cm-a', 'cm-b', 'cm-c']);
  assert.ok(Number(list.metadata?.resourceVersion) > 0);
  const limited = await core.listNamespacedConfigMap({ namespace: ns, limit: 2 });
  assert.equal(limited.items.length, 2);
  const rest = await core.listNamespacedConfigMap({ namespace: ns, limit: 2, _continue: limited.metadata?._continue });
  assert.ok(rest.items.map((i) => i.metadata?.name).includes('cm-c'));
  await assert.rejects(core.readNamespacedConfigMap({ namespace: ns, name: 'missing' }), (err: unknown) => {
    const e = err as { code?: number; body?: string };
    assert.equal(e.code, 404);
    assert.equal(JSON.parse(e.body ?? '{}').message, 'configmaps "missing" not found');
    return true;
  });
});

test('watch delivers ADDED, MODIFIED, DELETED in order', async () => {
  const seen: string[] = [];
  const watch = new k8s.Watch(kc);
  const start = await core.listNamespacedSecret({ namespace: ns });
  const req = await watch.watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: start.metadata?.resourceVersion, timeoutSeconds: 30 },
    (type, obj: k8s.V1Secret) => { if (obj.metadata?.name === 'w') seen.push(type); }, () => {});
  try {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'w' }, stringData: { k: 'v' } } });
    await core.patchNamespacedSecret({ namespace: ns, name: 'w', body: { metadata: { labels: { x: 'y' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await core.deleteNamespacedSecret({ namespace: ns, name: 'w' });
    await eventually('three events', async () => seen.length >= 3);
    assert.deepEqual(seen, ['ADDED', 'MODIFIED', 'DELETED']);
  } finally {
    req.abort();
  }
});

test('informer keeps an exact cache across server-ended watches', async () => {
  const path_ = `/api/v1/namespaces/${ns}/configmaps`;
  const informer = k8s.makeInformer(kc, path_, () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'inf=yes' }), 'inf=yes');
  const events: string[] = [];
  informer.on('add', (o) => events.push(`add:${o.metadata?.name}`));
  informer.on('update', (o) => events.push(`update:${o.metadata?.name}:${o.data?.v}`));
  informer.on('delete', (o) => events.push(`delete:${o.metadata?.name}`));
  const errors: unknown[] = [];
  informer.on('error', (err) => errors.push(err));
  await informer.start();
  try {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'inf-1', labels: { inf: 'yes' } }, data: { v: '1' } } });
    await eventually('add', async () => events.includes('add:inf-1'));
    // Outlive several watch lifetimes (2–4 s each): the informer must re-watch and still see every change.
    await new Promise((r) => setTimeout(r, 5000));
    await core.replaceNamespacedConfigMap({ namespace: ns, name: 'inf-1', body: { metadata: { name: 'inf-1', labels: { inf: 'yes' } }, data: { v: '2' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'inf-2', labels: { inf: 'yes' } }, data: { v: '1' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'other', labels: { inf: 'no' } } } });
    await new Promise((r) => setTimeout(r, 4000));
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'inf-2' });
    await eventually('update and delete', async () => events.includes('update:inf-1:2') && events.includes('delete:inf-2'));
    assert.deepEqual(informer.list(ns).map((o) => o.metadata?.name).sort(), ['inf-1']);
    assert.equal(informer.get('inf-1', ns)?.data?.v, '2');
    assert.ok(!events.some((e) => e.includes('other')), `selector leaked: ${events}`);
    assert.deepEqual(errors, [], 'a server-ended watch is a normal re-watch, not an error');
  } finally {
    await informer.stop();
  }
});

test('patch: merge, JSON, strategic merge and server-side apply', async () => {
  await apps.createNamespacedDeployment({ namespace: ns, body: {
    metadata: { name: 'd' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'nginx:1', ports: [{ containerPort: 80 }] }, { name: 's', image: 'busybox' }] } } },
  } });
  const opts = (t: string) => k8s.setHeaderOptions('Content-Type', t);
  await apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: { spec: { replicas: 2 } } }, opts(k8s.PatchStrategy.MergePatch));
  await apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: [{ op: 'add', path: '/metadata/labels', value: { patched: 'json' } }] }, opts(k8s.PatchStrategy.JsonPatch));
  await apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: { spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:2' }] } } } } }, opts(k8s.PatchStrategy.StrategicMergePatch));
  const d = await apps.readNamespacedDeployment({ namespace: ns, name: 'd' });
  assert.equal(d.spec?.replicas, 2);
  assert.equal(d.metadata?.labels?.patched, 'json');
  assert.deepEqual(d.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`), ['c=nginx:2', 's=busybox'], 'strategic merge merges containers by name');
  assert.equal(d.metadata?.generation, 3);
  const applied = await apps.patchNamespacedDeployment({
    namespace: ns, name: 'd', fieldManager: 'test-apply', force: true,
    body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 4 } },
  }, opts(k8s.PatchStrategy.ServerSideApply));
  assert.equal(applied.spec?.replicas, 4);
  await assert.rejects(apps.patchNamespacedDeployment({ namespace: ns, name: 'd', body: [{ op: 'test', path: '/spec/replicas', value: 99 }] }, opts(k8s.PatchStrategy.JsonPatch)),
    (err: unknown) => { assert.equal((err as { code?: number }).code, 422); return true; });
});

test('deletecollection with a label selector deletes exactly the selection', async () => {
  for (const n of ['x1', 'x2', 'y1']) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `dc-${n}`, labels: { grp: n[0]! } } } });
  await core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: 'grp=x' });
  const left = await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'grp' });
  assert.deepEqual(left.items.map((i) => i.metadata?.name), ['dc-y1']);
});
