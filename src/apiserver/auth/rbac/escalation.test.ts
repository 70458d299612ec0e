import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { StatusError } from '../../../apimachinery/status.js';
import type { UserInfo } from '../types.js';
import { RbacAuthorizer } from './authorizer.js';
import { staticRbacSource } from './source.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles, user as rbacUser } from './bootstrap-policy.js';
import { RbacEscalationGuard, breakdownRule, compactRules, compactString, coversRules, ruleCovers } from './escalation.js';

const r = (apiGroups: string[], resources: string[], verbs: string[], resourceNames?: string[]): V1PolicyRule =>
  resourceNames ? { apiGroups, resources, verbs, resourceNames } : { apiGroups, resources, verbs };

const coverCases: Array<[string, V1PolicyRule, V1PolicyRule, boolean]> = [
  ['exact', r([''], ['pods'], ['get']), r([''], ['pods'], ['get']), true],
  ['verb star', r([''], ['pods'], ['*']), r([''], ['pods'], ['delete']), true],
  ['group star', r(['*'], ['pods'], ['get']), r(['apps'], ['pods'], ['get']), true],
  ['resource star', r([''], ['*'], ['get']), r([''], ['pods/log'], ['get']), true],
  ['*/sub covers x/sub', r([''], ['*/status'], ['get']), r([''], ['pods/status'], ['get']), true],
  ['parent does not cover subresource', r([''], ['pods'], ['get']), r([''], ['pods/log'], ['get']), false],
  ['other verb', r([''], ['pods'], ['get']), r([''], ['pods'], ['create']), false],
  ['names: unrestricted owner covers named', r([''], ['cm'], ['get']), r([''], ['cm'], ['get'], ['a']), true],
  ['names: named owner does not cover unrestricted', r([''], ['cm'], ['get'], ['a']), r([''], ['cm'], ['get']), false],
  ['names: same name', r([''], ['cm'], ['get'], ['a', 'b']), r([''], ['cm'], ['get'], ['b']), true],
  ['url prefix', { verbs: ['get'], nonResourceURLs: ['/apis/*'] }, { verbs: ['get'], nonResourceURLs: ['/apis/apps'] }, true],
  ['url exact only', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, { verbs: ['get'], nonResourceURLs: ['/healthz/x'] }, false],
  ['resource rule does not cover url', r(['*'], ['*'], ['*']), { verbs: ['get'], nonResourceURLs: ['/metrics'] }, false],
];
for (const [name, owner, sub, want] of coverCases) test(`ruleCovers: ${name}`, () => assert.equal(ruleCovers(owner, sub), want));

test('breakdown, covers and the compact missing-rights text match upstream', () => {
  assert.equal(breakdownRule(r(['', 'apps'], ['a', 'b'], ['get', 'list'])).length, 8);
  const { covers, missing } = coversRules([r([''], ['pods'], ['get'])], [r([''], ['pods'], ['get', 'create', 'delete'])]);
  assert.equal(covers, false);
  assert.deepEqual(compactRules(missing).map(compactString), ['{APIGroups:[""], Resources:["pods"], Verbs:["create" "delete"]}']);
  assert.equal(compactString({ verbs: ['get'], nonResourceURLs: ['/metrics'] }), '{NonResourceURLs:["/metrics"], Verbs:["get"]}');
});

// jane: admin in namespace "team" (may manage roles/bindings there), nothing else.
const janeBinding: V1RoleBinding = {
  metadata: { name: 'jane-admin', namespace: 'team' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
  subjects: [rbacUser('jane')],
};
const binderBinding: V1ClusterRoleBinding = {
  metadata: { name: 'binder' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'may-bind-cluster-admin' },
  subjects: [rbacUser('bob')],
};
const source = staticRbacSource({
  clusterRoles: [...bootstrapClusterRoles(), {
    metadata: { name: 'may-bind-cluster-admin' },
    rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['cluster-admin'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] }],
  }],
  clusterRoleBindings: [...bootstrapClusterRoleBindings(), binderBinding],
  roleBindings: [janeBinding],
});
const guard = new RbacEscalationGuard(new RbacAuthorizer(source), source);
const jane: UserInfo = { username: 'jane', groups: ['devs', 'system:authenticated'] };
const bob: UserInfo = { username: 'bob', groups: ['system:authenticated'] };

