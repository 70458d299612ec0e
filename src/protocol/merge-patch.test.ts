import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, createMergePatch } from './merge-patch.js';
import { decodeHubToEdge, encode } from './index.js';

test('a merge patch carries only what changed and reproduces the new version', () => {
  const v1 = { metadata: { name: 'p', resourceVersion: '5', labels: { app: 'a', rev: '0' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } };
  const v2 = { metadata: { name: 'p', resourceVersion: '9', labels: { app: 'a', rev: '1' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } };
  assert.deepEqual(createMergePatch(v1, v2), { metadata: { resourceVersion: '9', labels: { rev: '1' } } });
  // Removed members become null; arrays are replaced whole.
  const v3 = { metadata: { name: 'p', resourceVersion: '10' }, spec: { containers: [{ name: 'c', image: 'x:2' }] } };
  const p = createMergePatch(v2, v3)!;
  assert.deepEqual(p, { metadata: { resourceVersion: '10', labels: null }, spec: { containers: [{ name: 'c', image: 'x:2' }] } });
  assert.deepEqual(applyMergePatch(v2, p), v3);
  assert.equal((v2.metadata.labels as Record<string, string>).rev, '1', 'arguments are not mutated');
});

test('no patch when a merge patch cannot express the new version (a null value)', () => {
  assert.equal(createMergePatch({ a: 1 }, { a: 1, b: null }), undefined);
  assert.equal(createMergePatch({ a: { x: 1 } }, { a: { x: [1, null] } }), undefined);
  assert.deepEqual(createMergePatch({ a: 1 }, { a: 1 }), {});
});

test('the patch message is validated like any frame', () => {
  const ok = decodeHubToEdge(encode({ type: 'patch', seq: 3, key: '/registry/pods/default/p', base: '5', patch: { metadata: { resourceVersion: '9' } } }));
  assert.equal(ok.type, 'patch');
  assert.throws(() => decodeHubToEdge(JSON.stringify({ type: 'patch', seq: 3, key: '/registry/pods/default/p', patch: {} })), /base/);
  assert.throws(() => decodeHubToEdge(JSON.stringify({ type: 'patch', seq: 3, key: '/registry/pods/default/p', base: '5', patch: [] })), /patch/);
});
