import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from '@kubernetes/client-node';
import * as pki from '../../src/pki/index.js';
import { Harness, type ManagedProcess } from '../harness/processes.js';

/**
 * Multi-tenant API isolation end to end (docs/design/tenancy.md): the real `kedge server`, two tenants (alice in
 * "a", bob in "b", token users) and the administrator, the stock kubectl and @kubernetes/client-node. Every one of
 * the issue's eleven request classes is run for nodes, namespaces, a cluster-scoped CRD (Gadget), pods, secrets and
 * a namespaced CRD (Widget), each with its cross-tenant attempt. Both tenants' users are bound to a role allowing
 * every verb on every resource: whatever they cannot do below, tenancy refused, not RBAC.
 */

const KUBECTL = '/usr/bin/kubectl';
const h = new Harness('tenancy');
let server: ManagedProcess;
let base: string;
let admin: string;
const kc = (name: string): string => path.join(base, `${name}.kubeconfig`);
const TENANT_LABEL = 'tenancy.kedge.io/tenant';

interface Run { code: number; stdout: string; stderr: string }

function kubectl(who: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', who === 'admin' ? admin : kc(who), '--cache-dir', path.join(base, `kcache-${who}`), '--request-timeout', '20s', ...args],
      { timeout: 30_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: base } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function ok(who: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(who, args, input);
  assert.equal(r.code, 0, `${who}: kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function fails(who: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(who, args, input);
  assert.notEqual(r.code, 0, `${who}: kubectl ${args.join(' ')} should fail: ${r.stdout}`);
  return r.stderr.trim();
}

const apply = (who: string, obj: unknown) => ok(who, ['create', '-f', '-', '-o', 'json'], JSON.stringify(obj)).then((o) => JSON.parse(o) as { metadata: { labels?: Record<string, string> } });
const names = async (who: string, args: string[]) => (await ok(who, ['get', ...args, '-o', 'name'])).split('\n').filter(Boolean).sort();

const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });
const ns = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const gadget = (name: string) => ({ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name }, spec: { size: 1 } });
const pod = (name: string, namespace: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
const secret = (name: string, namespace: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, stringData: { k: name } });
const widget = (name: string, namespace: string) => ({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name, namespace }, spec: { size: 1 } });

function crd(kind: string, plural: string, scope: 'Cluster' | 'Namespaced') {
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `${plural}.example.com` },
    spec: {
      group: 'example.com', scope, names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
    },
  };
}

before(async () => {
  base = h.tempDir('tenancy');
  const dataDir = path.join(base, 'data');
  const tokenFile = path.join(base, 'tokens.csv');
  await writeFile(tokenFile, 'tok-alice-0123456789,alice,uid-a,"tenant-users"\ntok-bob-0123456789ab,bob,uid-b,"tenant-users"\n', { mode: 0o600 });
  const port = await h.freePort();
  const url = `https://127.0.0.1:${port}`;
  server = await h.startKedge('server', [
    'server', '--data-dir', dataDir, '--secure-port', String(port), '--token-auth-file', tokenFile, '--hub-port', '-1', '--controllers', 'scheduler',
  ], { ready: { url: `${url}/readyz`, ok: (s) => s === 200 || s === 401 || s === 403, timeoutMs: 90_000 } });
  admin = pki.adminKubeconfigPath(dataDir);
  const caCertPem = await readFile(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  await pki.writeKubeconfig(kc('alice'), pki.buildKubeconfig({ server: url, caCertPem, userName: 'alice', token: 'tok-alice-0123456789' }));
  await pki.writeKubeconfig(kc('bob'), pki.buildKubeconfig({ server: url, caCertPem, userName: 'bob', token: 'tok-bob-0123456789ab' }));
  const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'tenant-member' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'tenant-member' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tenant-member' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'tenant-users' }],
  };
  for (const o of [role, binding, crd('Gadget', 'gadgets', 'Cluster'), crd('Widget', 'widgets', 'Namespaced')]) await apply('admin', o);
  await apply('admin', { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'a' }, spec: { users: ['alice'], sharedNodes: true } });
  await apply('admin', { apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'b' }, spec: { users: ['bob'] } });
  // What the administrator puts in a shared namespace, and a shared node.
  await apply('admin', pod('shared-pod', 'default'));
  await apply('admin', secret('shared-secret', 'default'));
  await apply('admin', { ...node('shared-node'), metadata: { name: 'shared-node', labels: { 'tenancy.kedge.io/shared': 'true' } } });
  await apply('admin', node('admin-node'));
  // CRD resources are served once the CRD is established.
  for (let i = 0; ; i++) {
    const r = await kubectl('admin', ['get', 'gadgets,widgets', '-A']);
    if (r.code === 0) break;
    assert.ok(i < 60, r.stderr);
    await new Promise((res) => setTimeout(res, 500));
  }
});

