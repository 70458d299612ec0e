import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { defaultCrd, validateCrd, validateCrdUpdate } from './crd-validation.js';
import { updateCrdStatus, isEstablished } from './crd-status.js';
import { applyDefaults } from './defaulting.js';
import { cellValue, parseJsonPath, printerColumnsOf } from './printer-columns.js';
import { customResourceDefs, compareKubeVersions } from './custom-resources.js';
import { compileValidator } from './schema-validator.js';

const crd = (): V1CustomResourceDefinition => ({
  apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
  metadata: { name: 'crontabs.stable.example.com' },
  spec: {
    group: 'stable.example.com', scope: 'Namespaced',
    names: { plural: 'crontabs', kind: 'CronTab', shortNames: ['ct'] } as V1CustomResourceDefinition['spec']['names'],
    versions: [{
      name: 'v1', served: true, storage: true,
      subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
      additionalPrinterColumns: [
        { name: 'Spec', type: 'string', jsonPath: '.spec.cronSpec' },
        { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
        { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', priority: 1 },
      ],
      schema: { openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: { type: 'object', required: ['cronSpec'], properties: {
            cronSpec: { type: 'string', pattern: '^(\\S+\\s){4}\\S+$' },
            image: { type: 'string', default: 'busybox' },
            replicas: { type: 'integer', minimum: 1, default: 1 },
            policy: { type: 'object', default: {}, properties: { mode: { type: 'string', enum: ['Allow', 'Forbid'], default: 'Allow' } } },
          } },
          status: { type: 'object', properties: { replicas: { type: 'integer' }, conditions: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { type: 'string' } } } } } },
        },
      } as never },
    }],
  },
});

test('a good CRD validates; defaults fill singular and listKind', () => {
  const c = crd();
  defaultCrd(c);
  assert.equal(c.spec.names.singular, 'crontab');
  assert.equal(c.spec.names.listKind, 'CronTabList');
  assert.deepEqual(validateCrd(c), []);
});

test('CRD validation errors are worded as upstream', () => {
  const c = crd();
  c.metadata!.name = 'wrong';
  c.spec.group = 'nodot';
  c.spec.scope = 'Global';
  c.spec.versions[0].storage = false;
  (c.spec.versions[0].schema!.openAPIV3Schema as any).properties.spec.properties.loose = { description: 'no type' };
  c.spec.versions[0].additionalPrinterColumns![0].jsonPath = 'spec.cronSpec';
  const errs = validateCrd(c).map((e) => `${e.field}: ${e.type} ${e.detail ?? ''}`);
  assert.ok(errs.includes('spec.group: Invalid should be a domain with at least one dot'), errs.join('\n'));
  assert.ok(errs.includes('metadata.name: Invalid must be spec.names.plural+"."+spec.group'));
  assert.ok(errs.some((e) => e.startsWith('spec.scope: NotSupported')));
  assert.ok(errs.includes('spec.versions: Invalid must have exactly one version marked as storage version'));
  assert.ok(errs.includes('spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[loose].type: Required must not be empty for specified object fields'));
  assert.ok(errs.includes('spec.versions[0].additionalPrinterColumns[0].JSONPath: Invalid must be a simple json path starting with .'));
  const noSchema = crd();
  delete noSchema.spec.versions[0].schema;
  assert.deepEqual(validateCrd(noSchema).map((e) => [e.field, e.detail]), [['spec.versions[0].schema.openAPIV3Schema', 'schemas are required']]);
  const moved = crd();
  moved.spec.scope = 'Cluster';
  assert.ok(validateCrdUpdate(moved, crd()).some((e) => e.field === 'spec.scope' && e.detail === 'field is immutable'));
});

