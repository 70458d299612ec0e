import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { openSqliteStore } from '../../storage/sqlite.js';
import { ensureServerPki } from '../../pki/index.js';
import { createLogger } from '../../common/logger.js';
import { renderResourceMetrics, type ResourceSample } from '../../common/resource-metrics.js';
import type { KubeObject } from '../../apimachinery/object.js';
import { createApiServer, type ApiServer } from '../server.js';
import { installResourceMetrics } from './index.js';

let dir: string;
let api: ApiServer;
let plain: http.Server;
let base: string;
let closeStore: () => Promise<void>;
let metrics: ReturnType<typeof installResourceMetrics>;
/** What each node answers; a missing entry = the node is unreachable. */
const answers = new Map<string, ResourceSample>();

const T0 = Date.now() - 60_000;
function sampleAt(ms: number, cpu: number): ResourceSample {
  return {
    node: { cpuSeconds: cpu, cpuTimestampMs: ms, memoryWorkingSetBytes: 512 * 1024 * 1024, memoryTimestampMs: ms },
    pods: [],
    containers: [
      { namespace: 'default', pod: 'web', container: 'app', cpuSeconds: cpu / 2, cpuTimestampMs: ms, memoryWorkingSetBytes: 10 * 1024 * 1024, memoryTimestampMs: ms, startTimeSeconds: T0 / 1000 - 100 },
      { namespace: 'default', pod: 'web', container: 'side', cpuSeconds: cpu / 10, cpuTimestampMs: ms, memoryWorkingSetBytes: 1024 * 1024, memoryTimestampMs: ms, startTimeSeconds: T0 / 1000 - 100 },
      { namespace: 'other', pod: 'db', container: 'db', cpuSeconds: cpu / 4, cpuTimestampMs: ms, memoryWorkingSetBytes: 20 * 1024 * 1024, memoryTimestampMs: ms, startTimeSeconds: T0 / 1000 - 100 },
      { namespace: 'default', pod: 'gone', container: 'c', cpuSeconds: 1, cpuTimestampMs: ms, memoryWorkingSetBytes: 1, memoryTimestampMs: ms, startTimeSeconds: T0 / 1000 - 100 },
    ],
    scrapeError: false,
  };
}

async function call(p: string, token = 'admin', accept?: string): Promise<{ code: number; body: any }> {
  const res = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) } });
  return { code: res.status, body: await res.json() };
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-metrics-api-'));
  const store = await openSqliteStore(path.join(dir, 'state.db'));
  closeStore = () => store.close();
  const pki = await ensureServerPki(dir, { hosts: ['127.0.0.1'] });
  writeFileSync(path.join(dir, 'tokens.csv'), 'admin,admin,1,system:masters\nviewer,viewer,2\nnobody,nobody,3\nalice,alice,4\n');
  api = await createApiServer({ store, tls: { cert: pki.serverCertPem, key: pki.serverKeyPem, ca: pki.caCertPem }, port: 0, tokenAuthFile: path.join(dir, 'tokens.csv'), logger: createLogger('test', 'warn') });
  plain = http.createServer();
  api.serve(plain);
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  const ctx = api.systemContext();
  const def = (g: string, v: string, r: string) => api.registry.get(g, v, r)!;
  for (const [name, zone] of [['n1', 'a'], ['n2', 'b'], ['n-off', 'a']]) await api.objects.create(def('', 'v1', 'nodes'), { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { zone: zone! } } } as KubeObject, ctx);
  await api.objects.create(def('', 'v1', 'namespaces'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } } as KubeObject, ctx);
  const pod = (ns: string, name: string, app: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } }) as unknown as KubeObject;
  await api.objects.create(def('', 'v1', 'pods'), pod('default', 'web', 'web'), api.systemContext('default'));
  await api.objects.create(def('', 'v1', 'pods'), pod('other', 'db', 'db'), api.systemContext('other'));
  await api.objects.create(def('rbac.authorization.k8s.io', 'v1', 'rolebindings'), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'viewer', namespace: 'default' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'User', name: 'viewer', apiGroup: 'rbac.authorization.k8s.io' }],
  } as unknown as KubeObject, api.systemContext('default'));
  metrics = installResourceMetrics(api, {
    autoStart: false, log: createLogger('test', 'silent'),
    fetch: async (node) => {
      const s = answers.get(node);
      if (!s) throw new Error(`node "${node}" is not connected`);
      return renderResourceMetrics(s);
    },
  });
  answers.set('n1', sampleAt(T0, 100));
  answers.set('n2', { ...sampleAt(T0, 50), containers: [] });
  await metrics.scraper.scrapeOnce();
  answers.set('n1', sampleAt(T0 + 15_000, 130));
  answers.set('n2', { ...sampleAt(T0 + 15_000, 53), containers: [] });
  await metrics.scraper.scrapeOnce();
});

