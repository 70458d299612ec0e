import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deltas } from './deltas.js';
import type { CacheListener, CachedObject } from './cache.js';

function harness() {
  let listener: CacheListener = () => {};
  const deltas = new Deltas({ onChange: (l: CacheListener) => (listener = l) });
  const objects = new Map<string, CachedObject>();
  let rv = 100;
  const put = (resource: string, key: string, body: Record<string, unknown>, uid = 'u1') => {
    const old = objects.get(key);
    const obj = { ...body, metadata: { name: 'x', namespace: 'default', uid, ...(body.metadata as object), resourceVersion: String(++rv) } } as CachedObject;
    objects.set(key, obj);
    listener(resource, 'upsert', key, obj, old);
    return obj.metadata.resourceVersion!;
  };
  return { deltas, put, del: (resource: string, key: string) => listener(resource, 'delete', key, objects.get(key)!, objects.get(key)) };
}

const big = { note: 'x'.repeat(400) };

test('a changed object gets one patch from the version before, computed once per version', () => {
  const { deltas, put } = harness();
  const k = '/registry/configmaps/default/x';
  const v1 = put('configmaps', k, { data: { a: '1', ...big } });
  assert.equal(deltas.forVersion(k, v1)?.patch, undefined, 'a new object goes whole');
  const v2 = put('configmaps', k, { data: { a: '2', ...big }, metadata: { managedFields: [{ manager: 'm' }] } });
  const d = deltas.forVersion(k, v2)!;
  assert.equal(d.base, v1);
  assert.deepEqual(d.patch, { data: { a: '2' }, metadata: { resourceVersion: v2 } }, 'managedFields never travel');
  assert.equal(deltas.forVersion(k, v1), undefined, 'only the current version has a record');
});

test('pods: status-only versions keep the base, patches leave status to the edge', () => {
  const { deltas, put, del } = harness();
  const k = '/registry/pods/default/x';
  const spec = { nodeName: 'n1', containers: [{ name: 'c', image: 'i', env: [big] }] };
  const v1 = put('pods', k, { spec, status: { phase: 'Pending' } });
  put('pods', k, { spec, status: { phase: 'Running' } });
  const v3 = put('pods', k, { spec, status: { phase: 'Running' }, metadata: { labels: { rev: '1' } } });
  const d = deltas.forVersion(k, v3)!;
  assert.equal(d.base, v1, 'the base is the version edges were shipped, not the status-only one');
  assert.deepEqual(d.patch, { metadata: { labels: { rev: '1' }, resourceVersion: v3 } });
  // Recreated under the same name: a different object, sent whole.
  const v4 = put('pods', k, { spec, metadata: { labels: { rev: '2' } } }, 'u2');
  assert.equal(deltas.forVersion(k, v4)?.patch, undefined);
  del('pods', k);
  assert.equal(deltas.size(), 0);
});

test('a patch not clearly smaller than the object is not kept', () => {
  const { deltas, put } = harness();
  const k = '/registry/configmaps/default/s';
  put('configmaps', k, { data: { a: '1' } });
  const v2 = put('configmaps', k, { data: { a: '2' } });
  assert.equal(deltas.forVersion(k, v2)?.patch, undefined);
});

test('Nodes: the patch applies to the shipped version and to each status-only version after it', () => {
  const { deltas, put } = harness();
  const k = '/registry/nodes/n1';
  const status = (ready: string) => ({ conditions: [{ type: 'Ready', status: ready }], ...big });
  const v1 = put('nodes', k, { spec: {}, status: status('Unknown') });
  const v2 = put('nodes', k, { spec: {}, status: status('True') });
  const v3 = put('nodes', k, { spec: { taints: [{ key: 't', effect: 'NoSchedule' }] }, status: status('True') });
  const d = deltas.forVersion(k, v3)!;
  assert.equal(d.base, v1);
  assert.deepEqual(d.bases, [v1, v2]);
  assert.deepEqual(deltas.patchFor(k, v3, v2), { base: v2, patch: d.patch }, 'an edge shipped the status-only v2 gets the patch');
  assert.equal(deltas.patchFor(k, v3, 'other')?.patch, undefined, 'any other base: whole');
  assert.equal(deltas.patchFor(k, v3, null), undefined);
  const v4 = put('nodes', k, { spec: { taints: [{ key: 't', effect: 'NoSchedule' }] }, status: status('False') });
  assert.equal(deltas.holdsCurrent(k, v3, v4), true, 'v4 changed status only: an edge holding it is current');
  assert.equal(deltas.holdsCurrent(k, v3, v2), false);
  const v5 = put('nodes', k, { spec: {}, status: status('False') });
  assert.deepEqual(deltas.forVersion(k, v5)!.bases, [v3, v4], 'successors start over at each shipped version');
});
