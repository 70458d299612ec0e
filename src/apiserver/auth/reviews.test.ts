import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ClusterRole, V1ClusterRoleBinding } from '@kubernetes/client-node';
import { RbacAuthorizer } from './rbac/authorizer.js';
import { staticRbacSource } from './rbac/source.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles, user } from './rbac/bootstrap-policy.js';
import {
  ReviewValidationError,
  evaluateLocalSubjectAccessReview,
  evaluateSelfSubjectAccessReview,
  evaluateSelfSubjectRulesReview,
  evaluateSubjectAccessReview,
} from './reviews.js';
import { evaluateSelfSubjectReview } from './self-subject-review.js';
import { forbiddenStatus, unauthorizedStatus } from './status.js';

const binding: V1ClusterRoleBinding = {
  metadata: { name: 'jane-view' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  subjects: [user('jane')],
};
const source = staticRbacSource({ clusterRoles: bootstrapClusterRoles(), clusterRoleBindings: [...bootstrapClusterRoleBindings(), binding] });
const authz = new RbacAuthorizer(source);
const jane = { username: 'jane', groups: ['system:authenticated'] };

test('SelfSubjectAccessReview answers can-i for the requester', async () => {
  const yes = await evaluateSelfSubjectAccessReview(authz, jane, { spec: { resourceAttributes: { namespace: 'default', verb: 'get', resource: 'pods' } } });
  assert.equal(yes.status?.allowed, true);
  assert.equal(yes.kind, 'SelfSubjectAccessReview');
  assert.match(yes.status?.reason ?? '', /allowed by ClusterRoleBinding "jane-view"/);
  const no = await evaluateSelfSubjectAccessReview(authz, jane, { spec: { resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods' } } });
  assert.deepEqual(no.status, { allowed: false });
  const url = await evaluateSelfSubjectAccessReview(authz, jane, { spec: { nonResourceAttributes: { path: '/apis', verb: 'get' } } });
  assert.equal(url.status?.allowed, true);
  await assert.rejects(evaluateSelfSubjectAccessReview(authz, jane, { spec: {} }),
    (e: unknown) => e instanceof ReviewValidationError && e.causes[0]!.field === 'spec.resourceAttributes');
  await assert.rejects(evaluateSelfSubjectAccessReview(authz, jane, { spec: { resourceAttributes: {}, nonResourceAttributes: {} } }), ReviewValidationError);
});

test('SubjectAccessReview evaluates the spec subject and requires one', async () => {
  const r = await evaluateSubjectAccessReview(authz, { spec: { user: 'jane', resourceAttributes: { namespace: 'x', verb: 'list', group: 'apps', resource: 'deployments' } } });
  assert.equal(r.status?.allowed, true);
  const g = await evaluateSubjectAccessReview(authz, { spec: { groups: ['system:masters'], resourceAttributes: { verb: 'delete', resource: 'nodes' } } });
  assert.equal(g.status?.allowed, true);
  await assert.rejects(evaluateSubjectAccessReview(authz, { spec: { resourceAttributes: { verb: 'get', resource: 'pods' } } }), /at least one of user or group/);
});

test('LocalSubjectAccessReview must stay in its namespace', async () => {
  const ok = await evaluateLocalSubjectAccessReview(authz, 'team', { metadata: { namespace: 'team' }, spec: { user: 'jane', resourceAttributes: { namespace: 'team', verb: 'get', resource: 'pods' } } });
  assert.equal(ok.status?.allowed, true);
  await assert.rejects(evaluateLocalSubjectAccessReview(authz, 'team', { spec: { user: 'jane', resourceAttributes: { namespace: 'other', verb: 'get', resource: 'pods' } } }), /must match metadata.namespace/);
});

test('SelfSubjectRulesReview lists resource and URL rules; dangling roles make it incomplete', async () => {
  const r = await evaluateSelfSubjectRulesReview(source, jane, { spec: { namespace: 'default' } });
  assert.equal(r.status?.incomplete, false);
  assert.ok(r.status!.resourceRules.some((x) => x.verbs.includes('get') && x.resources?.includes('pods')));
  assert.ok(r.status!.resourceRules.some((x) => x.resources?.includes('selfsubjectaccessreviews')));
  assert.ok(!r.status!.resourceRules.some((x) => x.verbs.includes('create') && x.resources?.includes('pods')));
  assert.ok(r.status!.nonResourceRules.some((x) => x.nonResourceURLs?.includes('/api/*')));
  const broken: V1ClusterRoleBinding = { metadata: { name: 'b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'missing' }, subjects: [user('jane')] };
  const s2 = staticRbacSource({ clusterRoles: [] as V1ClusterRole[], clusterRoleBindings: [broken] });
  const r2 = await evaluateSelfSubjectRulesReview(s2, jane, { spec: { namespace: 'default' } });
  assert.equal(r2.status?.incomplete, true);
  assert.match(r2.status?.evaluationError ?? '', /"missing" not found/);
});

test('SelfSubjectReview echoes the user', () => {
  const r = evaluateSelfSubjectReview({ username: 'jane', uid: 'u', groups: ['g'] });
  assert.deepEqual(r.status?.userInfo, { username: 'jane', uid: 'u', groups: ['g'] });
});

test('Forbidden and Unauthorized Status bodies match upstream text', () => {
  const s = forbiddenStatus({ user: jane, verb: 'create', resourceRequest: true, apiGroup: '', resource: 'pods', namespace: 'default' });
  assert.equal(s.message, 'pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "default"');
  assert.deepEqual([s.code, s.reason, s.details], [403, 'Forbidden', { kind: 'pods' }]);
  const named = forbiddenStatus({ user: jane, verb: 'get', resourceRequest: true, apiGroup: 'apps', resource: 'deployments', subresource: 'scale', name: 'web', namespace: 'x' });
  assert.equal(named.message, 'deployments.apps "web" is forbidden: User "jane" cannot get resource "deployments/scale" in API group "apps" in the namespace "x"');
  const cluster = forbiddenStatus({ user: jane, verb: 'list', resourceRequest: true, apiGroup: '', resource: 'nodes' }, 'RBAC: boom');
  assert.equal(cluster.message, 'nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: boom');
  const p = forbiddenStatus({ user: jane, verb: 'get', resourceRequest: false, path: '/metrics' });
  assert.equal(p.message, 'forbidden: User "jane" cannot get path "/metrics"');
  assert.deepEqual(unauthorizedStatus(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
});

test('TokenReview: authenticated user, unknown token, refused token with its reason', async () => {
  const { evaluateTokenReview } = await import('./token-review.js');
  const { RequestAuthenticator } = await import('./authn/union.js');
  const { StaticTokenAuthenticator, parseTokenFile } = await import('./authn/token-file.js');
  const { AuthenticationError } = await import('./types.js');
  const refusing = { authenticateToken: async (t: string) => { if (t === 'expired') throw new AuthenticationError('service account token: expired'); return null; } };
  const authn = new RequestAuthenticator({ tokenAuthenticators: [refusing, new StaticTokenAuthenticator(parseTokenFile('t1,alice,u1,dev'))] });
  const ok = await evaluateTokenReview(authn, { spec: { token: 't1' } }, ['https://kubernetes.default.svc.cluster.local']);
  assert.deepEqual(ok.status, { authenticated: true, user: { username: 'alice', groups: ['dev', 'system:authenticated'], uid: 'u1' }, audiences: ['https://kubernetes.default.svc.cluster.local'] });
  assert.deepEqual((await evaluateTokenReview(authn, { spec: { token: 'nope' } })).status, { authenticated: false, user: {} });
  assert.deepEqual((await evaluateTokenReview(authn, { spec: { token: 'expired' } })).status, { authenticated: false, error: '[service account token: expired]', user: {} });
});
