import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ClusterRole, V1ClusterRoleBinding } from '@kubernetes/client-node';
import { ensureBootstrapPolicy, type BootstrapPolicyStore } from './bootstrap-reconcile.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './bootstrap-policy.js';

/** In-memory stand-in for the API server's store. */
function memoryStore(): BootstrapPolicyStore & { roles: Map<string, V1ClusterRole>; bindings: Map<string, V1ClusterRoleBinding>; writes: number } {
  const roles = new Map<string, V1ClusterRole>();
  const bindings = new Map<string, V1ClusterRoleBinding>();
  const s = {
    roles, bindings, writes: 0,
    getClusterRole: (n: string) => structuredClone(roles.get(n) ?? null),
    createClusterRole: (r: V1ClusterRole) => { s.writes++; roles.set(r.metadata!.name!, structuredClone(r)); },
    updateClusterRole: (r: V1ClusterRole) => { s.writes++; roles.set(r.metadata!.name!, structuredClone(r)); },
    getClusterRoleBinding: (n: string) => structuredClone(bindings.get(n) ?? null),
    createClusterRoleBinding: (b: V1ClusterRoleBinding) => { s.writes++; bindings.set(b.metadata!.name!, structuredClone(b)); },
    updateClusterRoleBinding: (b: V1ClusterRoleBinding) => { s.writes++; bindings.set(b.metadata!.name!, structuredClone(b)); },
  };
  return s;
}

test('first start creates every default role and binding; second start writes nothing', async () => {
  const store = memoryStore();
  const first = await ensureBootstrapPolicy(store);
  assert.equal(first.created.length, bootstrapClusterRoles().length + bootstrapClusterRoleBindings().length);
  for (const name of ['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:basic-user', 'system:public-info-viewer', 'system:node', 'system:node-bootstrapper', 'system:kube-scheduler', 'system:kube-controller-manager']) {
    assert.ok(store.roles.has(name), name);
  }
  const writes = store.writes;
  const second = await ensureBootstrapPolicy(store);
  assert.deepEqual(second, { created: [], updated: [] });
  assert.equal(store.writes, writes);
});

test('reconciliation restores missing rules and subjects, keeps operator additions, and respects autoupdate=false', async () => {
  const store = memoryStore();
  await ensureBootstrapPolicy(store);
  const basic = store.roles.get('system:basic-user')!;
  basic.rules = [{ apiGroups: ['example.com'], resources: ['things'], verbs: ['get'] }];
  const disc = store.bindings.get('system:discovery')!;
  disc.subjects = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'extra' }];
  const view = store.roles.get('view')!;
  view.metadata!.annotations = { 'rbac.authorization.kubernetes.io/autoupdate': 'false' };
  view.aggregationRule = { clusterRoleSelectors: [] };
  const r = await ensureBootstrapPolicy(store);
  assert.deepEqual(r.updated.sort(), ['clusterrole/system:basic-user', 'clusterrolebinding/system:discovery']);
  const rules = store.roles.get('system:basic-user')!.rules!;
  assert.equal(rules.length, 3, 'operator rule kept plus the two defaults');
  assert.deepEqual(store.bindings.get('system:discovery')!.subjects!.map((s) => s.name), ['extra', 'system:authenticated']);
  assert.deepEqual(store.roles.get('view')!.aggregationRule, { clusterRoleSelectors: [] }, 'protected role untouched');
});

test('two servers reconciling at once on an empty datastore: an AlreadyExists is read again, both end with the full policy', async () => {
  // Two servers' reconcilers over one store, interleaved: every get of one is answered before the other's create lands.
  const shared = memoryStore();
  const alreadyExists = () => Object.assign(new Error('already exists'), { code: 409 });
  const racing = (): BootstrapPolicyStore => ({
    ...shared,
    getClusterRole: async (n) => { const r = shared.getClusterRole(n); await new Promise((res) => setImmediate(res)); return r; },
    createClusterRole: (r) => { if (shared.roles.has(r.metadata!.name!)) throw alreadyExists(); shared.createClusterRole(r); },
    getClusterRoleBinding: async (n) => { const b = shared.getClusterRoleBinding(n); await new Promise((res) => setImmediate(res)); return b; },
    createClusterRoleBinding: (b) => { if (shared.bindings.has(b.metadata!.name!)) throw alreadyExists(); shared.createClusterRoleBinding(b); },
  });
  const [a, b] = await Promise.all([ensureBootstrapPolicy(racing()), ensureBootstrapPolicy(racing())]);
  const total = bootstrapClusterRoles().length + bootstrapClusterRoleBindings().length;
  assert.equal(a.created.length + b.created.length, total, 'each object created once, by one of them');
  assert.equal(shared.roles.size + shared.bindings.size, total);
});