after(() => h.cleanup());

/** The error a name that exists nowhere gets, with that name replaced: a hidden object must answer the same. */
async function sameAsMissing(who: string, args: (name: string) => string[], hidden: string): Promise<string> {
  const [missing, got] = await Promise.all([fails(who, args('zz-missing')), fails(who, args(hidden))]);
  assert.equal(got, missing.replaceAll('zz-missing', hidden), `hidden ${hidden} must look missing`);
  assert.match(got, /NotFound|not found/);
  return got;
}

test('the Tenant kind is kubectl-friendly: printer columns, describe, short name; schema and admission refuse bad specs', async () => {
  const table = await ok('admin', ['get', 'tenants']);
  assert.match(table, /^NAME\s+USERS\s+GROUPS\s+NAMESPACES\s+SHAREDNODES\s+AGE$/m);
  assert.match(table, /^a\s+\["alice"\]\s+true\s+\d+s$/m);
  assert.match(await ok('admin', ['describe', 'tn', 'b']), /Users:\s+bob/);
  const bad = await fails('admin', ['create', '-f', '-'], JSON.stringify({ apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'bad' }, spec: { groups: ['system:masters'], serviceAccounts: ['nope'] } }));
  assert.match(bad, /spec.groups: Forbidden: system:masters cannot belong to a tenant/);
  assert.match(bad, /spec.serviceAccounts\[0\]: Invalid value: "nope": must be "namespace\/name"/);
});

test('rows 6 and 7: creates are marked as the creator\'s tenant; a namespaced create goes only into the tenant\'s namespaces', async () => {
  await Promise.all((([['alice', 'a'], ['bob', 'b']]) as const).map(async ([who, t]) => {
    for (const o of [node(`${t}-node`), ns(`${t}1`), gadget(`${t}-gadget`), pod(`${t}-pod`, `${t}1`), secret(`${t}-secret`, `${t}1`), widget(`${t}-widget`, `${t}1`)]) {
      const created = await apply(who, o);
      assert.equal(created.metadata.labels?.[TENANT_LABEL], t, JSON.stringify(created));
    }
  }));
  // A member cannot mark a new object as another tenant's: the label is its own tenant's.
  const forged = await apply('alice', { ...gadget('a-forged'), metadata: { name: 'a-forged', labels: { [TENANT_LABEL]: 'b' } } });
  assert.equal(forged.metadata.labels?.[TENANT_LABEL], 'a');
  // Row 7 cross-tenant: into bob's namespace, as into one that does not exist (403 either way, no existence leak).
  for (const o of [pod('x', 'b1'), secret('x', 'b1'), widget('x', 'b1')]) {
    const err = await fails('alice', ['create', '-f', '-'], JSON.stringify(o));
    assert.match(err, /is forbidden: User "alice" cannot create resource "\w+" in API group "[\w.]*" in the namespace "b1": namespace "b1" is not in tenant "a"/);
    const none = await fails('alice', ['create', '-f', '-'], JSON.stringify({ ...o, metadata: { ...o.metadata, namespace: 'zz-none' } }));
    assert.equal(none, err.replaceAll('b1', 'zz-none'));
  }
  // The administrator sees everything and wrote what it wrote.
  assert.deepEqual((await names('admin', ['gadgets'])), ['gadget.example.com/a-forged', 'gadget.example.com/a-gadget', 'gadget.example.com/b-gadget']);
});

test('row 1: cluster-scoped lists hold only the tenant\'s objects (and shared nodes where allowed); the admin sees all', async () => {
  assert.deepEqual(await names('alice', ['nodes']), ['node/a-node', 'node/shared-node']);
  assert.deepEqual(await names('bob', ['nodes']), ['node/b-node']);
  assert.deepEqual(await names('admin', ['nodes']), ['node/a-node', 'node/admin-node', 'node/b-node', 'node/shared-node']);
  const aliceNs = await names('alice', ['namespaces']);
  assert.ok(aliceNs.includes('namespace/a1') && aliceNs.includes('namespace/default') && !aliceNs.includes('namespace/b1'), aliceNs.join());
  assert.deepEqual(await names('bob', ['gadgets']), ['gadget.example.com/b-gadget']);
  // Tables (kubectl's default output) are filtered the same way.
  const table = await ok('alice', ['get', 'nodes']);
  assert.ok(!table.includes('b-node') && table.includes('a-node'), table);
});

