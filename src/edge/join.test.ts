import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { caCertHash, createCertificateAuthority, issueServerCertificate, signCertificateRequest, type CertificateAuthority } from '../pki/index.js';
import { discoverCa, joinCluster } from './join.js';
import { readNodeIdentity } from './config.js';

/** A hub stand-in: serves `caBody` at /v1/cacert with a serving cert from `servingCa`, records join attempts. */
async function fakeHub(servingCa: CertificateAuthority, caBody: string, issuingCa: CertificateAuthority) {
  const serving = await issueServerCertificate(servingCa, 'hub', ['127.0.0.1']);
  const joins: string[] = [];
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    if (req.url === '/v1/cacert') return void res.end(caBody);
    if (req.url === '/v1/join') {
      joins.push(req.headers.authorization ?? '');
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { csr } = JSON.parse(body) as { csr: string };
        void signCertificateRequest(issuingCa, csr, { purposes: ['client'] }).then((certificate) => {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ certificate }));
        });
      });
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    joins,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('an on-path party appending its own CA to the pinned one is refused, and the token is never sent', async (t) => {
  const realCa = await createCertificateAuthority('real-cloud-ca');
  const attackerCa = await createCertificateAuthority('attacker-ca');
  // The attacker terminates TLS with its own CA and serves the real CA first, so the pin (of the first
  // certificate) matches; before the fix the edge then trusted the whole bundle and sent the token to it.
  const hub = await fakeHub(attackerCa, realCa.certPem + attackerCa.certPem, attackerCa);
  t.after(() => hub.close());
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kedge-join-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  await assert.rejects(
    joinCluster({ server: hub.url, token: 'abcdef.0123456789abcdef', nodeName: 'n1', dataDir, caCertHash: caCertHash(realCa.certPem) }),
    /refusing the cloud CA .*exactly one PEM certificate, got 2/,
  );
  assert.deepEqual(hub.joins, [], 'the bootstrap token never left the edge');
  await assert.rejects(readNodeIdentity(dataDir), 'nothing stored as a trust root');
  // Same with --unsafe-skip-ca-verification: a bundle is never a trust root.
  await assert.rejects(discoverCa(hub.url, undefined, true), /exactly one PEM certificate/);
});

test('stray text or a key beside the pinned certificate is refused; the stored CA is exactly the pinned certificate', async (t) => {
  const realCa = await createCertificateAuthority('real-cloud-ca');
  const pin = caCertHash(realCa.certPem);
  for (const body of [realCa.certPem + realCa.keyPem, `garbage\n${realCa.certPem}`, realCa.certPem.replace('CERTIFICATE-----\n', 'TRUSTED CERTIFICATE-----\n')]) {
    const hub = await fakeHub(realCa, body, realCa);
    await assert.rejects(discoverCa(hub.url, pin), /refusing the cloud CA|could not fetch/);
    assert.deepEqual(hub.joins, []);
    await hub.close();
  }
  // The real hub: one certificate; join succeeds and stores it (and nothing else) as ca.crt.
  const hub = await fakeHub(realCa, `\n${realCa.certPem}\n\n`, realCa);
  t.after(() => hub.close());
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kedge-join-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  await joinCluster({ server: hub.url, token: 'abcdef.0123456789abcdef', nodeName: 'n1', dataDir, caCertHash: pin });
  assert.deepEqual(hub.joins, ['Bearer abcdef.0123456789abcdef']);
  const stored = readFileSync(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  assert.equal(stored.match(/BEGIN CERTIFICATE/g)?.length, 1);
  assert.equal(caCertHash(stored), pin);
  assert.equal((await readNodeIdentity(dataDir)).caCertPem, stored);
});
