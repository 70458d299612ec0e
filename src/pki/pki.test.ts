import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, readFile, writeFile } from 'node:fs/promises';
import { X509Certificate, createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as pki from './index.js';

const tmp = (): Promise<string> => mkdtemp(path.join(os.tmpdir(), 'kedge-pki-'));

test('CA is a self-signed P-256 CA certificate whose key matches', async () => {
  const ca = await pki.createCertificateAuthority('test-ca');
  const info = pki.inspectCertificate(ca.certPem);
  assert.equal(info.isCA, true);
  assert.equal(info.commonName, 'test-ca');
  assert.ok(pki.keyMatchesCertificate(ca.certPem, ca.keyPem));
  assert.ok(pki.isSignedBy(ca.certPem, ca.certPem));
  const x = new X509Certificate(ca.certPem);
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('client certificate carries CN=user and one O per group, signed by the CA', async () => {
  const ca = await pki.createCertificateAuthority();
  const other = await pki.createCertificateAuthority();
  const c = await pki.issueClientCertificate(ca, 'jane', ['dev', 'ops']);
  const info = pki.inspectCertificate(c.certPem);
  assert.equal(info.commonName, 'jane');
  assert.deepEqual(info.organizations, ['dev', 'ops']);
  assert.equal(info.isCA, false);
  assert.ok(pki.isSignedBy(c.certPem, ca.certPem));
  assert.equal(pki.isSignedBy(c.certPem, other.certPem), false);
  assert.ok(pki.keyMatchesCertificate(c.certPem, c.keyPem));
  assert.equal(pki.keyMatchesCertificate(c.certPem, ca.keyPem), false);
});

test('server certificate lists DNS and IP SANs separately', async () => {
  const ca = await pki.createCertificateAuthority();
  const hosts = pki.serverCertificateHosts(['10.1.2.3', 'edge.example.com', '0.0.0.0']);
  const s = await pki.issueServerCertificate(ca, 'kube-apiserver', hosts);
  const info = pki.inspectCertificate(s.certPem);
  for (const d of ['localhost', 'kubernetes', 'kubernetes.default.svc', 'edge.example.com']) assert.ok(info.dnsNames.includes(d), d);
  for (const ip of ['127.0.0.1', '10.1.2.3', '::1']) assert.ok(info.ipAddresses.includes(ip), ip);
  assert.ok(!info.ipAddresses.includes('0.0.0.0'), 'wildcard bind address is not a SAN');
  const x = new X509Certificate(s.certPem);
  assert.equal(x.checkHost('kubernetes.default.svc'), 'kubernetes.default.svc');
  assert.equal(x.checkIP('10.1.2.3'), '10.1.2.3');
});

test('CSR round trip: edge creates, CA signs, identity and SANs preserved, key stays with the edge', async () => {
  const ca = await pki.createCertificateAuthority();
  const req = await pki.createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'], hosts: ['n1', '192.168.1.5'] });
  const parsed = await pki.parseCertificateRequest(req.csrPem);
  assert.deepEqual(parsed, { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ipAddresses: ['192.168.1.5'], uris: [] });
  const certPem = await pki.signCertificateRequest(ca, req.csrPem, { validityMs: 3600_000 });
  const info = pki.inspectCertificate(certPem);
  assert.equal(info.commonName, 'system:node:n1');
  assert.deepEqual(info.organizations, ['system:nodes']);
  assert.ok(pki.keyMatchesCertificate(certPem, req.keyPem));
  assert.ok(pki.isSignedBy(certPem, ca.certPem));
  const lifetime = info.notAfter.getTime() - Date.now();
  assert.ok(lifetime <= 3600_000 && lifetime > 3500_000, `validity ${lifetime}`);
});

test('malformed or tampered CSRs are refused with a clear error', async () => {
  const ca = await pki.createCertificateAuthority();
  await assert.rejects(pki.signCertificateRequest(ca, 'not a csr'), /invalid certificate request/);
  const req = await pki.createCertificateRequest({ commonName: 'system:node:a' });
  // Swap in another CSR's public key: signature no longer verifies.
  const der = Buffer.from(req.csrPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const flipped = Buffer.from(der);
  flipped[flipped.length - 5] = flipped[flipped.length - 5]! ^ 0xff;
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${flipped.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(pki.signCertificateRequest(ca, bad), /invalid certificate request/);
});

test('CA cert hash is sha256 over the DER SubjectPublicKeyInfo (kubeadm discovery hash)', async () => {
  const ca = await pki.createCertificateAuthority();
  const x509 = await (await import('./crypto-provider.js')).loadX509();
  const spki = Buffer.from(new x509.X509Certificate(ca.certPem).publicKey.rawData);
  const expected = 'sha256:' + createHash('sha256').update(spki).digest('hex');
  assert.equal(pki.caCertHash(ca.certPem), expected);
  assert.match(pki.caCertHash(ca.certPem), /^sha256:[0-9a-f]{64}$/);
  const other = await pki.createCertificateAuthority();
  assert.notEqual(pki.caCertHash(other.certPem), expected);
});

test('rotation is due after 80% of the lifetime', async () => {
  const ca = await pki.createCertificateAuthority();
  const c = await pki.issueClientCertificate(ca, 'u', [], 10 * pki.DAY_MS);
  const { notBefore, notAfter } = pki.inspectCertificate(c.certPem);
  const span = notAfter.getTime() - notBefore.getTime();
  assert.equal(pki.needsRotation(c.certPem, new Date(notBefore.getTime() + span * 0.5)), false);
  assert.equal(pki.needsRotation(c.certPem, new Date(notBefore.getTime() + span * 0.85)), true);
  assert.equal(pki.needsRotation(c.certPem, new Date(notAfter.getTime() + 1)), true);
  assert.ok(pki.msUntilRotation(c.certPem, new Date(notBefore.getTime())) > 0);
});

test('ensureServerPki creates once with 0600 keys, reuses on restart, re-issues only the server cert on SAN change', async () => {
  const dir = await tmp();
  try {
    const first = await pki.ensureServerPki(dir, { hosts: ['127.0.0.1'] });
    for (const f of [first.files.caKey, first.files.serverKey]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    const again = await pki.ensureServerPki(dir, { hosts: ['127.0.0.1'] });
    assert.equal(again.caCertPem, first.caCertPem);
    assert.equal(again.serverCertPem, first.serverCertPem);
    const widened = await pki.ensureServerPki(dir, { hosts: ['127.0.0.1', '10.9.8.7'] });
    assert.equal(widened.caCertPem, first.caCertPem, 'CA kept');
    assert.equal(widened.caKeyPem, first.caKeyPem);
    assert.notEqual(widened.serverCertPem, first.serverCertPem, 'server cert re-issued');
    assert.ok(pki.inspectCertificate(widened.serverCertPem).ipAddresses.includes('10.9.8.7'));
    assert.ok(pki.isSignedBy(widened.serverCertPem, first.caCertPem));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('half a CA on disk is an error, not a silent new CA', async () => {
  const dir = await tmp();
  try {
    await pki.ensureServerPki(dir);
    await rm(path.join(dir, 'pki', 'ca.key'));
    await assert.rejects(pki.ensureServerPki(dir), /incomplete CA/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('admin kubeconfig: system:masters client cert, embedded CA, 0600, kept across restarts, rewritten on new URL', async () => {
  const dir = await tmp();
  try {
    const p = await pki.ensureServerPki(dir);
    const file = await pki.writeAdminKubeconfig(dir, 'https://127.0.0.1:6443');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const resolved = await pki.readKubeconfig(file);
    assert.equal(resolved.server, 'https://127.0.0.1:6443');
    assert.equal(resolved.caCertPem, p.caCertPem);
    const info = pki.inspectCertificate(resolved.clientCertPem!);
    assert.equal(info.commonName, 'kubernetes-admin');
    assert.deepEqual(info.organizations, ['system:masters']);
    assert.ok(pki.keyMatchesCertificate(resolved.clientCertPem!, resolved.clientKeyPem!));
    const before = await readFile(file, 'utf8');
    await pki.writeAdminKubeconfig(dir, 'https://127.0.0.1:6443');
    assert.equal(await readFile(file, 'utf8'), before, 'unchanged on restart');
    await pki.writeAdminKubeconfig(dir, 'https://127.0.0.1:7443');
    assert.equal((await pki.readKubeconfig(file)).server, 'https://127.0.0.1:7443');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('readKubeconfig resolves file references relative to the kubeconfig and reports missing contexts', async () => {
  const dir = await tmp();
  try {
    await writeFile(path.join(dir, 'ca.pem'), 'CA');
    await writeFile(path.join(dir, 'tok'), 'abc\n');
    await writeFile(path.join(dir, 'kc'), [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      'clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority: ca.pem}}]',
      'users: [{name: u, user: {tokenFile: tok}}]',
      'contexts: [{name: c, context: {cluster: k, user: u, namespace: ns1}}]',
    ].join('\n'));
    assert.deepEqual(await pki.readKubeconfig(path.join(dir, 'kc')), { server: 'https://h:1', caCertPem: 'CA', token: 'abc', namespace: 'ns1' });
    await assert.rejects(pki.readKubeconfig(path.join(dir, 'kc'), 'nope'), /context "nope" not found/);
    await writeFile(path.join(dir, 'bad'), 'a: [');
    await assert.rejects(pki.readKubeconfig(path.join(dir, 'bad')), /not valid YAML/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bootstrap tokens: format, Secret layout, and every upstream validation rule', () => {
  const t = pki.generateBootstrapToken();
  const s = pki.formatBootstrapToken(t);
  assert.match(s, pki.BOOTSTRAP_TOKEN_PATTERN);
  assert.deepEqual(pki.parseBootstrapToken(s), t);
  for (const bad of ['abc.def', 'ABCDEF.0123456789abcdef', 'abcdef0123456789abcdef', 'abcdef.0123456789abcde']) {
    assert.equal(pki.parseBootstrapToken(bad), null, bad);
  }
  const now = new Date('2030-01-01T00:00:00Z');
  const secret = pki.bootstrapTokenSecret(t, { ttlMs: 3600_000, now, description: 'join' });
  assert.equal(secret.metadata?.name, `bootstrap-token-${t.id}`);
  assert.equal(secret.metadata?.namespace, 'kube-system');
  assert.equal(secret.type, 'bootstrap.kubernetes.io/token');
  assert.equal(secret.stringData?.expiration, '2030-01-01T01:00:00Z');
  // Stored form: data base64, as the API server keeps Secrets.
  const stored = { ...secret, stringData: undefined, data: Object.fromEntries(Object.entries(secret.stringData!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
  const ok = pki.validateBootstrapToken(stored, t, now);
  assert.deepEqual(ok, { ok: true, identity: { username: `system:bootstrap:${t.id}`, groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token'] } });
  const cases: Array<[string, Parameters<typeof pki.validateBootstrapToken>[0], pki.BootstrapToken, Date, RegExp]> = [
    ['missing', null, t, now, /not found/],
    ['wrong type', { ...stored, type: 'Opaque' }, t, now, /wrong type/],
    ['wrong secret', stored, { id: t.id, secret: 'x'.repeat(16) }, now, /does not match/],
    ['expired', stored, t, new Date('2030-01-01T01:00:00Z'), /expired/],
    ['being deleted', { ...stored, metadata: { ...stored.metadata, deletionTimestamp: new Date() } }, t, now, /deleted/],
    ['no auth usage', { ...stored, data: { ...stored.data, 'usage-bootstrap-authentication': Buffer.from('false').toString('base64') } }, t, now, /not marked/],
    ['bad group', { ...stored, data: { ...stored.data, 'auth-extra-groups': Buffer.from('system:masters').toString('base64') } }, t, now, /auth-extra-groups/],
  ];
  for (const [name, sec, tok, when, re] of cases) {
    const r = pki.validateBootstrapToken(sec, tok, when);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.match(r.reason, re, name);
  }
  assert.throws(() => pki.bootstrapTokenSecret(t, { groups: ['system:masters'] }), /must match/);
});

test('bootstrap token made for one node name: the name is stored in the Secret (kedge-node-name) and comes back with the identity', () => {
  const t = pki.generateBootstrapToken();
  const secret = pki.bootstrapTokenSecret(t, { nodeName: 'edge-a' });
  assert.equal(secret.stringData?.[pki.BOOTSTRAP_TOKEN_NODE_NAME_KEY], 'edge-a');
  const r = pki.validateBootstrapToken(secret, t);
  assert.ok(r.ok);
  assert.equal(r.ok && r.identity.nodeName, 'edge-a');
  const plain = pki.validateBootstrapToken(pki.bootstrapTokenSecret(t), t);
  assert.ok(plain.ok && plain.identity.nodeName === undefined);
  // A stored secret of another length is compared in equal time and refused like any wrong secret.
  const longer = { ...secret, stringData: { ...secret.stringData, 'token-secret': t.secret + 'x' } };
  assert.deepEqual(pki.validateBootstrapToken(longer, t), { ok: false, reason: 'token secret does not match' });
});

test('service account signing key persists with 0600 and a stable key id', async () => {
  const dir = await tmp();
  try {
    const a = await pki.ensureServiceAccountKeyPair(dir);
    const b = await pki.ensureServiceAccountKeyPair(dir);
    assert.equal(a.keyId, b.keyId);
    assert.equal((await stat(path.join(dir, 'sa.key'))).mode & 0o777, 0o600);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