test('row 2: all-namespace lists hold only objects in the tenant\'s namespaces', async () => {
  assert.deepEqual(await names('alice', ['pods', '-A']), ['pod/a-pod']);
  assert.deepEqual(await names('alice', ['secrets', '-A']), ['secret/a-secret']);
  assert.deepEqual(await names('bob', ['widgets', '-A']), ['widget.example.com/b-widget']);
  const all = await names('admin', ['pods', '-A']);
  for (const p of ['pod/a-pod', 'pod/b-pod', 'pod/shared-pod']) assert.ok(all.includes(p), all.join());
});

test('rows 3 and 5: namespaced lists and gets only in the tenant\'s namespaces (403 in another tenant\'s, as in a missing one)', async () => {
  await Promise.all(([['pods', 'a-pod'], ['secrets', 'a-secret'], ['widgets', 'a-widget']] as const).map(async ([r, n]) => {
    assert.equal((await names('alice', [r, '-n', 'a1'])).length, 1);
    await ok('alice', ['get', r, n, '-n', 'a1']);
    const other = n.replace('a-', 'b-');
    const list = await fails('alice', ['get', r, '-n', 'b1']);
    assert.match(list, new RegExp(`cannot list resource "${r}" in API group "[\\w.]*" in the namespace "b1": namespace "b1" is not in tenant "a"`));
    assert.equal(await fails('alice', ['get', r, '-n', 'zz-none']), list.replaceAll('b1', 'zz-none'));
    const get = await fails('alice', ['get', r, other, '-n', 'b1']);
    assert.match(get, new RegExp(`"${other}" is forbidden: User "alice" cannot get resource "${r}"`));
    assert.equal(await fails('alice', ['get', r, 'zz-missing', '-n', 'b1']), get.replaceAll(other, 'zz-missing'), 'exists or not: the same 403');
  }));
});

test('row 4: another tenant\'s cluster-scoped object answers exactly as a missing one', async () => {
  await ok('alice', ['get', 'node', 'a-node']);
  await ok('alice', ['get', 'namespace', 'a1']);
  await ok('alice', ['get', 'gadget', 'a-gadget']);
  await ok('alice', ['get', 'node', 'shared-node']);
  await ok('alice', ['get', 'tenant', 'a']);
  await sameAsMissing('alice', (n) => ['get', 'node', n], 'b-node');
  await sameAsMissing('alice', (n) => ['get', 'node', n], 'admin-node');
  await sameAsMissing('bob', (n) => ['get', 'node', n], 'shared-node'); // b may not use shared nodes
  await sameAsMissing('alice', (n) => ['get', 'namespace', n], 'b1');
  await sameAsMissing('alice', (n) => ['get', 'gadget', n], 'b-gadget');
  await sameAsMissing('alice', (n) => ['get', 'tenant', n], 'b');
});

