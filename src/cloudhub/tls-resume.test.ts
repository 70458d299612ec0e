/**
 * The hub's node authentication on resumed TLS sessions: the security assumption behind session resumption
 * (OpenSSL restores the verified client certificate from the ticket) checked against the real TLS stack with
 * the hub's own server options, so a Node/OpenSSL upgrade that changed it fails here.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls, { type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueCertificate, issueClientCertificate, issueServerCertificate, type CertificateAuthority, type IssuedCertificate } from '../pki/index.js';
import { bindingUri } from './node-identity.js';
import { hubTlsOptions, nodeFromPeer } from './hub.js';

let ca: CertificateAuthority;
let server: https.Server;
let port: number;
let n1: IssuedCertificate;
let n2: IssuedCertificate;
/** What the server concluded about each connection, in order. */
const seen: Array<{ reused: boolean; who: ReturnType<typeof nodeFromPeer> }> = [];

before(async () => {
  ca = await createCertificateAuthority();
  const serving = await issueServerCertificate(ca, 'hub', ['127.0.0.1']);
  // As the hub's join signs them: bound to one registration of the Node (node-identity.ts).
  const nodeCert = (n: string, uid: string) => issueCertificate(ca, { commonName: `system:node:${n}`, organizations: ['system:nodes'], purposes: ['client'], uris: [bindingUri({ uid, generation: 1 })] });
  n1 = await nodeCert('n1', 'uid-1');
  n2 = await nodeCert('n2', 'uid-2');
  server = https.createServer(hubTlsOptions(serving, ca.certPem));
  server.on('secureConnection', (s: TLSSocket) => seen.push({ reused: s.isSessionReused(), who: nodeFromPeer(s) }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

/** One TLS connection; resolves with the last session ticket received (if any) once the server has judged it. */
function dial(cert: IssuedCertificate, session?: Buffer): Promise<{ reused: boolean; ticket: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const s = tls.connect({ host: '127.0.0.1', port, servername: '', ca: ca.certPem, cert: cert.certPem, key: cert.keyPem, session });
    s.on('session', (t: Buffer) => (ticket = t));
    s.on('error', reject);
    s.once('secureConnect', () => {
      // TLS 1.3 tickets follow the handshake: give them a moment, then close.
      setTimeout(() => {
        const reused = s.isSessionReused();
        s.end();
        resolve({ reused, ticket });
      }, 100);
    });
  });
}

test('a resumed session is authenticated as the node whose certificate created it', async () => {
  seen.length = 0;
  const first = await dial(n1);
  assert.equal(first.reused, false);
  assert.ok(first.ticket, 'the hub issues a session ticket');
  const second = await dial(n1, first.ticket);
  assert.equal(second.reused, true, 'the ticket was accepted');
  assert.deepEqual(seen, [
    { reused: false, who: { node: 'n1', binding: { uid: 'uid-1', generation: 1 } } },
    { reused: true, who: { node: 'n1', binding: { uid: 'uid-1', generation: 1 } } },
  ]);
});

test('a ticket carries the identity that created it, whatever certificate the client now holds (so edges bind tickets to credentials)', async () => {
  seen.length = 0;
  const first = await dial(n1);
  await dial(n2, first.ticket);
  // Resumption does not present a certificate: offered with n2's key, n1's ticket still means n1. It can
  // never mean anyone else, which is why the edge drops its ticket when its credentials change.
  assert.deepEqual(seen[1], { reused: true, who: { node: 'n1', binding: { uid: 'uid-1', generation: 1 } } });
  const fresh = await dial(n2);
  assert.equal(fresh.reused, false);
  assert.deepEqual(seen[2], { reused: false, who: { node: 'n2', binding: { uid: 'uid-2', generation: 1 } } });
});

test('a certificate that expired after its session was created is refused on resumption', async () => {
  seen.length = 0;
  const first = await dial(n1);
  await dial(n1, first.ticket);
  const later = Date.now() + 2 * 365 * 24 * 3600_000;
  // Re-judge the resumed connection as if two years had passed (the certificate is valid for one).
  const resumed = await new Promise<ReturnType<typeof nodeFromPeer>>((resolve, reject) => {
    server.once('secureConnection', (s: TLSSocket) => resolve(nodeFromPeer(s, later)));
    dial(n1, first.ticket).catch(reject);
  });
  assert.ok('error' in resumed && /expired/.test(resumed.error), JSON.stringify(resumed));
});

test('a CA-signed node certificate without the hub\'s identity binding is not a node identity', async () => {
  seen.length = 0;
  const unbound = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
  await dial(unbound);
  const who = seen[0]!.who;
  assert.ok('error' in who && /no node identity binding/.test(who.error), JSON.stringify(who));
});
