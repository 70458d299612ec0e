import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { RequestAttributes, UserInfo } from '../types.js';
import { RbacAuthorizer } from './authorizer.js';
import { staticRbacSource } from './source.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles, group, serviceAccount, user } from './bootstrap-policy.js';
import { clusterRoleMap, effectiveClusterRoleRules } from './aggregation.js';

const jane: UserInfo = { username: 'jane', groups: ['system:authenticated'] };
const attrs = (u: UserInfo, verb: string, resource: string, extra: Partial<RequestAttributes> = {}): RequestAttributes =>
  ({ user: u, verb, resourceRequest: true, apiGroup: '', resource, namespace: 'default', ...extra });

function crb(name: string, role: string, subjects: V1ClusterRoleBinding['subjects']): V1ClusterRoleBinding {
  return { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects };
}
function rb(ns: string, name: string, kind: 'Role' | 'ClusterRole', role: string, subjects: V1RoleBinding['subjects']): V1RoleBinding {
  return { metadata: { name, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role }, subjects };
}

function authorizerWith(extra: { crbs?: V1ClusterRoleBinding[]; rbs?: V1RoleBinding[]; roles?: V1Role[]; clusterRoles?: V1ClusterRole[] }): RbacAuthorizer {
  return new RbacAuthorizer(staticRbacSource({
    clusterRoles: [...bootstrapClusterRoles(), ...(extra.clusterRoles ?? [])],
    clusterRoleBindings: [...bootstrapClusterRoleBindings(), ...(extra.crbs ?? [])],
    roles: extra.roles ?? [],
    roleBindings: extra.rbs ?? [],
  }));
}

