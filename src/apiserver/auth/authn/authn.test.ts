import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { AuthenticationError } from '../types.js';
import { RequestAuthenticator } from './union.js';
import { StaticTokenAuthenticator, parseTokenFile } from './token-file.js';
import { BootstrapTokenAuthenticator } from './bootstrap-token.js';
import { ServiceAccountTokenAuthenticator, ServiceAccountTokenIssuer, serviceAccountJwks } from './service-account-token.js';
import { bearerToken } from './bearer.js';
import { signingKeyId, type SigningKeyPair } from '../../../pki/signing-keys.js';
import { bootstrapTokenSecret } from '../../../pki/bootstrap-token.js';

/** A stand-in request: only the header and TLS socket fields the authenticators read. */
function fakeRequest(opts: { auth?: string; cert?: { subject: Record<string, string | string[]> }; authorized?: boolean; error?: string }): IncomingMessage {
  const socket = {
    getPeerCertificate: () => opts.cert ?? {},
    authorized: opts.authorized ?? false,
    authorizationError: opts.error,
  };
  return { headers: opts.auth ? { authorization: opts.auth } : {}, socket } as unknown as IncomingMessage;
}

function keyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, publicKey, keyId: signingKeyId(publicKey) };
}

test('bearer header parsing follows upstream (case-insensitive scheme, empty token ignored)', () => {
  assert.equal(bearerToken(fakeRequest({ auth: 'Bearer abc' })), 'abc');
  assert.equal(bearerToken(fakeRequest({ auth: 'bearer abc' })), 'abc');
  assert.equal(bearerToken(fakeRequest({ auth: 'Basic abc' })), null);
  assert.equal(bearerToken(fakeRequest({ auth: 'Bearer' })), null);
  assert.equal(bearerToken(fakeRequest({})), null);
});

test('token file: upstream CSV format with quoted groups; bad lines are errors', async () => {
  const entries = parseTokenFile('# comment\nt1,alice,uid-1,"dev,ops"\n\nt2,bob,uid-2\n');
  assert.deepEqual(entries, [
    { token: 't1', user: { username: 'alice', uid: 'uid-1', groups: ['dev', 'ops'] } },
    { token: 't2', user: { username: 'bob', uid: 'uid-2', groups: [] } },
  ]);
  assert.throws(() => parseTokenFile('t1,alice'), /:1: expected token,user,uid/);
  assert.throws(() => parseTokenFile('t1,a,1\nt1,b,2'), /:2: duplicate token/);
  assert.throws(() => parseTokenFile('t1,a,1,"dev'), /unterminated quote/);
  const ta = new StaticTokenAuthenticator(entries);
  assert.deepEqual(await ta.authenticateToken('t1'), { username: 'alice', uid: 'uid-1', groups: ['dev', 'ops'] });
  assert.equal(await ta.authenticateToken('t3'), null);
});

