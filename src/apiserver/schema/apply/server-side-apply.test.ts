import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSideApply, updateManagedFields, ApplyConflictError, defaultFieldManager, type ResourceTarget } from './server-side-apply.js';
import { fromFieldsV1, toFieldsV1, pathToString, FieldSet } from './fieldset.js';

const CM: ResourceTarget = { group: '', version: 'v1', kind: 'ConfigMap' };
const DEPLOY: ResourceTarget = { group: 'apps', version: 'v1', kind: 'Deployment', hasStatusSubresource: true };
const now = new Date('2026-01-02T03:04:05.678Z');
const cm = (data: Record<string, string>, labels?: Record<string, string>) =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', ...(labels ? { labels } : {}) }, data });
const managed = (o: any) => o.metadata.managedFields.map((e: any) => ({ manager: e.manager, operation: e.operation, fieldsV1: e.fieldsV1 }));

test('fieldsV1 round trip and upstream path rendering', () => {
  const v1 = { 'f:data': { '.': {}, 'f:a': {} }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } };
  const set = fromFieldsV1(v1);
  assert.deepEqual(toFieldsV1(set), v1);
  assert.equal(pathToString(['f:spec', 'f:containers', 'k:{"name":"app"}', 'f:image']), '.spec.containers[name="app"].image');
  assert.equal(pathToString(['f:metadata', 'f:finalizers', 'v:"x"']), '.metadata.finalizers[="x"]');
  assert.equal(defaultFieldManager('kubectl/v1.32.0 (linux/amd64) kubernetes/abc'), 'kubectl');
  assert.ok(FieldSet.of([['f:a', 'f:b']]).hasPrefix(['f:a']));
});

test('create on apply, then re-apply drops fields the applier no longer sets', () => {
  let obj = serverSideApply({ applied: cm({ a: '1', b: '2' }, { x: 'y' }), manager: 'kubectl', force: false, target: CM, now });
  assert.deepEqual(obj.data, { a: '1', b: '2' });
  assert.equal((obj.metadata as any).name, 'c');
  assert.deepEqual(managed(obj), [{ manager: 'kubectl', operation: 'Apply',
    fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} }, 'f:metadata': { 'f:labels': { 'f:x': {} } } } }]);
  assert.equal((obj.metadata as any).managedFields[0].time, '2026-01-02T03:04:05Z');
  obj = serverSideApply({ live: obj, applied: cm({ a: '1' }), manager: 'kubectl', force: false, target: CM, now });
  assert.deepEqual(obj.data, { a: '1' });
  assert.equal((obj.metadata as any).labels, undefined, 'labels map emptied by removal is dropped');
});

test('conflicts with another manager: 409 with upstream text; force takes ownership', () => {
  let obj = serverSideApply({ applied: cm({ a: '1', b: '2' }), manager: 'kubectl', force: false, target: CM, now });
  // Someone edits data.a with an ordinary update.
  const edited = structuredClone(obj) as any;
  edited.data.a = 'edited';
  obj = updateManagedFields({ old: obj, updated: edited, manager: 'editor', target: CM, now });
  assert.deepEqual(managed(obj).map((e: any) => [e.manager, e.fieldsV1]), [
    ['kubectl', { 'f:data': { 'f:b': {} } }],
    ['editor', { 'f:data': { 'f:a': {} } }],
  ]);
  assert.throws(() => serverSideApply({ live: obj, applied: cm({ a: 'mine', b: '2' }), manager: 'kubectl', force: false, target: CM, now }),
    (e: unknown) => {
      assert.ok(e instanceof ApplyConflictError);
      assert.equal(e.message, 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.a');
      assert.deepEqual(e.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "editor" using v1', field: '.data.a' }]);
      return true;
    });
  // Applying the value the other manager set is not a conflict: ownership is shared.
  const shared = serverSideApply({ live: obj, applied: cm({ a: 'edited', b: '2' }), manager: 'kubectl', force: false, target: CM, now });
  assert.deepEqual(managed(shared).map((e: any) => e.manager), ['kubectl', 'editor']);
  assert.deepEqual(managed(shared)[1].fieldsV1, { 'f:data': { 'f:a': {} } });
  const forced = serverSideApply({ live: obj, applied: cm({ a: 'mine', b: '2' }), manager: 'kubectl', force: true, target: CM, now });
  assert.equal((forced.data as any).a, 'mine');
  assert.deepEqual(managed(forced).map((e: any) => e.manager), ['kubectl'], 'editor lost its only field and its entry');
});

test('several conflicts are grouped per manager', () => {
  const base = serverSideApply({ applied: cm({ a: '1', b: '2' }), manager: 'one', force: false, target: CM, now });
  assert.throws(() => serverSideApply({ live: base, applied: cm({ a: 'x', b: 'y' }), manager: 'two', force: false, target: CM, now }),
    { message: 'Apply failed with 2 conflicts: conflicts with "one":\n- .data.a\n- .data.b' });
});

const deploy = (containers: Array<{ name: string; image: string }>, replicas?: number) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
  spec: { ...(replicas ? { replicas } : {}), selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers } } },
  status: { replicas: 99 },
});

