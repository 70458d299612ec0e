import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alreadyExists, conflictModified, forbidden, invalid, notFound, tooOldResourceVersion, requestEntityTooLarge } from './status.js';

test('Status errors read exactly as upstream', () => {
  assert.equal(notFound({ group: '', resource: 'pods' }, 'x').message, 'pods "x" not found');
  assert.deepEqual(notFound({ group: 'apps', resource: 'deployments' }, 'web').status.details, { name: 'web', group: 'apps', kind: 'deployments' });
  assert.equal(notFound({ group: 'apps', resource: 'deployments' }, 'web').message, 'deployments.apps "web" not found');
  const ae = alreadyExists({ group: '', resource: 'configmaps' }, 'c');
  assert.equal(ae.code, 409);
  assert.equal(ae.reason, 'AlreadyExists');
  assert.equal(conflictModified({ group: '', resource: 'pods' }, 'p').message,
    'Operation cannot be fulfilled on pods "p": the object has been modified; please apply your changes to the latest version and try again');
  const inv = invalid('Pod', '', 'p', [{ type: 'Required', field: 'spec.containers' }, { type: 'Invalid', field: 'metadata.name', value: 'P', detail: 'bad' }]);
  assert.equal(inv.code, 422);
  assert.equal(inv.message, 'Pod "p" is invalid: [spec.containers: Required value, metadata.name: Invalid value: "P": bad]');
  // Non-core kinds carry their group in the message (upstream's GroupKind.String()); the name is always quoted.
  const dep = invalid('Deployment', 'apps', 'web', [{ type: 'Required', field: 'spec.selector' }]);
  assert.equal(dep.message, 'Deployment.apps "web" is invalid: spec.selector: Required value');
  assert.deepEqual({ kind: dep.status.details?.kind, group: dep.status.details?.group, name: dep.status.details?.name }, { kind: 'Deployment', group: 'apps', name: 'web' });
  assert.equal(invalid('TokenRequest', 'authentication.k8s.io', 'x', [{ type: 'Invalid', field: 'spec.expirationSeconds', value: 1, detail: 'too short' }]).message,
    'TokenRequest.authentication.k8s.io "x" is invalid: spec.expirationSeconds: Invalid value: 1: too short');
  assert.equal(invalid('PatchOptions', 'meta.k8s.io', '', [{ type: 'Required', field: 'fieldManager', detail: 'is required for apply patch' }]).message,
    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  assert.equal(inv.status.details?.group, undefined, 'core kinds have no group in details');
  assert.deepEqual(inv.status.details?.causes?.[0], { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });
  assert.equal(forbidden({ group: '', resource: 'pods' }, '', 'User "jane" cannot list resource "pods" in API group "" in the namespace "default"').message,
    'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"');
  assert.equal(tooOldResourceVersion(5, 10).message, 'too old resource version: 5 (10)');
  assert.equal(tooOldResourceVersion(5, 10).reason, 'Expired');
  assert.equal(requestEntityTooLarge(3145728).code, 413);
});