const forbiddenWith = (re: RegExp) => (e: unknown): boolean => e instanceof StatusError && e.code === 403 && re.test(e.message);

test('a namespace admin may create roles within their rights, not beyond', async () => {
  const ok: V1Role = { metadata: { name: 'pod-reader', namespace: 'team' }, rules: [r([''], ['pods'], ['get', 'list'])] };
  await guard.checkRole(ok, 'Role', jane, 'team');
  const tooMuch: V1Role = { metadata: { name: 'node-admin', namespace: 'team' }, rules: [r([''], ['nodes'], ['delete', 'get']), r([''], ['pods'], ['get'])] };
  await assert.rejects(guard.checkRole(tooMuch, 'Role', jane, 'team'), forbiddenWith(
    /^roles\.rbac\.authorization\.k8s\.io "node-admin" is forbidden: user "jane" \(groups=\["devs" "system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["nodes"\], Verbs:\["delete" "get"\]\}$/));
  await assert.rejects(guard.checkRole(ok, 'Role', jane, 'elsewhere'), forbiddenWith(/not currently held/));
});

test('binding: only to roles whose rights you hold, unless you have bind on that role', async () => {
  const toEdit: V1RoleBinding = { metadata: { name: 'b', namespace: 'team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [rbacUser('x')] };
  await guard.checkBinding(toEdit, 'RoleBinding', jane, 'team');
  const toClusterAdmin: V1RoleBinding = { ...toEdit, roleRef: { ...toEdit.roleRef, name: 'cluster-admin' } };
  await assert.rejects(guard.checkBinding(toClusterAdmin, 'RoleBinding', jane, 'team'), forbiddenWith(/^rolebindings\.rbac\.authorization\.k8s\.io "b" is forbidden: user "jane".*not currently held/s));
  await guard.checkBinding(toClusterAdmin, 'RoleBinding', bob, 'team'); // bob holds `bind` on cluster-admin
  const missing: V1RoleBinding = { ...toEdit, roleRef: { ...toEdit.roleRef, name: 'nope' } };
  await assert.rejects(guard.checkBinding(missing, 'RoleBinding', jane, 'team'), (e: unknown) => e instanceof StatusError && e.code === 404);
});

test('aggregation rules need full authority; system:masters skips every check', async () => {
  const agg = { metadata: { name: 'agg' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { a: 'b' } }] }, rules: [] };
  await assert.rejects(guard.checkRole(agg, 'ClusterRole', jane, ''), forbiddenWith(/must have cluster-admin privileges to use the aggregationRule/));
  const admin: UserInfo = { username: 'kubernetes-admin', groups: ['system:masters'] };
  await guard.checkRole(agg, 'ClusterRole', admin, '');
  await guard.checkBinding({ metadata: { name: 'x' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'anything' } }, 'ClusterRoleBinding', admin, '');
});

test('admission: updates touching only ownerReferences/finalizers skip the escalation check; other kinds pass through', async () => {
  const { admitRbacWrite } = await import('./admission.js');
  const def = { group: 'rbac.authorization.k8s.io', kind: 'Role' };
  const old: V1Role = { metadata: { name: 'node-reader', namespace: 'team', resourceVersion: '5' }, rules: [r([''], ['nodes'], ['get'])] };
  const gcOnly: V1Role = { ...old, metadata: { ...old.metadata, finalizers: ['example.com/cleanup'] } };
  await admitRbacWrite(guard, def, gcOnly, old, { user: jane, namespace: 'team' });
  const relabel: V1Role = { ...old, metadata: { ...old.metadata, labels: { a: 'b' } } };
  await assert.rejects(admitRbacWrite(guard, def, relabel, old, { user: jane, namespace: 'team' }), forbiddenWith(/not currently held/));
  await admitRbacWrite(guard, { group: '', kind: 'Pod' }, { metadata: { name: 'x' } }, null, { user: jane, namespace: 'team' });
});