test('status: names accepted and established, or a names conflict', () => {
  const c = crd();
  defaultCrd(c);
  updateCrdStatus(c, [], new Date('2026-01-01T00:00:00Z'));
  assert.ok(isEstablished(c));
  assert.deepEqual(c.status!.conditions!.map((x) => [x.type, x.status, x.reason]), [['NamesAccepted', 'True', 'NoConflicts'], ['Established', 'True', 'InitialNamesAccepted']]);
  assert.deepEqual(c.status!.storedVersions, ['v1']);
  assert.equal(c.status!.acceptedNames?.plural, 'crontabs');
  const clash = crd();
  clash.metadata!.name = 'crontabz.stable.example.com';
  clash.spec.names = { ...clash.spec.names, plural: 'crontabz', shortNames: ['ct'] };
  defaultCrd(clash);
  updateCrdStatus(clash, [c]);
  assert.equal(isEstablished(clash), false);
  const na = clash.status!.conditions!.find((x) => x.type === 'NamesAccepted')!;
  assert.equal(na.status, 'False');
  assert.ok(['SingularConflict', 'ShortNamesConflict', 'KindConflict'].includes(na.reason!), na.reason);
});

test('defaulting, including nested defaults of defaulted objects', () => {
  const schema = (crd().spec.versions[0].schema!.openAPIV3Schema as any);
  const obj: any = { spec: { cronSpec: '* * * * *' } };
  applyDefaults(obj, schema);
  assert.deepEqual(obj.spec, { cronSpec: '* * * * *', image: 'busybox', replicas: 1, policy: { mode: 'Allow' } });
  const keep: any = { spec: { replicas: 3, image: 'x', policy: { mode: 'Forbid' } } };
  applyDefaults(keep, schema);
  assert.deepEqual(keep.spec, { replicas: 3, image: 'x', policy: { mode: 'Forbid' } });
});

test('schema validation: upstream wording for type, required, enum, pattern, minimum', () => {
  const v = compileValidator(crd().spec.versions[0].schema!.openAPIV3Schema as never);
  const errs = v({ spec: { replicas: 'two', policy: { mode: 'Maybe' } } });
  assert.deepEqual(errs.map((e) => [e.type, e.field, e.detail]), [
    ['Required', 'spec.cronSpec', undefined],
    ['Invalid', 'spec.replicas', 'spec.replicas in body must be of type integer: "string"'],
    ['NotSupported', 'spec.policy.mode', undefined],
  ]);
  assert.deepEqual(v({ spec: { cronSpec: 'bad', replicas: 0 } }).map((e) => e.detail), [
    "spec.cronSpec in body should match '^(\\S+\\s){4}\\S+$'",
    'spec.replicas in body should be greater than or equal to 1',
  ]);
  assert.deepEqual(v({ apiVersion: 'x', kind: 'y', metadata: { name: 'n' }, spec: { cronSpec: '* * * * *' } }), []);
});

test('printer columns: JSONPath subset and typed cells', () => {
  const obj = { metadata: { creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { cronSpec: '* * * * *', replicas: 2, list: [{ n: 'a' }, { n: 'b' }], 'dotted.key': 'd' },
    status: { conditions: [{ type: 'Other', status: 'False' }, { type: 'Ready', status: 'True' }] } };
  const cols = printerColumnsOf(crd().spec.versions[0].additionalPrinterColumns);
  const now = Date.parse('2026-01-01T00:05:00Z');
  assert.deepEqual(cols.map((c) => cellValue(obj, c, now)), ['* * * * *', 2, 'True']);
  assert.equal(cellValue(obj, { name: 'x', type: 'string', jsonPath: '.spec.list[*].n' }, now), 'a');
  assert.equal(cellValue(obj, { name: 'x', type: 'string', jsonPath: ".spec['dotted.key']" }, now), 'd');
  assert.equal(cellValue(obj, { name: 'x', type: 'string', jsonPath: '.spec.missing' }, now), null);
  assert.equal(cellValue(obj, { name: 'x', type: 'integer', jsonPath: '.spec.cronSpec' }, now), null, 'type mismatch → <none>');
  assert.deepEqual(printerColumnsOf(undefined).map((c) => [c.name, c.type]), [['Age', 'date']]);
  assert.equal(cellValue(obj, printerColumnsOf(undefined)[0], now), '5m');
  assert.throws(() => parseJsonPath('.a[?(@.x > 1)]'));
});

test('custom resource definitions for the registry: strategy prunes, defaults, validates; table; scale', () => {
  const c = crd();
  defaultCrd(c);
  const [def] = customResourceDefs(c);
  assert.equal(def.resource, 'crontabs');
  assert.equal(def.namespaced, true);
  assert.deepEqual(def.subresources, ['status', 'scale']);
  assert.equal(def.scale!.specReplicasPath, '.spec.replicas');
  const obj: any = { apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name: 'x', namespace: 'default' }, spec: { cronSpec: '* * * * *', junk: 1 } };
  def.strategy.defaults!(obj);
  def.strategy.prepareForCreate!(obj, { namespace: 'default', dryRun: false, subresource: '', user: { username: 'u', groups: [] } as never });
  assert.equal(obj.spec.junk, undefined, 'unknown fields are pruned');
  assert.equal(obj.spec.replicas, 1);
  assert.deepEqual(def.strategy.validate!(obj, {} as never), []);
  assert.deepEqual(def.table!.columns.map((col) => col.name), ['Name', 'Spec', 'Replicas', 'Ready']);
  assert.deepEqual(def.table!.cells(obj, Date.now()), ['x', '* * * * *', 1, null]);
  const unserved = crd();
  unserved.spec.versions[0].served = false;
  assert.deepEqual(customResourceDefs(unserved), []);
});