after(async () => {
  await metrics?.stop();
  plain?.close();
  await api?.close();
  await closeStore?.();
  rmSync(dir, { recursive: true, force: true });
});

test('discovery lists metrics.k8s.io/v1beta1 with nodes and pods (get, list), also in aggregated discovery', async () => {
  const list = await call('/apis/metrics.k8s.io/v1beta1');
  assert.deepEqual(list.body.resources.map((r: { name: string; kind: string; namespaced: boolean; verbs: string[] }) => [r.name, r.kind, r.namespaced, r.verbs]), [
    ['nodes', 'NodeMetrics', false, ['get', 'list']],
    ['pods', 'PodMetrics', true, ['get', 'list']],
  ]);
  const agg = await call('/apis', 'admin', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  assert.ok(agg.body.items.some((g: { metadata: { name: string } }) => g.metadata.name === 'metrics.k8s.io'));
});

test('NodeMetrics: usage from two scrapes in nanocores and bytes, node labels, window; an unreachable node is absent', async () => {
  const { code, body } = await call('/apis/metrics.k8s.io/v1beta1/nodes');
  assert.equal(code, 200);
  assert.equal(body.kind, 'NodeMetricsList');
  assert.deepEqual(body.items.map((n: { metadata: { name: string } }) => n.metadata.name), ['n1', 'n2']);
  const n1 = body.items[0];
  assert.deepEqual(n1.usage, { cpu: '2', memory: '512Mi' }, '30 cpu-seconds over 15 s = 2 cores');
  assert.equal(body.items[1].usage.cpu, '200m');
  assert.equal(n1.window, '15s');
  assert.equal(n1.timestamp, new Date(T0 + 15_000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
  assert.deepEqual(n1.metadata.labels, { zone: 'a' });
  const byLabel = await call('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db');
  assert.deepEqual(byLabel.body.items.map((n: { metadata: { name: string } }) => n.metadata.name), ['n2']);
  const off = await call('/apis/metrics.k8s.io/v1beta1/nodes/n-off');
  assert.equal(off.code, 404);
  assert.equal(off.body.message, 'nodemetrics.metrics.k8s.io "n-off" not found');
});

test('PodMetrics: per container usage, namespaces, label selectors, get; pods deleted from the API are not served', async () => {
  const all = await call('/apis/metrics.k8s.io/v1beta1/pods');
  assert.deepEqual(all.body.items.map((p: { metadata: { namespace: string; name: string } }) => `${p.metadata.namespace}/${p.metadata.name}`), ['default/web', 'other/db']);
  const web = await call('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web');
  assert.equal(web.code, 200);
  assert.deepEqual(web.body.containers, [
    { name: 'app', usage: { cpu: '1', memory: '10Mi' } },
    { name: 'side', usage: { cpu: '200m', memory: '1Mi' } },
  ]);
  assert.deepEqual(web.body.metadata.labels, { app: 'web' });
  const sel = await call('/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Ddb');
  assert.deepEqual(sel.body.items.map((p: { metadata: { name: string } }) => p.metadata.name), ['db']);
  const ns = await call('/apis/metrics.k8s.io/v1beta1/namespaces/other/pods');
  assert.deepEqual(ns.body.items.map((p: { metadata: { name: string } }) => p.metadata.name), ['db']);
  const missing = await call('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/gone');
  assert.equal(missing.code, 404);
  assert.equal(missing.body.message, 'podmetrics.metrics.k8s.io "default/gone" not found');
});

test('tables: NAME CPU MEMORY WINDOW, pod rows summing their containers', async () => {
  const t = await call('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods', 'admin', 'application/json;as=Table;v=v1;g=meta.k8s.io');
  assert.equal(t.body.kind, 'Table');
  assert.deepEqual(t.body.columnDefinitions.map((c: { name: string }) => c.name), ['Name', 'CPU', 'Memory', 'Window']);
  assert.deepEqual(t.body.rows[0].cells, ['web', '1200m', '11Mi', '15s']);
});

test('RBAC as upstream: view (through system:aggregated-metrics-reader) reads pod metrics in its namespace only; others are Forbidden; watch is not served', async () => {
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/namespaces/default/pods', 'viewer')).code, 200);
  const other = await call('/apis/metrics.k8s.io/v1beta1/namespaces/other/pods', 'viewer');
  assert.equal(other.code, 403);
  assert.match(other.body.message, /cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "other"/);
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/nodes', 'nobody')).code, 403);
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/pods?watch=true')).code, 405);
});

test('tenancy: a tenant\'s member sees the metrics of its nodes (spec.nodes) and namespaces only; another tenant\'s node is 404 like a missing one', async () => {
  const def = (g: string, v: string, r: string) => api.registry.get(g, v, r)!;
  const ctx = api.systemContext();
  await api.objects.create(def('tenancy.kedge.io', 'v1alpha1', 'tenants'), { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'a' }, spec: { users: ['alice'], nodes: ['n1'], namespaces: ['other'] } } as unknown as KubeObject, ctx);
  await api.objects.create(def('tenancy.kedge.io', 'v1alpha1', 'tenants'), { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'b' }, spec: { nodes: ['n2'] } } as unknown as KubeObject, ctx);
  // RBAC lets alice read every metric; the tenancy gate narrows it.
  await api.objects.create(def('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings'), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'alice-metrics' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:aggregated-metrics-reader' }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }],
  } as unknown as KubeObject, ctx);
  const names = (b: { items: Array<{ metadata: { name: string; namespace?: string } }> }) => b.items.map((i) => (i.metadata.namespace ? `${i.metadata.namespace}/` : '') + i.metadata.name);
  // The Tenants reach the gate through the watch cache: wait until alice is confined.
  await waitFor(async () => (await call('/apis/metrics.k8s.io/v1beta1/pods', 'alice')).body.items?.length === 1);
  assert.deepEqual(names((await call('/apis/metrics.k8s.io/v1beta1/nodes', 'alice')).body), ['n1']);
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/nodes/n1', 'alice')).code, 200);
  const foreign = await call('/apis/metrics.k8s.io/v1beta1/nodes/n2', 'alice');
  const missing = await call('/apis/metrics.k8s.io/v1beta1/nodes/n-none', 'alice');
  assert.equal(foreign.code, 404);
  assert.deepEqual({ ...foreign.body, message: foreign.body.message.replace('n2', 'X'), details: { ...foreign.body.details, name: 'X' } },
    { ...missing.body, message: missing.body.message.replace('n-none', 'X'), details: { ...missing.body.details, name: 'X' } });
  assert.equal(foreign.body.message, 'nodemetrics.metrics.k8s.io "n2" not found');
  assert.deepEqual(names((await call('/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.name%3Dn2', 'alice')).body), []);
  // Pod metrics: all namespaces = the tenant's own; a namespace of no tenant is Forbidden as for pods.
  assert.deepEqual(names((await call('/apis/metrics.k8s.io/v1beta1/pods', 'alice')).body), ['other/db']);
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/namespaces/other/pods/db', 'alice')).code, 200);
  assert.equal((await call('/apis/metrics.k8s.io/v1beta1/namespaces/b-ns/pods', 'alice')).code, 403);
  // The administrator is not confined.
  assert.deepEqual(names((await call('/apis/metrics.k8s.io/v1beta1/nodes')).body), ['n1', 'n2']);
  for (const name of ['a', 'b']) await api.objects.delete(def('tenancy.kedge.io', 'v1alpha1', 'tenants'), '', name, { dryRun: false }, ctx);
});

async function waitFor(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
}

test('a node whose scrape fails disappears at the next round, with its pods', async () => {
  answers.delete('n1');
  await metrics.scraper.scrapeOnce();
  const nodes = await call('/apis/metrics.k8s.io/v1beta1/nodes');
  assert.deepEqual(nodes.body.items.map((n: { metadata: { name: string } }) => n.metadata.name), ['n2']);
  assert.deepEqual((await call('/apis/metrics.k8s.io/v1beta1/pods')).body.items, []);
});
