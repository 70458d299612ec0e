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

/** One HTTPS request with the admin's credentials (or none), for protocol-level error cases. */
async function raw(method: string, urlPath: string, headers: Record<string, string>, body?: string | Buffer, anonymous = false): Promise<{ code: number; json: any; headers: import('node:http').IncomingHttpHeaders }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const https = await import('node:https');
  const opts: import('node:https').RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: server.hostname, port: server.port, path: urlPath, method, headers,
      ca: opts.ca, ...(anonymous ? {} : { cert: opts.cert, key: opts.key }),
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => { try { resolve({ code: res.statusCode!, json: JSON.parse(text), headers: res.headers }); } catch { resolve({ code: res.statusCode!, json: text, headers: res.headers }); } });
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('protocol errors: 403 anonymous, 415 content type, 400 malformed JSON, 413 too large, 406 protobuf-only — nothing stored', async () => {
  const cms = `/api/v1/namespaces/${ns}/configmaps`;
  const anon = await raw('GET', cms, {}, undefined, true);
  assert.equal(anon.code, 403);
  assert.equal(anon.json.reason, 'Forbidden');
  assert.match(anon.json.message, /User "system:anonymous" cannot list resource "configmaps"/);
  const media = await raw('POST', cms, { 'content-type': 'text/plain' }, '{"metadata":{"name":"t1"}}');
  assert.equal(media.code, 415);
  assert.equal(media.json.reason, 'UnsupportedMediaType');
  const malformed = await raw('POST', cms, { 'content-type': 'application/json' }, '{"metadata":{"name":"t2"');
  assert.equal(malformed.code, 400);
  assert.equal(malformed.json.reason, 'BadRequest');
  const yaml = await raw('POST', cms, { 'content-type': 'application/yaml' }, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t3\ndata:\n  k: v\n');
  assert.equal(yaml.code, 201);
  const big = await raw('POST', cms, { 'content-type': 'application/json' }, JSON.stringify({ metadata: { name: 't4' }, data: { b: 'x'.repeat(3 * 1024 * 1024) } }));
  assert.equal(big.code, 413);
  assert.equal(big.json.reason, 'RequestEntityTooLarge');
  const proto = await raw('GET', cms, { accept: 'application/vnd.kubernetes.protobuf' });
  assert.equal(proto.code, 406);
  const table = await raw('GET', cms, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
  assert.equal(table.json.kind, 'Table');
  assert.equal(table.json.columnDefinitions[0].name, 'Name');
  const names = (await core.listNamespacedConfigMap({ namespace: ns })).items.map((i) => i.metadata?.name);
  assert.ok(names.includes('t3'));
  for (const n of ['t1', 't2', 't4']) assert.ok(!names.includes(n), `${n} must not be stored`);
  const metrics = await raw('GET', '/metrics', {});
  assert.equal(metrics.code, 200);
  assert.match(metrics.json, /apiserver_request_total\{verb="create",resource="configmaps",code="415"\} 1/);
  assert.match(metrics.json, /apiserver_storage_objects\{resource="configmaps"\} \d+/);
  assert.match(metrics.json, /process_resident_memory_bytes \d+/);
});

test('fieldValidation: Warn (default) warns and drops unknown fields, Strict refuses with upstream wording, duplicates too', async () => {
  const cms = `/api/v1/namespaces/${ns}/configmaps`;
  const warned = await raw('POST', cms, { 'content-type': 'application/json' }, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fv-warn' }, foo: 1, data: { a: 'b' } }));
  assert.equal(warned.code, 201);
  assert.match(String(warned.headers.warning), /299 - "unknown field \\"foo\\""/);
  assert.equal(warned.json.foo, undefined);
  assert.equal((await core.readNamespacedConfigMap({ namespace: ns, name: 'fv-warn' })).data?.a, 'b');
  const strict = await raw('POST', `${cms}?fieldValidation=Strict`, { 'content-type': 'application/json' }, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fv-strict' }, foo: 1 }));
  assert.equal(strict.code, 400);
  assert.equal(strict.json.message, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "foo"');
  const dup = await raw('POST', `${cms}?fieldValidation=Strict`, { 'content-type': 'application/json' }, '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fv-dup","name":"fv-dup2"}}');
  assert.equal(dup.code, 400);
  assert.match(dup.json.message, /duplicate field "metadata.name"/);
  const bad = await raw('POST', `${cms}?fieldValidation=Loud`, { 'content-type': 'application/json' }, '{"metadata":{"name":"fv-bad"}}');
  assert.equal(bad.code, 422);
  await assert.rejects(core.readNamespacedConfigMap({ namespace: ns, name: 'fv-strict' }));
});
