import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobufObject } from './protobuf.js';
import { StatusError } from '../apimachinery/status.js';

/** Protobuf wire pieces: length-delimited field, varint field, and the "k8s\0" + runtime.Unknown envelope. */
const ld = (n: number, v: Buffer | string): Buffer => {
  const b = Buffer.from(v);
  return Buffer.concat([Buffer.from([(n << 3) | 2, b.length]), b]); // short fields only: one-byte tag and length
};
const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  Buffer.concat([Buffer.from('k8s\0'), ld(1, Buffer.concat([ld(1, apiVersion), ld(2, kind)])), ld(2, raw)]);

test('an unknown field number is refused with a 400 naming the message and field', () => {
  const body = envelope('v1', 'ConfigMap', Buffer.concat([ld(1, ld(1, 'c')), ld(9, 'x')]));
  assert.throws(() => decodeProtobufObject(body), (err: unknown) => {
    assert.ok(err instanceof StatusError);
    assert.equal(err.status.code, 400);
    assert.match(err.status.message ?? '', /field 9 of ConfigMap is not known to this server/);
    return true;
  });
});

test('status is skipped only when the write replaces it; a review\'s status is never read', () => {
  const service = envelope('v1', 'Service', Buffer.concat([ld(1, ld(1, 's')), ld(3, ld(1, ld(1, ld(1, '1.2.3.4'))))]));
  assert.throws(() => decodeProtobufObject(service), /field 1 of Empty/);
  assert.deepEqual(decodeProtobufObject(service, { statusIgnored: true }), { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } });
  const review = envelope('authorization.k8s.io/v1', 'SelfSubjectAccessReview', Buffer.concat([ld(2, ld(2, ld(1, '/x'))), ld(3, Buffer.from([8, 1]))]));
  assert.deepEqual(decodeProtobufObject(review).spec, { nonResourceAttributes: { path: '/x' } });
});

test('CSR spec.extra (map of ExtraValue) decodes to string lists', () => {
  const extra = ld(6, Buffer.concat([ld(1, 'k'), ld(2, Buffer.concat([ld(1, 'a'), ld(1, 'b')]))]));
  const csr = envelope('certificates.k8s.io/v1', 'CertificateSigningRequest', Buffer.concat([ld(1, ld(1, 'csr')), ld(2, Buffer.concat([ld(7, 'example.com/s'), extra]))]));
  assert.deepEqual(decodeProtobufObject(csr).spec, { signerName: 'example.com/s', extra: { k: ['a', 'b'] } });
});