test('union: client cert wins, adds system:authenticated; untrusted cert falls through to token; no credentials → null', async () => {
  const tokens = new StaticTokenAuthenticator(parseTokenFile('secret-token,bob,u2,devs'));
  const a = new RequestAuthenticator({ tokenAuthenticators: [tokens] });
  assert.deepEqual(await a.authenticate(fakeRequest({ cert: { subject: { CN: 'jane', O: ['g1', 'g2'] } }, authorized: true })),
    { username: 'jane', groups: ['g1', 'g2', 'system:authenticated'] });
  assert.deepEqual(await a.authenticate(fakeRequest({ cert: { subject: { CN: 'jane', O: 'g1' } }, authorized: true })),
    { username: 'jane', groups: ['g1', 'system:authenticated'] });
  assert.deepEqual(await a.authenticate(fakeRequest({ cert: { subject: { CN: 'evil' } }, authorized: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', auth: 'Bearer secret-token' })),
    { username: 'bob', uid: 'u2', groups: ['devs', 'system:authenticated'] });
  await assert.rejects(a.authenticate(fakeRequest({ cert: { subject: { CN: 'evil' } }, authorized: false, error: 'CERT_HAS_EXPIRED' })),
    (e: unknown) => e instanceof AuthenticationError && /CERT_HAS_EXPIRED/.test(e.message));
  await assert.rejects(a.authenticate(fakeRequest({ auth: 'Bearer wrong' })), AuthenticationError);
  assert.equal(await a.authenticate(fakeRequest({})), null);
  await assert.rejects(a.authenticate(fakeRequest({ cert: { subject: { O: 'g' } }, authorized: true })), /no common name/);
});

test('bootstrap token authenticator reads the Secret through the lookup and validates it', async () => {
  const secret = bootstrapTokenSecret({ id: 'abcdef', secret: '0123456789abcdef' }, { ttlMs: 60_000 });
  const stored: V1Secret = { ...secret, stringData: undefined, data: Object.fromEntries(Object.entries(secret.stringData!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  const lookups: string[] = [];
  const ba = new BootstrapTokenAuthenticator(async (ns, name) => {
    lookups.push(`${ns}/${name}`);
    return name === 'bootstrap-token-abcdef' ? stored : null;
  });
  assert.deepEqual(await ba.authenticateToken('abcdef.0123456789abcdef'),
    { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token'] });
  assert.deepEqual(lookups, ['kube-system/bootstrap-token-abcdef']);
  await assert.rejects(ba.authenticateToken('abcdef.0123456789abcdee'), /token secret does not match/);
  assert.equal(await ba.authenticateToken('zzzzzz.0123456789abcdef'), null, 'unknown id: not ours');
  assert.equal(await ba.authenticateToken('not-a-bootstrap-token'), null);
  const later = new BootstrapTokenAuthenticator(async () => stored, () => new Date(Date.now() + 120_000));
  await assert.rejects(later.authenticateToken('abcdef.0123456789abcdef'), /expired/);
});

test('service account tokens: issue, verify, and refuse tampered/expired/foreign/other-audience tokens', async () => {
  const key = keyPair();
  const issuer = new ServiceAccountTokenIssuer(key);
  const { token, claims, expirationTimestamp } = issuer.issue({
    namespace: 'default', serviceAccountName: 'builder', serviceAccountUid: 'sa-uid',
    boundPod: { name: 'p1', uid: 'pod-uid' }, expirationSeconds: 600,
  });
  assert.equal(claims.sub, 'system:serviceaccount:default:builder');
  assert.ok(Math.abs(expirationTimestamp.getTime() - Date.now() - 600_000) < 5_000);
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
  assert.deepEqual(header, { alg: 'ES256', kid: key.keyId });
  assert.equal(Buffer.from(token.split('.')[2]!, 'base64url').length, 64, 'raw r||s signature');

  const sa = new ServiceAccountTokenAuthenticator({ keys: [key] });
  assert.deepEqual(await sa.authenticateToken(token), {
    username: 'system:serviceaccount:default:builder',
    uid: 'sa-uid',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:default'],
    extra: {
      'authentication.kubernetes.io/pod-name': ['p1'],
      'authentication.kubernetes.io/pod-uid': ['pod-uid'],
      'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`],
    },
  });

  const [h, p, s] = token.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'system:serviceaccount:kube-system:admin', 'kubernetes.io': { ...claims['kubernetes.io'], namespace: 'kube-system', serviceaccount: { name: 'admin', uid: 'x' } } })).toString('base64url');
  await assert.rejects(sa.authenticateToken(`${h}.${forged}.${s}`), /invalid signature/);
  const otherKey = new ServiceAccountTokenIssuer(keyPair()).issue({ namespace: 'a', serviceAccountName: 'b', serviceAccountUid: 'c' }).token;
  await assert.rejects(sa.authenticateToken(otherKey), /invalid signature/);
  const expired = issuer.issue({ namespace: 'a', serviceAccountName: 'b', serviceAccountUid: 'c', now: new Date(Date.now() - 7200_000) }).token;
  await assert.rejects(sa.authenticateToken(expired), /expired/);
  const vault = issuer.issue({ namespace: 'a', serviceAccountName: 'b', serviceAccountUid: 'c', audiences: ['vault'] }).token;
  await assert.rejects(sa.authenticateToken(vault), /audience/);
  assert.equal(await sa.authenticateToken(`${p}`), null, 'not a JWT');
  const foreignIssuer = new ServiceAccountTokenIssuer(key, 'https://elsewhere').issue({ namespace: 'a', serviceAccountName: 'b', serviceAccountUid: 'c' }).token;
  assert.equal(await sa.authenticateToken(foreignIssuer), null, 'other issuers are not ours to judge');
});

test('service account tokens die with their service account or bound pod', async () => {
  const key = keyPair();
  const token = new ServiceAccountTokenIssuer(key).issue({ namespace: 'ns', serviceAccountName: 'sa', serviceAccountUid: 'u1', boundPod: { name: 'p', uid: 'pu' } }).token;
  let saUid: string | null = 'u1';
  let podUid: string | null = 'pu';
  const sa = new ServiceAccountTokenAuthenticator({
    keys: [key],
    lookup: {
      getServiceAccount: async () => (saUid ? { metadata: { name: 'sa', namespace: 'ns', uid: saUid } } : null),
      getPod: async () => (podUid ? { metadata: { name: 'p', namespace: 'ns', uid: podUid } } : null),
    },
  });
  assert.equal((await sa.authenticateToken(token))?.username, 'system:serviceaccount:ns:sa');
  podUid = 'recreated';
  await assert.rejects(sa.authenticateToken(token), /pod UID/);
  podUid = null;
  await assert.rejects(sa.authenticateToken(token), /pod ns\/p has been deleted/);
  podUid = 'pu';
  saUid = 'u2';
  await assert.rejects(sa.authenticateToken(token), /does not match/);
  saUid = null;
  await assert.rejects(sa.authenticateToken(token), /has been deleted/);
});

test('JWKS exposes the public key with its kid', () => {
  const key = keyPair();
  const jwks = serviceAccountJwks([key]);
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0]!.kid, key.keyId);
  assert.equal(jwks.keys[0]!.crv, 'P-256');
  assert.equal(jwks.keys[0]!.alg, 'ES256');
  assert.ok(!('d' in jwks.keys[0]!), 'no private part');
});

test('a cached service account token still expires on time', async () => {
  const key = keyPair();
  let now = new Date();
  const token = new ServiceAccountTokenIssuer(key).issue({ namespace: 'a', serviceAccountName: 'b', serviceAccountUid: 'c', expirationSeconds: 600, now }).token;
  const sa = new ServiceAccountTokenAuthenticator({ keys: [key], now: () => now });
  assert.equal((await sa.authenticateToken(token))?.username, 'system:serviceaccount:a:b');
  assert.equal((await sa.authenticateToken(token))?.username, 'system:serviceaccount:a:b', 'served from the cache');
  now = new Date(now.getTime() + 601_000);
  await assert.rejects(sa.authenticateToken(token), /expired/);
});

test('legacy Secret-based tokens: valid while the Secret holds them and the service account is unchanged', async () => {
  const key = keyPair();
  const token = new ServiceAccountTokenIssuer(key).issueLegacy({ namespace: 'ns', serviceAccountName: 'old', serviceAccountUid: 'u1', secretName: 'old-token' });
  let secret: V1Secret | null = { metadata: { name: 'old-token', namespace: 'ns' }, type: 'kubernetes.io/service-account-token', data: { token: Buffer.from(token).toString('base64') } };
  let saUid = 'u1';
  const lookup = {
    getServiceAccount: async () => ({ metadata: { name: 'old', namespace: 'ns', uid: saUid } }),
    getSecret: async () => secret,
  };
  const sa = new ServiceAccountTokenAuthenticator({ keys: [key], lookup });
  assert.deepEqual(await sa.authenticateToken(token), { username: 'system:serviceaccount:ns:old', uid: 'u1', groups: ['system:serviceaccounts', 'system:serviceaccounts:ns'] });
  await assert.rejects(new ServiceAccountTokenAuthenticator({ keys: [key] }).authenticateToken(token), /legacy tokens are not accepted/);
  saUid = 'u2';
  await assert.rejects(sa.authenticateToken(token), /does not match/);
  saUid = 'u1';
  secret = null;
  await assert.rejects(sa.authenticateToken(token), /no longer holds this token/);
});
