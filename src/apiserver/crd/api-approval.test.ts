import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { apiApprovalCondition, apiApprovalState, isProtectedCommunityGroup, validateApiApproval } from './api-approval.js';

const crd = (group: string, annotation?: string): V1CustomResourceDefinition => ({
  metadata: { name: `foos.${group}`, annotations: annotation === undefined ? undefined : { 'api-approved.kubernetes.io': annotation } },
  spec: { group, scope: 'Namespaced', names: { plural: 'foos', kind: 'Foo' }, versions: [] },
});

test('protected groups are k8s.io, kubernetes.io and their subgroups only', () => {
  for (const g of ['k8s.io', 'sigs.k8s.io', 'kubernetes.io', 'x.kubernetes.io']) assert.equal(isProtectedCommunityGroup(g), true, g);
  for (const g of ['other.io', 'k8s.io.example.com', 'notk8s.io', 'fakekubernetes.io']) assert.equal(isProtectedCommunityGroup(g), false, g);
});

test('approval states and condition texts as upstream (apihelpers.GetAPIApprovalState, apiapproval controller)', () => {
  assert.equal(apiApprovalState({ 'api-approved.kubernetes.io': 'unapproved' }).state, 'Bypassed');
  assert.equal(apiApprovalState({ 'api-approved.kubernetes.io': 'Unapproved' }).state, 'Invalid');
  assert.equal(apiApprovalState({ 'api-approved.kubernetes.io': '' }).state, 'Missing');
  assert.equal(apiApprovalState({}).state, 'Missing');
  assert.equal(apiApprovalState({ 'api-approved.kubernetes.io': 'https://github.com/kubernetes/kubernetes/pull/79724' }).state, 'Approved');
  assert.equal(apiApprovalCondition(crd('other.io')), undefined);
  assert.deepEqual(apiApprovalCondition(crd('sigs.k8s.io')), { type: 'KubernetesAPIApprovalPolicyConformant', status: 'False', reason: 'MissingAnnotation',
    message: 'protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111' });
  assert.deepEqual(apiApprovalCondition(crd('sigs.k8s.io', 'bad value')), { type: 'KubernetesAPIApprovalPolicyConformant', status: 'False', reason: 'InvalidAnnotation',
    message: 'protected groups must have approval annotation "api-approved.kubernetes.io" with either a URL or a reason starting with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111' });
  assert.deepEqual(apiApprovalCondition(crd('sigs.k8s.io', 'unapproved for reasons'))?.message, 'not approved: "unapproved for reasons"');
  assert.deepEqual(apiApprovalCondition(crd('sigs.k8s.io', 'https://github.com/kubernetes/kubernetes/pull/79724'))?.reason, 'ApprovedAnnotation');
});

test('validation: create needs a usable annotation; an update that keeps the state passes (stored CRDs keep working)', () => {
  assert.deepEqual(validateApiApproval(crd('sigs.k8s.io')).map((e) => e.type), ['Required']);
  assert.deepEqual(validateApiApproval(crd('sigs.k8s.io', 'invalid')).map((e) => e.type), ['Invalid']);
  assert.deepEqual(validateApiApproval(crd('sigs.k8s.io', 'unapproved')), []);
  assert.deepEqual(validateApiApproval(crd('other.io', 'invalid')), []);
  assert.deepEqual(validateApiApproval(crd('sigs.k8s.io', 'invalid'), crd('sigs.k8s.io', 'invalid')), []);
  assert.deepEqual(validateApiApproval(crd('sigs.k8s.io'), crd('sigs.k8s.io', 'invalid')).map((e) => e.type), ['Required']);
});
