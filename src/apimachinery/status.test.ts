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
  assert.deepEqual(inv.status.details?.causes?.[0], { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });
  assert.equal(forbidden({ group: '', resource: 'pods' }, '', 'User "jane" cannot list resource "pods" in API group "" in the namespace "default"').message,
    'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"');
  assert.equal(tooOldResourceVersion(5, 10).message, 'too old resource version: 5 (10)');
  assert.equal(tooOldResourceVersion(5, 10).reason, 'Expired');
  assert.equal(requestEntityTooLarge(3145728).code, 413);
});
