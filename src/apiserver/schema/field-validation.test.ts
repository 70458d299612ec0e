import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unknownFieldsOfBuiltin, unknownFieldsOfCustomResource, type StructuralSchema } from './unknown-fields.js';
import { duplicateFieldsInJson, duplicateFieldsInYaml } from './duplicate-fields.js';
import { fieldValidationOutcome, parseFieldValidation } from './field-validation.js';

const pod = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'p', labels: { a: 'b' }, bogusMeta: 1, ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'n', uid: 'u', extra: true }] },
  spec: {
    foo: 1,
    containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80, bar: 'x' }], resources: { limits: { cpu: '1' } } }],
    nodeSelector: { anything: 'goes' },
  },
};

test('unknown fields of a built-in, worded as upstream paths', () => {
  assert.deepEqual(unknownFieldsOfBuiltin(pod, '', 'v1', 'Pod'), [
    'metadata.bogusMeta', 'metadata.ownerReferences[0].extra', 'spec.foo', 'spec.containers[0].ports[0].bar',
  ]);
  assert.deepEqual(unknownFieldsOfBuiltin({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { replicas: 1, template: { spec: { containers: [] } } } }, 'apps', 'v1', 'Deployment'), []);
  assert.deepEqual(unknownFieldsOfBuiltin({ data: { k: 'v' }, binaryData: {}, immutable: true, zz: 1 }, '', 'v1', 'ConfigMap'), ['zz']);
});

const crSchema: StructuralSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      properties: {
        cronSpec: { type: 'string' },
        items: { type: 'array', items: { type: 'object', properties: { n: { type: 'integer' } } } },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
  },
};

test('unknown fields of a custom resource; prune removes them', () => {
  const cr = {
    apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name: 'x', nope: 1 },
    spec: { cronSpec: '* * * * *', other: 1, items: [{ n: 1, m: 2 }], free: { any: { thing: 1 } }, labels: { a: 'b' } },
    status: { s: 1 },
  };
  assert.deepEqual(unknownFieldsOfCustomResource(cr, crSchema), ['metadata.nope', 'spec.other', 'spec.items[0].m', 'status']);
  const pruned = structuredClone(cr);
  unknownFieldsOfCustomResource(pruned, crSchema, { prune: true });
  assert.deepEqual(pruned, {
    apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name: 'x' },
    spec: { cronSpec: '* * * * *', items: [{ n: 1 }], free: { any: { thing: 1 } }, labels: { a: 'b' } },
  });
});

test('duplicate fields in JSON and YAML', () => {
  assert.deepEqual(duplicateFieldsInJson('{"a":1,"spec":{"replicas":1,"x":[{"k":"v","k":"w"}],"replicas":2},"a":"s\\"q"}'), [
    'spec.x[0].k', 'spec.replicas', 'a',
  ]);
  assert.deepEqual(duplicateFieldsInJson('{"a":1}'), []);
  assert.deepEqual(duplicateFieldsInYaml('a: 1\nspec:\n  replicas: 1\n  replicas: 2\n'), ['line 4: key "replicas" already set in map']);
});

test('Strict fails with upstream wording, Warn warns, Ignore ignores', () => {
  const findings = { unknown: ['spec.foo', 'spec.bar'], duplicateJson: ['spec.replicas'] };
  assert.deepEqual(fieldValidationOutcome('Strict', findings), {
    error: 'strict decoding error: unknown field "spec.foo", unknown field "spec.bar", duplicate field "spec.replicas"', warnings: [],
  });
  assert.equal(fieldValidationOutcome('Strict', { unknown: ['spec.foo'] }, { kind: 'Pod', version: 'v1' }).error,
    'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo"');
  assert.deepEqual(fieldValidationOutcome('Warn', findings).warnings, ['unknown field "spec.foo"', 'unknown field "spec.bar"', 'duplicate field "spec.replicas"']);
  assert.deepEqual(fieldValidationOutcome('Ignore', findings), { warnings: [] });
  assert.deepEqual(fieldValidationOutcome('Strict', { unknown: [] }), { warnings: [] });
  assert.deepEqual(parseFieldValidation(undefined), { directive: 'Warn' });
  assert.deepEqual(parseFieldValidation('Strict'), { directive: 'Strict' });
  const bad = parseFieldValidation('Loose', 'PatchOptions');
  assert.ok('invalid' in bad);
  assert.equal(bad.invalid.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": supported values: "Ignore", "Strict", "Warn"');
});

test('pruneUnknownFields removes what upstream would never store', async () => {
  const { pruneUnknownFields } = await import('./field-validation.js');
  const obj: any = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', junk: 1 }, data: { a: 'b' }, extra: true };
  assert.deepEqual(pruneUnknownFields({ group: '', version: 'v1', kind: 'ConfigMap' }, obj), ['metadata.junk', 'extra']);
  assert.deepEqual(obj, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } });
});
