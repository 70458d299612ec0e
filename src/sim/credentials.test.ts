/**
 * Fast hollow-node certificates: each minted certificate must be a genuine CA-signed client certificate for
 * its own node name (what the hub checks), accepted by a real TLS server requiring client certificates.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { webcrypto, X509Certificate, createPrivateKey } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { HollowCredentialMinter, type CredentialTemplate } from './credentials.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

const toPem = (label: string, der: ArrayBuffer) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;

/** A CA and one node certificate from it, built the way src/pki does (P-256, CN=system:node:NAME, O=system:nodes). */
async function makeTemplate(nodeName: string, uid?: string): Promise<CredentialTemplate> {
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test-ca',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys: caKeys,
    signingAlgorithm: EC,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leafKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a',
    subject: [{ O: ['system:nodes'] }, { CN: [`system:node:${nodeName}`] }],
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ...(uid ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `urn:kedge:node-identity:${uid}:1` }])] : []),
    ],
  });
  return {
    caCertPem: ca.toString('pem') + '\n',
    caKeyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', caKeys.privateKey)),
    certPem: leaf.toString('pem') + '\n',
    keyPem: toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)),
    nodeName,
    ...(uid ? { uid } : {}),
  };
}

describe('HollowCredentialMinter', () => {
  let t: CredentialTemplate;
  let minter: HollowCredentialMinter;
  before(async () => {
    t = await makeTemplate('hollow-00000');
    minter = new HollowCredentialMinter(t);
  });

  it('mints a CA-signed certificate naming the node, with its own serial', () => {
    const a = minter.mint('hollow-04242');
    const b = minter.mint('hollow-04243');
    const ca = new X509Certificate(t.caCertPem);
    for (const [c, name] of [[a, 'hollow-04242'], [b, 'hollow-04243']] as const) {
      const cert = new X509Certificate(c.certPem);
      assert.ok(cert.verify(ca.publicKey), 'signature verifies with the CA key');
      assert.ok(cert.checkIssued(ca));
      assert.match(cert.subject, new RegExp(`CN=system:node:${name}`));
      assert.match(cert.subject, /O=system:nodes/);
      assert.ok(cert.checkPrivateKey(createPrivateKey(c.keyPem)), 'the shared key matches the certificate');
    }
    assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(b.certPem).serialNumber);
    assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(t.certPem).serialNumber);
  });

  it('refuses names of another length (they would shift the DER structure)', () => {
    assert.equal(minter.fits('hollow-123456'), false);
    assert.throws(() => minter.mint('hollow-123456'), /not 12 bytes/);
  });

  it('is accepted by a TLS server that verifies client certificates against the CA', async () => {
    const c = minter.mint('hollow-00007');
    const server = tls.createServer({ ...(await selfServing(t)), ca: t.caCertPem, requestCert: true, rejectUnauthorized: true }, (s) => {
      s.end(String((s.getPeerCertificate().subject as { CN?: string }).CN));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', cert: c.certPem, key: c.keyPem, rejectUnauthorized: false });
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
      assert.equal(got, 'system:node:hollow-00007');
    } finally {
      server.close();
    }
  });
});

describe('HollowCredentialMinter with a bound template (the hub accepts only certificates bound to their Node)', () => {
  it("puts each node's own Node UID where the template's was, and refuses a missing or misfit uid", async () => {
    const t = await makeTemplate('hollow-00000', '00000000-0000-4000-8000-000000000000');
    const m = new HollowCredentialMinter(t);
    const uid = '3f2b8c1e-9d4a-4e7b-8f00-123456789abc';
    const c = m.mint('hollow-00042', uid);
    const cert = new X509Certificate(c.certPem);
    assert.ok(cert.verify(new X509Certificate(t.caCertPem).publicKey));
    assert.equal(cert.subjectAltName, `URI:urn:kedge:node-identity:${uid}:1`);
    assert.throws(() => m.mint('hollow-00043'), /needs a uid/);
    assert.throws(() => m.mint('hollow-00043', 'short'), /needs a uid/);
  });
});

/** Some serving certificate (what is tested is the server's check of the client's certificate). */
async function selfServing(t: CredentialTemplate): Promise<{ cert: string; key: string }> {
  const m = new HollowCredentialMinter(t);
  const c = m.mint('hollow-server'.slice(0, t.nodeName.length));
  return { cert: c.certPem, key: c.keyPem };
}