test('list-map elements are owned per key; status is not the main resource\'s to apply', () => {
  let obj = serverSideApply({ applied: deploy([{ name: 'app', image: 'a:1' }], 2), manager: 'team-a', force: false, target: DEPLOY, now });
  assert.equal(obj.status, undefined, 'status in an apply to the main resource is ignored');
  const fields = managed(obj)[0].fieldsV1;
  assert.deepEqual(fields['f:spec']['f:template']['f:spec']['f:containers'], { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } });
  assert.deepEqual(fields['f:spec']['f:selector'], {}, 'LabelSelector is an atomic struct');
  obj = serverSideApply({ live: obj, applied: deploy([{ name: 'sidecar', image: 's:1' }]), manager: 'team-b', force: false, target: DEPLOY, now });
  const names = () => ((obj.spec as any).template.spec.containers as any[]).map((c) => c.name);
  assert.deepEqual(names(), ['app', 'sidecar']);
  assert.equal((obj.spec as any).replicas, 2);
  obj = serverSideApply({ live: obj, applied: deploy([{ name: 'app', image: 'a:2' }]), manager: 'team-a', force: false, target: DEPLOY, now });
  assert.equal((obj.spec as any).replicas, undefined, 'team-a stopped applying replicas and nobody else owns it');
  assert.deepEqual(names(), ['app', 'sidecar']);
  assert.throws(() => serverSideApply({ live: obj, applied: deploy([{ name: 'app', image: 'b:1' }]), manager: 'team-b', force: false, target: DEPLOY, now }),
    { message: 'Apply failed with 1 conflict: conflict with "team-a": .spec.template.spec.containers[name="app"].image' });
});