test('row 8: update/patch/delete of cluster-scoped objects only for the tenant\'s own', async () => {
  await ok('alice', ['label', 'node', 'a-node', 'zone=z1']);
  await ok('alice', ['patch', 'gadget', 'a-gadget', '--type=merge', '-p', '{"spec":{"size":2}}']);
  await ok('alice', ['annotate', 'namespace', 'a1', 'note=mine']);
  // A member cannot move its object to another tenant: the tenant label stays its own.
  await ok('alice', ['label', 'gadget', 'a-gadget', `${TENANT_LABEL}=b`, '--overwrite']);
  assert.equal(JSON.parse(await ok('admin', ['get', 'gadget', 'a-gadget', '-o', 'json'])).metadata.labels[TENANT_LABEL], 'a');
  await sameAsMissing('alice', (n) => ['label', 'node', n, 'zone=z1'], 'b-node');
  await sameAsMissing('alice', (n) => ['patch', 'gadget', n, '--type=merge', '-p', '{"spec":{"size":2}}'], 'b-gadget');
  await sameAsMissing('alice', (n) => ['delete', 'node', n], 'b-node');
  await sameAsMissing('alice', (n) => ['delete', 'namespace', n], 'b1');
  const replaced = await fails('alice', ['replace', '-f', '-'], JSON.stringify(gadget('b-gadget')));
  assert.match(replaced, /gadgets.example.com "b-gadget" not found/);
  // Shared objects are read-only; Tenants cannot be written by members at all.
  assert.match(await fails('alice', ['label', 'node', 'shared-node', 'x=y']), /nodes "shared-node" is forbidden: .*is shared: tenant "a" may only read it/);
  assert.match(await fails('alice', ['label', 'tenant', 'a', 'x=y']), /tenants.tenancy.kedge.io "a" is forbidden: .*cannot change Tenants/);
  assert.match(await fails('alice', ['create', '-f', '-'], JSON.stringify({ apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: 'c' }, spec: {} })), /forbidden/);
  // Impersonation would step out of the tenant: refused for members whatever RBAC grants (alice's role has '*').
  assert.match(await fails('alice', ['get', 'node', 'b-node', '--as', 'bob']), /users "bob" is forbidden: .*members of tenant "a" cannot impersonate/);
  assert.match(await fails('alice', ['get', 'nodes', '--as', 'x', '--as-group', 'system:masters']), /members of tenant "a" cannot impersonate/);
  await ok('admin', ['get', 'node', 'b-node']);
  await ok('admin', ['get', 'namespace', 'b1']);
});

test('row 10: update/patch/delete of namespaced objects only in the tenant\'s namespaces', async () => {
  await Promise.all(([['pods', 'a-pod'], ['secrets', 'a-secret'], ['widgets', 'a-widget']] as const).map(async ([r, n]) => {
    await ok('alice', ['label', r, n, '-n', 'a1', 'x=1']);
    const other = n.replace('a-', 'b-');
    for (const args of [['label', r, other, '-n', 'b1', 'x=1'], ['delete', r, other, '-n', 'b1'], ['patch', r, other, '-n', 'b1', '--type=merge', '-p', '{"metadata":{"labels":{"x":"1"}}}']]) {
      assert.match(await fails('alice', args), new RegExp(`"${other}" is forbidden: User "alice" cannot (get|patch|delete) resource "${r}" .*namespace "b1" is not in tenant "a"`));
    }
    await ok('admin', ['get', r, other, '-n', 'b1']);
  }));
});

test('row 11: shared namespaces are readable by every tenant and writable by none', async () => {
  await ok('alice', ['get', 'pod', 'shared-pod', '-n', 'default']);
  await ok('bob', ['get', 'secrets', '-n', 'default']);
  await ok('alice', ['get', 'namespace', 'kube-system']);
  for (const args of [['label', 'pod', 'shared-pod', '-n', 'default', 'x=1'], ['delete', 'secret', 'shared-secret', '-n', 'default'], ['delete', 'pods', '--all', '-n', 'default']]) {
    assert.match(await fails('alice', args), /namespace "default" is shared: tenant "a" may only read it/);
  }
  assert.match(await fails('bob', ['create', '-f', '-'], JSON.stringify(secret('mine', 'default'))), /namespace "default" is shared/);
  assert.match(await fails('alice', ['delete', 'namespace', 'default']), /namespaces "default" is forbidden: .*is shared/);
});

test('pagination: a tenant\'s all-namespace list pages through its own objects only, at one resourceVersion (client-node and kubectl)', async () => {
  for (let i = 0; i < 5; i++) {
    await apply('alice', secret(`a-page-${i}`, 'a1'));
    await apply('bob', secret(`b-page-${i}`, 'b1'));
  }
  const c = new KubeConfig();
  c.loadFromFile(kc('alice'));
  const api = c.makeApiClient(CoreV1Api);
  const seen: string[] = [];
  let cont: string | undefined;
  let rv: string | undefined;
  let pages = 0;
  do {
    const page = await api.listSecretForAllNamespaces({ limit: 2, _continue: cont });
    assert.ok(page.items.length <= 2);
    rv ??= page.metadata?.resourceVersion;
    seen.push(...page.items.map((s) => `${s.metadata!.namespace}/${s.metadata!.name}`));
    cont = page.metadata?._continue || undefined;
    pages++;
  } while (cont);
  assert.deepEqual(seen, ['a1/a-page-0', 'a1/a-page-1', 'a1/a-page-2', 'a1/a-page-3', 'a1/a-page-4', 'a1/a-secret']);
  assert.equal(pages, 3);
  // kubectl pages too (--chunk-size), and a cluster-scoped list pages the same way.
  assert.deepEqual(await names('alice', ['secrets', '-A', '--chunk-size=2']), ['secret/a-page-0', 'secret/a-page-1', 'secret/a-page-2', 'secret/a-page-3', 'secret/a-page-4', 'secret/a-secret']);
  const custom = c.makeApiClient(CustomObjectsApi);
  const first = await custom.listClusterCustomObject({ group: 'example.com', version: 'v1', plural: 'gadgets', limit: 1 }) as { items: unknown[]; metadata: { continue?: string } };
  assert.equal(first.items.length, 1);
  const rest = await custom.listClusterCustomObject({ group: 'example.com', version: 'v1', plural: 'gadgets', limit: 5, _continue: first.metadata.continue }) as { items: { metadata: { name: string } }[]; metadata: { continue?: string } };
  assert.deepEqual(rest.items.map((i) => i.metadata.name), ['a-gadget']);
  assert.equal(rest.metadata.continue ?? '', '');
});

