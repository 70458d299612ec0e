import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { V1Pod, V1ServiceAccount } from '@kubernetes/client-node';
import { StatusError } from '../../../apimachinery/status.js';
import { signingKeyId } from '../../../pki/signing-keys.js';
import { ServiceAccountTokenAuthenticator, ServiceAccountTokenIssuer } from './service-account-token.js';
import { evaluateTokenRequest } from './token-request.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const key = { privateKey, publicKey, keyId: signingKeyId(publicKey) };
const issuer = new ServiceAccountTokenIssuer(key);
const sa: V1ServiceAccount = { metadata: { name: 'builder', namespace: 'ci', uid: 'sa-1' } };
const pod: V1Pod = { metadata: { name: 'job-1', namespace: 'ci', uid: 'pod-1' }, spec: { serviceAccountName: 'builder', nodeName: 'edge-1', containers: [] } };
const lookups = {
  getPod: async (_ns: string, name: string) => (name === 'job-1' ? pod : null),
  getNode: async (name: string) => (name === 'edge-1' ? { metadata: { name, uid: 'node-1' } } : null),
};
const status = (code: number, re: RegExp) => (e: unknown): boolean => e instanceof StatusError && e.code === code && re.test(e.message);

test('TokenRequest defaults to one hour and the API audience, and the token authenticates', async () => {
  const out = await evaluateTokenRequest({ issuer, serviceAccount: sa, request: { spec: { audiences: [] } } });
  assert.equal(out.spec.expirationSeconds, 3600);
  assert.deepEqual(out.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
  assert.match(String(out.status?.expirationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const user = await new ServiceAccountTokenAuthenticator({ keys: [key] }).authenticateToken(out.status!.token);
  assert.equal(user?.username, 'system:serviceaccount:ci:builder');
});

test('pod-bound tokens carry pod and node, and are refused for the wrong pod, uid or service account', async () => {
  const out = await evaluateTokenRequest({ issuer, serviceAccount: sa, lookups, request: { spec: { audiences: ['vault'], expirationSeconds: 900, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'job-1', uid: 'pod-1' } } } });
  const user = await new ServiceAccountTokenAuthenticator({ keys: [key], audiences: ['vault'] }).authenticateToken(out.status!.token);
  assert.deepEqual(user?.extra?.['authentication.kubernetes.io/pod-name'], ['job-1']);
  assert.deepEqual(user?.extra?.['authentication.kubernetes.io/node-name'], ['edge-1']);
  await assert.rejects(evaluateTokenRequest({ issuer, serviceAccount: sa, lookups, request: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', name: 'gone' } } } }), status(404, /pods "gone" not found/));
  await assert.rejects(evaluateTokenRequest({ issuer, serviceAccount: sa, lookups, request: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', name: 'job-1', uid: 'old' } } } }), status(409, /does not match the UID in record/));
  const other: V1ServiceAccount = { metadata: { name: 'other', namespace: 'ci', uid: 'sa-2' } };
  await assert.rejects(evaluateTokenRequest({ issuer, serviceAccount: other, lookups, request: { spec: { audiences: [], boundObjectRef: { kind: 'Pod', name: 'job-1' } } } }), status(400, /different serviceaccount name/));
  await assert.rejects(evaluateTokenRequest({ issuer, serviceAccount: sa, lookups, request: { spec: { audiences: [], boundObjectRef: { kind: 'ConfigMap', name: 'x' } } } }), status(400, /object of kind "ConfigMap"/));
});

test('expirationSeconds below 10 minutes is Invalid with the upstream message', async () => {
  await assert.rejects(evaluateTokenRequest({ issuer, serviceAccount: sa, request: { spec: { audiences: [], expirationSeconds: 300 } } }),
    status(422, /"builder" is invalid: spec\.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes$/));
});