test('view via ClusterRoleBinding: get pods yes, create pods no, secrets no, pods/log yes', async () => {
  const a = authorizerWith({ crbs: [crb('jane-view', 'view', [user('jane')])] });
  const get = await a.authorize(attrs(jane, 'get', 'pods'));
  assert.deepEqual(get, { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "jane-view" of ClusterRole "view" to User "jane"' });
  assert.deepEqual(await a.authorize(attrs(jane, 'create', 'pods')), { allowed: false, reason: '' });
  assert.equal((await a.authorize(attrs(jane, 'get', 'secrets'))).allowed, false);
  assert.equal((await a.authorize(attrs(jane, 'get', 'pods', { subresource: 'log' }))).allowed, true);
  assert.equal((await a.authorize(attrs(jane, 'list', 'deployments', { apiGroup: 'apps' }))).allowed, true);
  assert.equal((await a.authorize(attrs(jane, 'get', 'pods', { namespace: 'other' }))).allowed, true, 'cluster-wide');
});

test('aggregation: edit includes view, admin includes edit and RBAC management, view excludes writes', () => {
  const all = clusterRoleMap(bootstrapClusterRoles());
  const view = effectiveClusterRoleRules(all.get('view')!, all);
  const edit = effectiveClusterRoleRules(all.get('edit')!, all);
  const admin = effectiveClusterRoleRules(all.get('admin')!, all);
  assert.ok(view.length > 0 && edit.length > view.length && admin.length > edit.length);
  const has = (rules: typeof view, verb: string, res: string, grp = ''): boolean =>
    rules.some((r) => r.verbs.includes(verb) && (r.apiGroups ?? []).includes(grp) && (r.resources ?? []).includes(res));
  assert.ok(has(view, 'get', 'pods') && !has(view, 'create', 'pods'));
  assert.ok(has(edit, 'get', 'pods') && has(edit, 'create', 'pods') && has(edit, 'get', 'secrets'));
  assert.ok(has(admin, 'create', 'roles', 'rbac.authorization.k8s.io') && !has(edit, 'create', 'roles', 'rbac.authorization.k8s.io'));
});

test('a new aggregate-to-view ClusterRole extends view immediately', async () => {
  const extraRole: V1ClusterRole = {
    metadata: { name: 'widgets-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] }],
  };
  const base = authorizerWith({ crbs: [crb('b', 'edit', [user('jane')])] });
  const w = attrs(jane, 'get', 'widgets', { apiGroup: 'example.com' });
  assert.equal((await base.authorize(w)).allowed, false);
  const extended = authorizerWith({ crbs: [crb('b', 'edit', [user('jane')])], clusterRoles: [extraRole] });
  assert.equal((await extended.authorize(w)).allowed, true, 'view → edit transitively');
});

test('RoleBinding grants only in its namespace; Role and ClusterRole references both work', async () => {
  const role: V1Role = { metadata: { name: 'cm-reader', namespace: 'team' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] };
  const a = authorizerWith({
    roles: [role],
    rbs: [rb('team', 'r1', 'Role', 'cm-reader', [user('jane')]), rb('team', 'r2', 'ClusterRole', 'edit', [group('devs')])],
  });
  const d = await a.authorize(attrs(jane, 'get', 'configmaps', { namespace: 'team' }));
  assert.deepEqual(d, { allowed: true, reason: 'RBAC: allowed by RoleBinding "r1/team" of Role "cm-reader" to User "jane"' });
  assert.equal((await a.authorize(attrs(jane, 'get', 'configmaps', { namespace: 'default' }))).allowed, false);
  assert.equal((await a.authorize(attrs(jane, 'get', 'configmaps', { namespace: '' }))).allowed, false, 'cluster scope');
  const dev: UserInfo = { username: 'bob', groups: ['devs'] };
  assert.equal((await a.authorize(attrs(dev, 'create', 'deployments', { apiGroup: 'apps', namespace: 'team' }))).allowed, true);
  assert.equal((await a.authorize(attrs(dev, 'create', 'deployments', { apiGroup: 'apps', namespace: 'x' }))).allowed, false);
});

test('service account subjects: explicit namespace, and defaulted to the RoleBinding namespace', async () => {
  const a = authorizerWith({
    crbs: [crb('sa-view', 'view', [serviceAccount('ops', 'robot')])],
    rbs: [rb('apps', 'local', 'ClusterRole', 'edit', [{ kind: 'ServiceAccount', name: 'deployer' }])],
  });
  const robot: UserInfo = { username: 'system:serviceaccount:ops:robot', groups: [] };
  const d = await a.authorize(attrs(robot, 'list', 'pods', { namespace: 'x' }));
  assert.deepEqual(d, { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "sa-view" of ClusterRole "view" to ServiceAccount "robot/ops"' });
  const deployer: UserInfo = { username: 'system:serviceaccount:apps:deployer', groups: [] };
  assert.equal((await a.authorize(attrs(deployer, 'create', 'pods', { namespace: 'apps' }))).allowed, true);
  const otherNs: UserInfo = { username: 'system:serviceaccount:other:deployer', groups: [] };
  assert.equal((await a.authorize(attrs(otherNs, 'create', 'pods', { namespace: 'apps' }))).allowed, false);
});

test('system:masters is allowed everything; default bindings give discovery and self reviews to every authenticated user', async () => {
  const a = authorizerWith({});
  const admin: UserInfo = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
  assert.equal((await a.authorize(attrs(admin, 'delete', 'nodes', { namespace: '' }))).allowed, true);
  const path = (u: UserInfo, p: string): RequestAttributes => ({ user: u, verb: 'get', resourceRequest: false, path: p });
  assert.equal((await a.authorize(path(jane, '/apis/apps/v1'))).allowed, true);
  assert.equal((await a.authorize(path(jane, '/metrics'))).allowed, false);
  const anon: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
  assert.equal((await a.authorize(path(anon, '/version'))).allowed, true);
  assert.equal((await a.authorize(path(anon, '/api'))).allowed, false);
  assert.equal((await a.authorize(attrs(jane, 'create', 'selfsubjectaccessreviews', { apiGroup: 'authorization.k8s.io', namespace: '' }))).allowed, true);
  assert.equal((await a.authorize(attrs(jane, 'get', 'pods'))).allowed, false);
});

test('dangling role references deny with the upstream "not found" reason, other bindings still apply', async () => {
  const a = authorizerWith({ crbs: [crb('broken', 'no-such-role', [user('jane')])], rbs: [rb('default', 'b2', 'Role', 'gone', [user('jane')])] });
  const d = await a.authorize(attrs(jane, 'get', 'pods'));
  assert.equal(d.allowed, false);
  assert.equal(d.reason, 'RBAC: [clusterrole.rbac.authorization.k8s.io "no-such-role" not found, role.rbac.authorization.k8s.io "gone" not found]');
  assert.equal((await a.authorize({ user: jane, verb: 'get', resourceRequest: false, path: '/api' })).allowed, true);
});

test('bootstrap tokens may create CSRs; nodes may renew their own', async () => {
  const a = authorizerWith({});
  const bootstrapper: UserInfo = { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'] };
  const csr = (u: UserInfo, verb: string, sub = ''): RequestAttributes => ({ user: u, verb, resourceRequest: true, apiGroup: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource: sub });
  assert.equal((await a.authorize(csr(bootstrapper, 'create'))).allowed, true);
  assert.equal((await a.authorize(csr(bootstrapper, 'create', 'nodeclient'))).allowed, true);
  assert.equal((await a.authorize(csr(bootstrapper, 'delete'))).allowed, false);
  const node: UserInfo = { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
  assert.equal((await a.authorize(csr(node, 'create', 'selfnodeclient'))).allowed, true);
  assert.equal((await a.authorize(attrs(node, 'get', 'secrets'))).allowed, false, 'system:node role is not bound: nodes go through the hub');
});

test('aggregation memo follows ClusterRole changes on the same source (resourceVersion or content)', async () => {
  const roles: V1ClusterRole[] = bootstrapClusterRoles().map((r, i) => ({ ...r, metadata: { ...r.metadata, resourceVersion: String(i + 1) } }));
  const source = staticRbacSource({ clusterRoles: roles, clusterRoleBindings: [crb('jv', 'view', [user('jane')])] });
  const a = new RbacAuthorizer(source);
  const w = attrs(jane, 'get', 'widgets', { apiGroup: 'example.com' });
  assert.equal((await a.authorize(w)).allowed, false);
  roles.push({ metadata: { name: 'widgets-view', resourceVersion: '500', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
    rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] }] });
  assert.equal((await a.authorize(w)).allowed, true, 'new aggregated role seen');
  roles[roles.length - 1] = { ...roles[roles.length - 1]!, metadata: { ...roles[roles.length - 1]!.metadata, resourceVersion: '501', labels: {} } };
  assert.equal((await a.authorize(w)).allowed, false, 'label removed → no longer aggregated');
});
