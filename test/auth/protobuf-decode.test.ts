import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtobufDecodeError, ProtobufKindNotSupportedError, decodeProtobufObject as decodeReviewProtobuf } from './protobuf-decode.js';

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
  assert.throws(() => decodeReviewProtobuf(envelope('v1', 'Pod', ld(1, 'x'))), ProtobufKindNotSupportedError);
  assert.throws(() => decodeReviewProtobuf(Buffer.concat([Buffer.from('k8s\0', 'binary'), Buffer.from([0x0a, 0x7f, 0x01])])), /truncated/);
});

test('decodes a ClusterRoleBinding as kubectl create clusterrolebinding sends it, dropping empty strings', () => {
  const meta = Buffer.concat([ld(1, 'jane-view'), ld(2, '')]);
  const subj = Buffer.concat([ld(1, 'User'), ld(2, 'rbac.authorization.k8s.io'), ld(3, 'jane'), ld(4, '')]);
  const ref = Buffer.concat([ld(1, 'rbac.authorization.k8s.io'), ld(2, 'ClusterRole'), ld(3, 'view')]);
  const raw = Buffer.concat([ld(1, meta), ld(2, subj), ld(3, ref)]);
  assert.deepEqual(decodeReviewProtobuf(envelope('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', raw)), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'jane-view' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'jane' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  });
});

test('decodes ClusterRole rules and aggregation selectors', () => {
  const rule = Buffer.concat([ld(1, 'get'), ld(1, 'list'), ld(2, ''), ld(3, 'pods')]);
  const sel = ld(1, ld(1, Buffer.concat([ld(1, 'agg'), ld(2, 'true')])));
  const raw = Buffer.concat([ld(1, ld(1, 'r')), ld(2, rule), ld(3, sel)]);
  const out = decodeReviewProtobuf(envelope('rbac.authorization.k8s.io/v1', 'ClusterRole', raw));
  assert.deepEqual(out.rules, [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }]);
  assert.deepEqual(out.aggregationRule, { clusterRoleSelectors: [{ matchLabels: { agg: 'true' } }] });
});
