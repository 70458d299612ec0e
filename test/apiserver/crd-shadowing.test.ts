/**
 * A tenant with CRD rights against the built-in API (docs/design/security.md §5), with the real `kedge server`
 * and kubectl: a CRD named after a built-in resource (roles.rbac.authorization.k8s.io) is accepted, as upstream,
 * but the built-in keeps being served while it exists and after it is deleted, and deleting it deletes no Role.
 * CRDs in k8s.io / kubernetes.io groups need the api-approved.kubernetes.io annotation and report
 * KubernetesAPIApprovalPolicyConformant with upstream's reasons and messages.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { KedgeServerEnv, eventually } from './kubectl-env.js';

const env = new KedgeServerEnv();
before(async () => { await env.start(); });
after(async () => { await env.cleanup(); });

const KEP = 'https://github.com/kubernetes/enhancements/pull/1111';

function crdYaml(group: string, plural: string, kind: string, annotation?: string): string {
  return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
${annotation === undefined ? '' : `  annotations:\n    api-approved.kubernetes.io: ${JSON.stringify(annotation)}\n`}spec:
  group: ${group}
  scope: Namespaced
  names: { plural: ${plural}, singular: ${kind.toLowerCase()}, kind: ${kind} }
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;
}

interface Condition { type: string; status: string; reason: string; message: string }
async function conditions(name: string): Promise<Condition[]> {
  const crd = await env.json<{ status?: { conditions?: Condition[] } }>(['get', 'crd', name]);
  return crd.status?.conditions ?? [];
}

test('a CRD named roles.rbac.authorization.k8s.io leaves the Role API and every Role intact across create and delete', async () => {
  await env.ok(['create', 'namespace', 'tenant']);
  await env.ok(['create', 'role', 'reader', '-n', 'tenant', '--verb=get,list', '--resource=pods']);
  await env.ok(['create', 'role', 'writer', '-n', 'default', '--verb=create', '--resource=configmaps']);
  const rolesBefore = (await env.ok(['get', 'roles', '-A', '-o', 'name'])).trim().split('\n').sort();
  assert.ok(rolesBefore.includes('role.rbac.authorization.k8s.io/reader'), rolesBefore.join(','));

  // Accepted, as upstream accepts it (with an "unapproved" annotation, required in this group).
  await env.ok(['apply', '-f', '-'], crdYaml('rbac.authorization.k8s.io', 'roles', 'Role', 'unapproved, shadowing test'));
  await env.ok(['wait', '--for=condition=established', 'crd/roles.rbac.authorization.k8s.io', '--timeout=20s']);

  // While it exists: the built-in Role API answers (its validation, its objects).
  const role = await env.json<{ rules?: { verbs: string[] }[] }>(['get', 'role', 'reader', '-n', 'tenant']);
  assert.deepEqual(role.rules?.[0]?.verbs, ['get', 'list']);
  const bad = await env.fails(['create', '-f', '-'], 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: norules, namespace: tenant}\nrules: [{verbs: []}]\n');
  assert.match(bad, /rules\[0\]\.verbs: Required value/, 'the built-in Role validation still applies');
  await env.ok(['create', 'role', 'during', '-n', 'tenant', '--verb=get', '--resource=secrets']);
  const kinds = await env.ok(['api-resources', '--api-group=rbac.authorization.k8s.io', '-o', 'name']);
  assert.match(kinds, /^roles\.rbac\.authorization\.k8s\.io$/m);
  assert.deepEqual((await env.ok(['get', 'roles', '-A', '-o', 'name'])).trim().split('\n').sort(), [...rolesBefore, 'role.rbac.authorization.k8s.io/during'].sort());

  // Deleting it deletes the CRD and nothing else.
  await env.ok(['delete', 'crd', 'roles.rbac.authorization.k8s.io', '--timeout=30s']);
  await eventually('the CRD to be gone', async () => (await env.kubectl(['get', 'crd', 'roles.rbac.authorization.k8s.io'])).code !== 0);
  assert.deepEqual((await env.ok(['get', 'roles', '-A', '-o', 'name'])).trim().split('\n').sort(), [...rolesBefore, 'role.rbac.authorization.k8s.io/during'].sort());
  await env.ok(['create', 'role', 'after', '-n', 'tenant', '--verb=get', '--resource=pods']);
  const stillBuiltin = await env.json<{ rules?: unknown[] }>(['get', 'role', 'after', '-n', 'tenant']);
  assert.equal(stillBuiltin.rules?.length, 1);
  // RBAC still works from those Roles: bind one and ask.
  await env.ok(['create', 'rolebinding', 'reader-bob', '-n', 'tenant', '--role=reader', '--user=bob']);
  await eventually('bob can list pods in tenant', async () => (await env.kubectl(['auth', 'can-i', 'list', 'pods', '-n', 'tenant', '--as=bob'])).stdout.trim() === 'yes');
});

test('CRDs in k8s.io groups: api-approved.kubernetes.io is required on create and KubernetesAPIApprovalPolicyConformant reports it', async () => {
  const missing = await env.fails(['apply', '-f', '-'], crdYaml('widgets.k8s.io', 'gadgets', 'Gadget'));
  assert.match(missing, new RegExp(`metadata\\.annotations\\[api-approved\\.kubernetes\\.io\\]: Required value: protected groups must have approval annotation "api-approved\\.kubernetes\\.io", see ${KEP.replace(/[./]/g, '\\$&')}`), missing);
  const invalid = await env.fails(['apply', '-f', '-'], crdYaml('widgets.k8s.io', 'gadgets', 'Gadget', 'bad value'));
  assert.match(invalid, /metadata\.annotations\[api-approved\.kubernetes\.io\]: Invalid value: "bad value": protected groups must have approval annotation "api-approved\.kubernetes\.io" with either a URL or a reason starting with "unapproved"/, invalid);
  assert.notEqual((await env.kubectl(['get', 'crd', 'gadgets.widgets.k8s.io'])).code, 0, 'refused CRDs are not stored');

  await env.ok(['apply', '-f', '-'], crdYaml('widgets.k8s.io', 'gadgets', 'Gadget', 'https://github.com/kubernetes/kubernetes/pull/79724'));
  const approved = (await conditions('gadgets.widgets.k8s.io')).find((c) => c.type === 'KubernetesAPIApprovalPolicyConformant');
  assert.deepEqual([approved?.status, approved?.reason, approved?.message], ['True', 'ApprovedAnnotation', 'approved in https://github.com/kubernetes/kubernetes/pull/79724']);

  await env.ok(['apply', '-f', '-'], crdYaml('sprockets.kubernetes.io', 'cogs', 'Cog', 'unapproved, experimental-only'));
  const unapproved = (await conditions('cogs.sprockets.kubernetes.io')).find((c) => c.type === 'KubernetesAPIApprovalPolicyConformant');
  assert.deepEqual([unapproved?.status, unapproved?.reason, unapproved?.message], ['False', 'UnapprovedAnnotation', 'not approved: "unapproved, experimental-only"']);
  // Served all the same, as upstream.
  await env.ok(['apply', '-f', '-'], 'apiVersion: sprockets.kubernetes.io/v1\nkind: Cog\nmetadata: {name: c1, namespace: default}\nteeth: 12\n');

  // Changing an approved CRD's annotation to an invalid one is refused; removing it too.
  const annotated = await env.kubectl(['annotate', '--overwrite', 'crd', 'gadgets.widgets.k8s.io', 'api-approved.kubernetes.io=nope']);
  assert.notEqual(annotated.code, 0);
  assert.match(annotated.stderr, /Invalid value: "nope"/);
  const removed = await env.kubectl(['annotate', 'crd', 'gadgets.widgets.k8s.io', 'api-approved.kubernetes.io-']);
  assert.notEqual(removed.code, 0);
  assert.match(removed.stderr, /Required value: protected groups must have approval annotation/);

  // Outside the protected groups: no annotation needed, no condition.
  await env.ok(['apply', '-f', '-'], crdYaml('example.com', 'things', 'Thing'));
  assert.equal((await conditions('things.example.com')).some((c) => c.type === 'KubernetesAPIApprovalPolicyConformant'), false);
});
