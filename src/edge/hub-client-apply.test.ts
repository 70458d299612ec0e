/**
 * The hub client's apply/cursor path against a scripted hub (TLS + WebSocket in this process) and a real SQLite
 * store: after a message fails to apply, nothing later on that connection is applied, acked or counted in the
 * cursor; the next connection resumes from the last message applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { createLogger } from '../common/logger.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../pki/index.js';
import { SUBPROTOCOL, type EdgeToHub } from '../protocol/index.js';
import { openSqliteStore } from '../storage/sqlite.js';
import { HubClient } from './hub-client.js';
import { LocalStore } from './local-store.js';

const pod = (name: string, rv: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv } });
const keyOf = (name: string) => `/registry/pods/default/${name}`;

/**
 * A scripted hub (TLS + WebSocket in this process) and a HubClient for node n1 on `store`: `onFrame` sees every frame
 * the edge sends with its socket. Torn down after the test.
 */
async function scriptedHub(
  t: { after(fn: () => Promise<void>): void },
  store: Awaited<ReturnType<typeof openSqliteStore>>,
  onFrame: (ws: WebSocket, msg: EdgeToHub) => void,
  clientOptions: Partial<ConstructorParameters<typeof HubClient>[0]> = {},
): Promise<{ hub: HubClient; local: LocalStore }> {
  const ca = await createCertificateAuthority('hub-ca');
  const serving = await issueServerCertificate(ca, 'hub', ['127.0.0.1']);
  const client = await issueClientCertificate(ca, 'system:node:n1', ['system:nodes']);
  const local = new LocalStore(store);
  const server = https.createServer({ cert: serving.certPem, key: serving.keyPem });
  const wss = new WebSocketServer({ server, handleProtocols: () => SUBPROTOCOL });
  wss.on('connection', (ws: WebSocket) => ws.on('message', (data) => onFrame(ws, JSON.parse(String(data)) as EdgeToHub)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const hub = new HubClient({
    hubUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    nodeName: 'n1',
    credentials: () => ({ caCertPem: ca.certPem, certPem: client.certPem, keyPem: client.keyPem }),
    store: local,
    log: createLogger('test', 'silent'),
    backoff: { initialMs: 10, maxMs: 20 },
    ...clientOptions,
  });
  t.after(async () => {
    await hub.stop();
    wss.close();
    server.closeAllConnections();
    server.close();
    await store.close();
  });
  return { hub, local };
}

test('a patch whose base read times out: the delete queued behind it is not applied, the cursor stays, the next connection resumes before both', async (t) => {
  const store = await openSqliteStore(':memory:');
  const hellos: Array<Extract<EdgeToHub, { type: 'hello' }>> = [];
  const acks: number[] = [];
  const gets: string[] = [];
  const { hub, local } = await scriptedHub(t, store, (ws, msg) => {
    if (msg.type === 'ack') acks.push(msg.seq);
    if (msg.type === 'get') gets.push(msg.key); // never answered: the read times out
    if (msg.type !== 'hello') return;
    hellos.push(msg);
    ws.send(JSON.stringify({ type: 'welcome', version: 2, epoch: 'e1', resume: true }));
    if (hellos.length > 1) return; // the second connection: the test only looks at its hello
    // A patch onto a version the edge does not hold (it reads the object through the hub), then b's deletion.
    ws.send(JSON.stringify({ type: 'patch', seq: 11, key: keyOf('a'), base: '5', patch: { metadata: { resourceVersion: '6' } } }));
    ws.send(JSON.stringify({ type: 'delete', seq: 12, key: keyOf('b') }));
  }, { getQuietMs: 200, getMaxMs: 1_000 });
  // The edge holds a at rv 1 and b, and has applied everything through seq 10.
  await local.applyUpsert(keyOf('a'), pod('a', '1'));
  await local.applyUpsert(keyOf('b'), pod('b', '1'));
  await local.writeCursor({ epoch: 'e1', seq: 10 });
  const deleted: string[] = [];
  hub.on('applied', (key, kind) => kind === 'delete' && deleted.push(key));
  hub.start();
  const deadline = Date.now() + 15_000;
  while (hellos.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(hellos.length, 2, 'the edge reconnected after the failed read');
  assert.deepEqual(gets, [keyOf('a')]);
  assert.deepEqual(hellos[1]!.cursor, { epoch: 'e1', seq: 10 }, 'the second hello resumes before the failed patch');
  assert.deepEqual(await local.readCursor(), { epoch: 'e1', seq: 10 });
  assert.deepEqual(acks, [], 'nothing acked');
  assert.deepEqual(deleted, [], 'the delete behind the failed patch was not applied');
  assert.ok(await store.get(keyOf('b')), 'b is still held (the resend will delete it)');
});

test('a burst followed at once by a progress mark: the last upsert is acked and its cursor persisted, with the revision', async (t) => {
  const store = await openSqliteStore(':memory:');
  const acks: number[] = [];
  const { hub, local } = await scriptedHub(t, store, (ws, msg) => {
    if (msg.type === 'ack') acks.push(msg.seq);
    if (msg.type !== 'hello') return;
    ws.send(JSON.stringify({ type: 'welcome', version: 5, epoch: 'e1', resume: true }));
    ws.send(JSON.stringify({ type: 'synced', seq: 10 }));
    // One frame each, sent together: the progress mark is queued behind the upserts when they are applied.
    for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ type: 'upsert', seq: 11 + i, key: keyOf(`p${i}`), object: pod(`p${i}`, String(100 + i)) }));
    ws.send(JSON.stringify({ type: 'progress', rev: 102 }));
  });
  await local.writeCursor({ epoch: 'e1', seq: 10 });
  hub.start();
  const deadline = Date.now() + 10_000;
  while (!acks.includes(13) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(acks.includes(13), `the last upsert is acked (acks: ${JSON.stringify(acks)})`);
  assert.deepEqual(await local.readCursor(), { epoch: 'e1', seq: 13, rev: 102 });
});