test('updates record Update entries with map membership, like upstream', () => {
  const created = updateManagedFields({ updated: cm({ a: '1' }, { x: 'y' }), manager: 'kubectl-create', target: CM, now });
  assert.deepEqual(managed(created), [{ manager: 'kubectl-create', operation: 'Update',
    fieldsV1: { 'f:data': { '.': {}, 'f:a': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:x': {} } } } }]);
  // Removing a field removes it from every set; an unchanged write does not touch time.
  const next = structuredClone(created) as any;
  delete next.data;
  const updated = updateManagedFields({ old: created, updated: next, manager: 'kubectl-edit', target: CM, now: new Date('2026-02-01T00:00:00Z') });
  assert.deepEqual(managed(updated), [{ manager: 'kubectl-create', operation: 'Update', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:x': {} } } } }]);
  const cleared = updateManagedFields({ old: created, updated: { ...structuredClone(created), metadata: { name: 'c', managedFields: [] } }, manager: 'm', target: CM, now });
  assert.equal((cleared.metadata as any).managedFields, undefined);
});

test('status subresource writes own only status', () => {
  const old = deploy([{ name: 'app', image: 'a:1' }]);
  const next = structuredClone(old) as any;
  next.status = { replicas: 3, readyReplicas: 3 };
  const out = updateManagedFields({ old, updated: next, manager: 'controller', target: DEPLOY, subresource: 'status', now });
  assert.deepEqual(managed(out), [{ manager: 'controller', operation: 'Update', fieldsV1: { 'f:status': { 'f:readyReplicas': {}, 'f:replicas': {} } } }]);
  assert.equal((out.metadata as any).managedFields[0].subresource, 'status');
});

test('undeclared fields in an apply configuration: upstream message, or dropped', async () => {
  const { undeclaredApplyFields, applyUnknownFieldsMessage, dropUndeclaredFields } = await import('./server-side-apply.js');
  const applied: any = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', bogus: 1 },
    spec: { foo: 1, template: { spec: { containers: [{ name: 'app', image: 'x', bar: 2 }] } } } };
  const paths = undeclaredApplyFields(applied, DEPLOY);
  assert.equal(applyUnknownFieldsMessage(applied, DEPLOY, paths.slice(1, 2), 'default'),
    'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema');
  assert.equal(applyUnknownFieldsMessage(applied, DEPLOY, paths, 'default'),
    'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .metadata.bogus: field not declared in schema\n  .spec.foo: field not declared in schema\n  .spec.template.spec.containers[name="app"].bar: field not declared in schema');
  assert.deepEqual(dropUndeclaredFields(applied, DEPLOY).length, 3);
  assert.deepEqual(applied.spec, { template: { spec: { containers: [{ name: 'app', image: 'x' }] } } });
  const crTarget: ResourceTarget = { group: 'stable.example.com', version: 'v1', kind: 'CronTab', schema: {
    type: 'object', properties: { spec: { type: 'object', properties: { a: { type: 'string' }, free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } } } };
  assert.deepEqual(undeclaredApplyFields({ apiVersion: 'x', kind: 'CronTab', metadata: { name: 'n' }, spec: { a: 'x', b: 1, free: { z: 1 } } }, crTarget), [['f:spec', 'f:b']]);
});

test('apply to a custom resource uses the CRD schema list types', () => {
  const target: ResourceTarget = { group: 'stable.example.com', version: 'v1', kind: 'CronTab', hasStatusSubresource: true, schema: {
    type: 'object', properties: { spec: { type: 'object', properties: {
      items: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['id'], items: { type: 'object', properties: { id: { type: 'string' }, v: { type: 'integer' } } } },
      tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'string' } },
    } } } } };
  const cr = (items: any[], tags: string[]) => ({ apiVersion: 'stable.example.com/v1', kind: 'CronTab', metadata: { name: 'c' }, spec: { items, tags } });
  let obj = serverSideApply({ applied: cr([{ id: 'a', v: 1 }], ['x']), manager: 'one', force: false, target, now });
  obj = serverSideApply({ live: obj, applied: cr([{ id: 'b', v: 2 }], ['y']), manager: 'two', force: false, target, now });
  assert.deepEqual((obj.spec as any).items, [{ id: 'a', v: 1 }, { id: 'b', v: 2 }]);
  assert.deepEqual((obj.spec as any).tags, ['x', 'y']);
  assert.deepEqual(managed(obj)[1].fieldsV1, { 'f:spec': { 'f:items': { 'k:{"id":"b"}': { '.': {}, 'f:id': {}, 'f:v': {} } }, 'f:tags': { 'v:"y"': {} } } });
  obj = serverSideApply({ live: obj, applied: cr([], []), manager: 'one', force: false, target, now });
  assert.deepEqual((obj.spec as any).items, [{ id: 'b', v: 2 }]);
  assert.deepEqual((obj.spec as any).tags, ['y']);
});

test('list-map keys with server defaults: an applied port without protocol is the live TCP port', () => {
  const POD: ResourceTarget = { group: '', version: 'v1', kind: 'Pod', hasStatusSubresource: true };
  const pod = (image: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image, ports: [{ containerPort: 80 }] }] } });
  let obj = serverSideApply({ applied: pod('a'), manager: 'm', force: false, target: POD, now });
  (obj as any).spec.containers[0].ports[0].protocol = 'TCP'; // what server defaulting does
  const ports = () => (obj as any).spec.containers[0].ports;
  obj = serverSideApply({ live: obj, applied: pod('b'), manager: 'm', force: false, target: POD, now });
  assert.deepEqual(ports(), [{ containerPort: 80, protocol: 'TCP' }]);
  assert.ok(JSON.stringify(managed(obj)[0].fieldsV1).includes('k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}'));
  assert.throws(() => serverSideApply({ live: obj, applied: pod('c'), manager: 'other', force: false, target: POD, now }),
    { message: 'Apply failed with 1 conflict: conflict with "m": .spec.containers[name="c"].image' }, 'the port is shared, not a conflict');
});

test('the same manager rewriting fields it alone owns: stored entries reused, only its time moves', () => {
  const LEASE: ResourceTarget = { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' };
  const lease = (renewTime: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'n1', namespace: 'kube-node-lease' },
    spec: { holderIdentity: 'n1', leaseDurationSeconds: 40, renewTime } });
  const t0 = new Date('2026-01-01T00:00:00.500Z');
  const t1 = new Date('2026-01-01T00:00:10.500Z');
  const created = updateManagedFields({ updated: lease('2026-01-01T00:00:00.000000Z'), manager: 'hub', target: LEASE, now: t0 }) as any;
  // Another manager owns a label, which the renewal leaves alone.
  const withLabel = structuredClone(created);
  withLabel.metadata.labels = { team: 'a' };
  const labelled = updateManagedFields({ old: created, updated: withLabel, manager: 'ops', target: LEASE, now: t0 }) as any;
  assert.deepEqual(managed(labelled).map((e: any) => e.manager), ['hub', 'ops']);
  const before = structuredClone(labelled.metadata.managedFields);
  const renewed = { ...structuredClone(labelled), spec: { ...labelled.spec, renewTime: '2026-01-01T00:00:10.000000Z' } };
  const out = updateManagedFields({ old: labelled, updated: renewed, manager: 'hub', target: LEASE, now: t1 }) as any;
  assert.deepEqual(out.metadata.managedFields, [{ ...before[0], time: '2026-01-01T00:00:10Z' }, before[1]]);
  assert.equal(out.metadata.managedFields[1], labelled.metadata.managedFields[1], 'the other entry is the stored one, not re-encoded');
  // A field another manager owns changes hands (the general path still runs).
  const relabel = structuredClone(out);
  relabel.metadata.labels.team = 'b';
  const moved = updateManagedFields({ old: out, updated: relabel, manager: 'hub', target: LEASE, now: t1 }) as any;
  assert.deepEqual(managed(moved).map((e: any) => [e.manager, e.fieldsV1]), [
    ['hub', { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:holderIdentity': {}, 'f:leaseDurationSeconds': {}, 'f:renewTime': {} } }],
    ['ops', { 'f:metadata': { 'f:labels': {} } }],
  ]);
});
