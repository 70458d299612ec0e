import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtobufDecodeError, decodeReviewProtobuf } from './review-protobuf.js';

/** Minimal protobuf writer for building test inputs (length-delimited fields only). */
function ld(num: number, payload: Buffer | string): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  return Buffer.concat([Buffer.from([(num << 3) | 2, data.length]), data]);
}
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([Buffer.from('k8s\0', 'binary'), ld(1, Buffer.concat([ld(1, apiVersion), ld(2, kind)])), ld(2, raw)]);

test('decodes a SelfSubjectAccessReview as kubectl auth can-i sends it', () => {
  const attrs = Buffer.concat([ld(1, 'default'), ld(2, 'create'), ld(5, 'pods'), ld(6, 'log')]);
  const raw = Buffer.concat([ld(1, Buffer.alloc(0)), ld(2, ld(1, attrs))]);
  assert.deepEqual(decodeReviewProtobuf(envelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', raw)), {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: {},
    spec: { resourceAttributes: { namespace: 'default', verb: 'create', resource: 'pods', subresource: 'log' } },
  });
});

test('decodes SubjectAccessReview user, groups and extra', () => {
  const extra = ld(5, Buffer.concat([ld(1, 'scopes'), ld(2, Buffer.concat([ld(1, 'a'), ld(1, 'b')]))]));
  const spec = Buffer.concat([ld(2, Buffer.concat([ld(1, '/healthz'), ld(2, 'get')])), ld(3, 'jane'), ld(4, 'g1'), ld(4, 'g2'), extra]);
  const out = decodeReviewProtobuf(envelope('authorization.k8s.io/v1', 'SubjectAccessReview', ld(2, spec)));
  assert.deepEqual(out.spec, { nonResourceAttributes: { path: '/healthz', verb: 'get' }, user: 'jane', groups: ['g1', 'g2'], extra: { scopes: ['a', 'b'] } });
});

test('refuses bodies that are not protobuf reviews', () => {
  assert.throws(() => decodeReviewProtobuf(Buffer.from('{"kind":"Pod"}')), ProtobufDecodeError);
  assert.throws(() => decodeReviewProtobuf(envelope('v1', 'Pod', ld(1, 'x'))), /kind "Pod" is not supported/);
  assert.throws(() => decodeReviewProtobuf(Buffer.concat([Buffer.from('k8s\0', 'binary'), Buffer.from([0x0a, 0x7f, 0x01])])), /truncated/);
});
