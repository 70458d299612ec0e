import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../apimachinery/status.js';
import { applyStep, managedFieldsStep } from './request-hooks.js';

const def = { group: '', version: 'v1', kind: 'ConfigMap' };
const opts = { manager: 'kubectl', force: false, subresource: '', fieldValidation: 'Strict' as const, namespace: 'default' };

test('applyStep: create, unknown fields per fieldValidation, conflicts as 409 Status with causes', () => {
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '1' }, extra: 1 };
  assert.throws(() => applyStep(def, undefined, body, opts), (e: unknown) => {
    assert.ok(e instanceof StatusError);
    assert.equal(e.code, 400);
    assert.equal(e.message, 'failed to create typed patch object (default/c; /v1, Kind=ConfigMap): .extra: field not declared in schema');
    return true;
  });
  const warned = applyStep(def, undefined, body, { ...opts, fieldValidation: 'Warn' });
  assert.deepEqual(warned.warnings, ['unknown field "extra"']);
  assert.equal((warned.obj as any).extra, undefined);
  const edited = structuredClone(warned.obj) as any;
  edited.data.a = 'edited';
  managedFieldsStep(def, warned.obj, edited, { manager: 'kubectl-edit', subresource: '' });
  assert.deepEqual(edited.metadata.managedFields.map((m: any) => m.manager), ['kubectl-edit'], 'kubectl lost its only field to the edit');
  assert.throws(() => applyStep(def, edited, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: '2' } }, opts), (e: unknown) => {
    assert.ok(e instanceof StatusError);
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    assert.deepEqual(e.status.details?.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-edit" using v1', field: '.data.a' }]);
    return true;
  });
  assert.throws(() => applyStep(def, undefined, [1], opts), (e: unknown) => e instanceof StatusError && e.code === 400);
});