test('watch: a tenant\'s watches never show another tenant\'s objects; an object leaving its view is DELETED (client-node, kubectl -w)', async () => {
  const c = new KubeConfig();
  c.loadFromFile(kc('alice'));
  const events: string[] = [];
  const w = new Watch(c);
  const nodeWatch = await w.watch('/api/v1/nodes', {}, (type, obj: { metadata: { name: string } }) => events.push(`${type} node ${obj.metadata.name}`), () => {});
  const podWatch = await w.watch('/api/v1/pods', {}, (type, obj: { metadata: { name: string } }) => events.push(`${type} pod ${obj.metadata.name}`), () => {});
  const kubectlWatch = spawn(KUBECTL, ['--kubeconfig', kc('alice'), 'get', 'nodes', '-w', '--output-watch-events'], { env: { PATH: '/usr/bin:/bin', HOME: base } });
  let kubectlOut = '';
  kubectlWatch.stdout.on('data', (d: Buffer) => { kubectlOut += d.toString(); });
  try {
    const waitFor = async (what: () => boolean, label: string) => {
      for (let i = 0; !what(); i++) { assert.ok(i < 200, `${label}: ${events.join(' | ')} / ${kubectlOut}`); await new Promise((r) => setTimeout(r, 100)); }
    };
    await waitFor(() => events.includes('ADDED node a-node') && events.includes('ADDED pod a-pod') && /ADDED\s+a-node/.test(kubectlOut), 'initial state');
    await apply('bob', node('b-watch'));
    await apply('bob', pod('b-watch', 'b1'));
    await apply('alice', node('a-watch'));
    await apply('alice', pod('a-watch', 'a1'));
    await waitFor(() => events.includes('ADDED node a-watch') && events.includes('ADDED pod a-watch') && /ADDED\s+a-watch/.test(kubectlOut), 'alice\'s own');
    // The administrator hands a-watch to tenant b: it leaves alice's view.
    await ok('admin', ['label', 'node', 'a-watch', `${TENANT_LABEL}=b`, '--overwrite']);
    await waitFor(() => events.includes('DELETED node a-watch') && /DELETED\s+a-watch/.test(kubectlOut), 'leaving the view');
    for (const e of [...events, kubectlOut]) assert.ok(!/b-watch|b-node|b-pod|admin-node/.test(e), `leaked: ${e}`);
  } finally {
    nodeWatch.abort();
    podWatch.abort();
    kubectlWatch.kill();
  }
  assert.deepEqual(await names('bob', ['nodes']), ['node/a-watch', 'node/b-node', 'node/b-watch']);
});