test('served versions are registered in Kubernetes version priority (discovery prefers the first)', () => {
  assert.deepEqual(['v1alpha1', 'v2beta1', 'foo', 'v1beta2', 'v1', 'v2', 'v1beta1'].sort(compareKubeVersions), ['v2', 'v1', 'v2beta1', 'v1beta2', 'v1beta1', 'v1alpha1', 'foo']);
  const c = crd();
  c.spec.versions = [{ ...c.spec.versions[0], name: 'v1beta1', storage: false }, c.spec.versions[0]];
  assert.deepEqual(customResourceDefs(c).map((d) => d.version), ['v1', 'v1beta1']);
});

test('list-type set/map duplicates and list-type schema rules', () => {
  const schema = { type: 'object', properties: { spec: { type: 'object', properties: {
    tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
    ports: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['port'], items: { type: 'object', properties: { port: { type: 'integer' } } } },
  } } } };
  const v = compileValidator(schema as never);
  assert.deepEqual(v({ spec: { tags: ['a', 'b', 'a'], ports: [{ port: 80 }, { port: 80 }] } }).map((e) => [e.type, e.field, e.value]), [
    ['Duplicate', 'spec.tags[2]', 'a'],
    ['Duplicate', 'spec.ports[1]', { port: 80 }],
  ]);
  const c = crd();
  (c.spec.versions[0].schema!.openAPIV3Schema as any).properties.spec.properties.bad = { type: 'array', 'x-kubernetes-list-type': 'map', items: { type: 'object' } };
  (c as any).spec.preserveUnknownFields = true;
  const errs = validateCrd(c).map((e) => `${e.field}: ${e.detail}`);
  assert.ok(errs.includes('spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[bad].x-kubernetes-list-map-keys: must not be empty if x-kubernetes-list-type is map'), errs.join('\n'));
  assert.ok(errs.some((e) => e.startsWith('spec.preserveUnknownFields: cannot set to true')));
});

test('malformed CRDs of any shape get field errors, never exceptions', () => {
  let seed = 3;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const keys = ['spec', 'metadata', 'name', 'group', 'names', 'plural', 'kind', 'singular', 'listKind', 'shortNames', 'versions', 'served', 'storage',
    'schema', 'openAPIV3Schema', 'type', 'properties', 'items', 'additionalPrinterColumns', 'jsonPath', 'subresources', 'scale', 'specReplicasPath', 'scope',
    'x-kubernetes-list-type', 'additionalProperties', 'conversion'];
  const gen = (d: number): unknown => {
    const r = rnd();
    if (d > 5 || r < 0.2) return [null, 1, 'x', true, 'object', 'array', '.spec.a', 'Namespaced', 'a.b', []][Math.floor(rnd() * 10)];
    if (r < 0.45) return Array.from({ length: Math.floor(rnd() * 3) }, () => gen(d + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 1 + rnd() * 5; i++) o[keys[Math.floor(rnd() * keys.length)]] = gen(d + 1);
    return o;
  };
  for (let i = 0; i < 5000; i++) {
    const c = gen(0) as any;
    const o = gen(0) as any;
    if (!c || typeof c !== 'object' || Array.isArray(c)) continue;
    defaultCrd(c);
    validateCrd(c);
    if (o && typeof o === 'object' && !Array.isArray(o)) validateCrdUpdate(c, o);
  }
});
