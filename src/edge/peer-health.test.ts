import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority } from '../pki/index.js';
import { createLogger } from '../common/logger.js';
import { openSqliteStore } from '../storage/sqlite.js';
import type { Store } from '../storage/types.js';
import type { EdgeCredentials } from './config.js';
import { PeerHealth } from './peer-health.js';

const log = createLogger('test', 'silent');

async function nodeCreds(ca: CertificateAuthority, user: string, groups = ['system:nodes']): Promise<EdgeCredentials> {
  const c = await issueClientCertificate(ca, user, groups);
  return { caCertPem: ca.certPem, certPem: c.certPem, keyPem: c.keyPem };
}

/** A port free on both loopback addresses the two nodes listen on (every node of a pool uses the same port). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.2', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function storeWith(nodes: Array<{ name: string; pool: string; ip: string }>): Promise<Store> {
  const store = await openSqliteStore(':memory:');
  for (const n of nodes) {
    await store.create(`/registry/nodes/${n.name}`, JSON.stringify({ metadata: { name: n.name, labels: { 'apps.openyurt.io/nodepool': n.pool } }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } }));
  }
  return store;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the listener at host:port answers a client with these credentials ('' when it closes without a word). */
function greetingFor(creds: EdgeCredentials, host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = tls.connect({ host, port, key: creds.keyPem, cert: creds.certPem, rejectUnauthorized: false });
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('close', () => resolve(data));
    s.on('error', () => undefined);
  });
}

test('pool peers probe each other over mutual TLS: reachable at once, unreachable after 3 failures; outsiders get nothing', async () => {
  const ca = await createCertificateAuthority('cloud-ca');
  const port = await freePort();
  const layout = [{ name: 'a', pool: 'p', ip: '127.0.0.2' }, { name: 'b', pool: 'p', ip: '127.0.0.3' }, { name: 'c', pool: 'q', ip: '127.0.0.4' }];
  const make = async (name: string, ip: string, onChange?: () => void) => {
    const creds = await nodeCreds(ca, `system:node:${name}`);
    const h = new PeerHealth({ store: await storeWith(layout), nodeName: name, log, credentials: () => creds, bindAddress: () => ip, port, periodMs: 100, onChange });
    return { h, creds };
  };
  let changes = 0;
  const a = await make('a', '127.0.0.2', () => changes++);
  const b = await make('b', '127.0.0.3');
  await a.h.start();
  await b.h.start();
  try {
    await until('a sees b', () => a.h.report().b?.reachable === true);
    await until('b sees a', () => b.h.report().a?.reachable === true);
    assert.deepEqual(Object.keys(a.h.report()), ['b'], 'only pool peers are probed (c is in pool q)');
    assert.equal(await greetingFor(a.creds, '127.0.0.3', port), 'kedge-peer-health b\n');

    // Certificates that must get nothing: a node of another pool, a user that is no node, another CA's node.
    const c = await nodeCreds(ca, 'system:node:c');
    assert.equal(await greetingFor(c, '127.0.0.3', port), '', 'node of another pool');
    assert.equal(await greetingFor(await nodeCreds(ca, 'system:node:a', []), '127.0.0.3', port), '', 'no system:nodes group');
    assert.equal(await greetingFor(await nodeCreds(ca, 'admin', ['system:masters']), '127.0.0.3', port), '', 'not a node');
    const other = await createCertificateAuthority('other-ca');
    assert.equal(await greetingFor(await nodeCreds(other, 'system:node:a'), '127.0.0.3', port), '', 'another CA');

    const before = changes;
    await b.h.stop();
    await until('a loses b', () => a.h.report().b?.reachable === false);
    assert.equal(changes, before + 1, 'one change reported when the verdict flips');
  } finally {
    await a.h.stop();
    await b.h.stop();
  }
});