test('scheduling: a tenant\'s pods go to its own nodes (and shared ones if its Tenant allows), never to another tenant\'s', async () => {
  const status = JSON.stringify({ status: { capacity: { cpu: '4', memory: '8Gi', pods: '20' }, allocatable: { cpu: '4', memory: '8Gi', pods: '20' }, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready' }] } });
  await Promise.all(['a-node', 'b-node', 'shared-node', 'admin-node'].map((n) => ok('admin', ['patch', 'node', n, '--subresource=status', '--type=merge', '-p', status])));
  // New Nodes carry not-ready:NoSchedule (upstream's TaintNodesByCondition); this server runs no node lifecycle
  // controller to lift it once Ready, so the test does, as an administrator would.
  await Promise.all(['a-node', 'b-node', 'shared-node', 'admin-node'].map((n) => ok('admin', ['taint', 'node', n, 'node.kubernetes.io/not-ready:NoSchedule-'])));
  const pinned = (name: string, namespace: string, nodeName: string) => ({ ...pod(name, namespace), spec: { ...pod(name, namespace).spec, nodeSelector: { 'kubernetes.io/hostname': nodeName } } });
  for (const n of ['a-node', 'b-node', 'shared-node', 'admin-node']) await ok('admin', ['label', 'node', n, `kubernetes.io/hostname=${n}`, '--overwrite']);
  await apply('alice', pinned('a-on-shared', 'a1', 'shared-node'));
  await apply('bob', pinned('b-on-shared', 'b1', 'shared-node'));
  await apply('bob', pinned('b-on-a', 'b1', 'a-node'));
  const nodeOf = async (who: string, name: string, namespace: string) => JSON.parse(await ok(who, ['get', 'pod', name, '-n', namespace, '-o', 'json'])) as { spec: { nodeName?: string }; status?: { conditions?: { type: string; status: string; message?: string }[] } };
  const waitBound = async (who: string, name: string, namespace: string) => {
    for (let i = 0; ; i++) {
      const p = await nodeOf(who, name, namespace);
      if (p.spec.nodeName) return p.spec.nodeName;
      assert.ok(i < 120, `${namespace}/${name} never scheduled: ${JSON.stringify(p.status)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const waitUnschedulable = async (name: string, namespace: string) => {
    for (let i = 0; ; i++) {
      const p = await nodeOf('admin', name, namespace);
      assert.equal(p.spec.nodeName, undefined, `${namespace}/${name} must not be scheduled`);
      const c = p.status?.conditions?.find((x) => x.type === 'PodScheduled');
      if (c?.status === 'False') return c.message ?? '';
      assert.ok(i < 120, `${namespace}/${name}: no PodScheduled=False`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  assert.ok(['a-node', 'shared-node'].includes(await waitBound('alice', 'a-pod', 'a1')));
  assert.equal(await waitBound('bob', 'b-pod', 'b1'), 'b-node');
  assert.ok(['admin-node', 'shared-node'].includes(await waitBound('admin', 'shared-pod', 'default')));
  assert.equal(await waitBound('alice', 'a-on-shared', 'a1'), 'shared-node');
  // Tenant b may not use shared nodes, and nobody but a may use a's.
  assert.match(await waitUnschedulable('b-on-shared', 'b1'), /0\/\d+ nodes are available: .*node\(s\) didn't belong to the pod's tenant/);
  assert.match(await waitUnschedulable('b-on-a', 'b1'), /node\(s\) didn't belong to the pod's tenant/);
  // spec.nodeName set by the member bypasses the scheduler: admission holds the same rule, and a missing node
  // answers as another tenant's.
  const direct = (node: string) => ({ ...pod('a-direct', 'a1'), spec: { ...pod('a-direct', 'a1').spec, nodeName: node } });
  const foreign = await fails('alice', ['create', '-f', '-'], JSON.stringify(direct('b-node')));
  assert.match(foreign, /pods "a-direct" is forbidden: node "b-node" is not available to tenant "a"/);
  assert.equal(await fails('alice', ['create', '-f', '-'], JSON.stringify(direct('zz-no-node'))), foreign.replaceAll('b-node', 'zz-no-node'));
  await apply('alice', direct('a-node'));
});

test('row 9: a collection delete (DELETE on the collection) removes only the tenant\'s objects', async () => {
  await ok('alice', ['delete', '--raw', '/apis/example.com/v1/gadgets']);
  const c = new KubeConfig();
  c.loadFromFile(kc('alice'));
  await c.makeApiClient(CoreV1Api).deleteCollectionNode({});
  await ok('alice', ['delete', '--raw', '/api/v1/secrets']);
  assert.deepEqual(await names('admin', ['gadgets']), ['gadget.example.com/b-gadget']);
  assert.deepEqual(await names('admin', ['nodes']), ['node/a-watch', 'node/admin-node', 'node/b-node', 'node/b-watch', 'node/shared-node']);
  const secrets = await names('admin', ['secrets', '-A']);
  assert.ok(secrets.includes('secret/b-secret') && secrets.includes('secret/shared-secret') && !secrets.includes('secret/a-secret'), secrets.join());
  await ok('alice', ['delete', '--raw', '/api/v1/namespaces']);
  const left = await names('admin', ['namespaces']);
  assert.ok(left.includes('namespace/b1') && left.includes('namespace/default'), left.join());
});
