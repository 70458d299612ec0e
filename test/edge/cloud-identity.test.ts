/**
 * Node identity on the cloud side, against a real `kedge server` and real `kedge edge` processes: a bootstrap token
 * cannot take over a registered node (only a token made for that name can, once); deleting a Node ends its
 * session with CloseCode.Revoked and its certificate can neither reconnect nor renew, nor bring the Node back
 * through a late status report; a second agent with the same identity is refused with CloseCode.DuplicateSession
 * and logged, while a half-open session is replaced; refused tokens all look alike.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { copyDataDir, createToken, edgeRunArgs, eventually, joinEdge, run, startCluster, EDGE_FLAGS, type Cluster, type Edge } from './cluster.js';
import { RawClient, credsFrom, type Creds } from './raw-client.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { createCertificateRequest } from '../../src/pki/index.js';
import { CloseCode } from '../../src/protocol/close-codes.js';

let c: Cluster;
let token: { token: string; hash: string };
let hubCa: string;
/** edge-a's first agent: its data dir holds the identity a later join replaces. */
let edgeA: Edge;

before(async () => {
  c = await startCluster('cloud-identity');
  token = await createToken(c);
  hubCa = readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8');
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

function hubRequest(pathname: string, opts: { token?: string; creds?: Creds }, body: unknown): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: c.hubPort,
        path: pathname,
        method: 'POST',
        ca: hubCa,
        cert: opts.creds?.cert,
        key: opts.creds?.key,
        servername: '',
        headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      },
      (res) => {
        let d = '';
        res.on('data', (x: Buffer) => (d += x.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d, ms: performance.now() - started }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function renewWith(creds: Creds, node: string): Promise<{ status: number; body: string }> {
  const { csrPem } = await createCertificateRequest({ commonName: `system:node:${node}`, organizations: ['system:nodes'] });
  return hubRequest('/v1/renew', { creds }, { csr: csrPem });
}

/** `kedge edge join` that is expected to fail: its error output. */
async function failedJoin(name: string, tok: { token: string; hash: string }): Promise<string> {
  const cmd = kedgeCommand([
    'edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--token', tok.token, '--ca-cert-hash', tok.hash,
    '--node-name', name, '--data-dir', c.h.tempDir(`${name}-intruder`), '--local-api-port', String(await c.h.freePort()), ...EDGE_FLAGS,
  ]);
  const err = await run(cmd.command, cmd.args).then(
    () => assert.fail('the join succeeded'),
    (e: Error) => e.message,
  );
  return err;
}

/** A raw session for `node` that the hub ends or refuses: the close code and reason. */
async function closedSession(creds: Creds, node: string): Promise<{ code: number; reason: string }> {
  const cl = await RawClient.connect(c.hubPort, creds);
  cl.send({ type: 'hello', versions: [1], node });
  return cl.waitClosed(15_000);
}

const connectedLines = (e: Edge) => (e.proc.currentOutput.match(/connected to hub/g) ?? []).length;
const nodeExists = async (name: string) => (await c.kubectl(['get', 'nodes', '-o', 'name'])).split('\n').includes(`node/${name}`);

test('a bootstrap token cannot take over a registered node: refused with a clear message, the node keeps its session', async () => {
  const a = (edgeA = await joinEdge(c, 'edge-a', token));
  const sessionsBefore = (c.server.currentOutput.match(/"node":"edge-a"[^\n]*"msg":"edge connected"/g) ?? []).length;
  // Any valid token, even a fresh one, is refused for a name that belongs to a registered node.
  const other = await createToken(c);
  const err = await failedJoin('edge-a', other);
  assert.match(err, /HTTP 409/);
  assert.match(err, /node "edge-a" is already registered; a bootstrap token may not take over an existing node/);
  assert.match(err, /kedge token create --node-name edge-a/);
  assert.match(err, /kubectl delete node edge-a/);
  // The real edge-a was not dropped: no new session for edge-a, its agent still on its first connection.
  assert.equal((c.server.currentOutput.match(/"node":"edge-a"[^\n]*"msg":"edge connected"/g) ?? []).length, sessionsBefore);
  assert.equal(connectedLines(a), 1);
  await a.proc.stop();
});

test('a token made for the node name joins a registered node once, and revokes the identity it replaces', async () => {
  // edge-a's disk is "lost": its old credentials survive only in the thief's (this test's) hands.
  const oldEdgeA = credsFrom(edgeA.dataDir);
  const bound = await createToken(c, '1h', ['--node-name', 'edge-a']);
  // Made for edge-a: it cannot join as anything else.
  const wrongName = await failedJoin('edge-z', bound);
  assert.match(wrongName, /made for node "edge-a" and cannot join as "edge-z"/);
  const uidBefore = JSON.parse(await c.kubectl(['get', 'node', 'edge-a', '-o', 'json'])).metadata.uid as string;
  const a2 = await joinEdge(c, 'edge-a', bound);
  const node = JSON.parse(await c.kubectl(['get', 'node', 'edge-a', '-o', 'json'])) as { metadata: { uid: string; annotations: Record<string, string> } };
  assert.equal(node.metadata.uid, uidBefore, 'the same Node, not a new one');
  assert.equal(node.metadata.annotations['kedge.io/identity-generation'], '2');
  // Used up by that join.
  assert.match(await failedJoin('edge-a', bound), /HTTP 401.*invalid for this cluster or it has expired/s);
  // The replaced identity is revoked: no session, no renewal.
  const closed = await closedSession(oldEdgeA, 'edge-a');
  assert.equal(closed.code, CloseCode.Revoked);
  assert.match(closed.reason, /identity was issued again/);
  const renew = await renewWith(oldEdgeA, 'edge-a');
  assert.equal(renew.status, 401);
  assert.match(renew.body, /revoked/);
  // The new agent was never disturbed.
  assert.equal(connectedLines(a2), 1);
  await a2.proc.stop();
});

test('deleting a Node ends its session (Revoked); its certificate cannot reconnect or renew, and no late report brings the Node back', async () => {
  const b = await joinEdge(c, 'edge-b', token);
  const credsB = credsFrom(b.dataDir);
  await b.proc.stop();
  const cl = await RawClient.connect(c.hubPort, credsB);
  await cl.handshake('edge-b');
  await c.kubectl(['delete', 'node', 'edge-b']);
  const ended = await cl.waitClosed(15_000);
  assert.equal(ended.code, CloseCode.Revoked);
  assert.match(ended.reason, /the Node was deleted/);
  await c.server.waitForLog(/node identity revoked; ending its session/, 10_000);

  // Reconnects and renewals with that certificate are refused.
  const again = await closedSession(credsB, 'edge-b');
  assert.equal(again.code, CloseCode.Revoked);
  const renew = await renewWith(credsB, 'edge-b');
  assert.equal(renew.status, 401);
  assert.match(renew.body, /certificate of node \\?"edge-b\\?" is revoked: the Node was deleted/);

  // The real agent comes back with its buffered statuses (Node, lease): it is refused at connect (and, told
  // 4003, stops for good), and the Node stays deleted.
  const refusedBefore = (c.server.currentOutput.match(/"node":"edge-b"[^\n]*session refused: node certificate revoked/g) ?? []).length;
  b.proc = await c.h.startKedge('edge-b-revoked', edgeRunArgs(b), {});
  await eventually('the revoked agent refused', async () => (c.server.currentOutput.match(/"node":"edge-b"[^\n]*session refused: node certificate revoked/g) ?? []).length > refusedBefore, 60_000);
  await b.proc.waitForLog(/must join again/, 30_000);
  assert.equal(await nodeExists('edge-b'), false, 'the deleted Node was not re-created');
  await b.proc.stop();

  // Joining again under the freed name works with an ordinary token: a new Node (new UID) and identity, and the
  // old certificate stays refused (it names the old Node's UID).
  const b2 = await joinEdge(c, 'edge-b', token);
  assert.equal(await nodeExists('edge-b'), true);
  const stale = await closedSession(credsB, 'edge-b');
  assert.equal(stale.code, CloseCode.Revoked);
  assert.match(stale.reason, /deleted and created again/);
  assert.equal(connectedLines(b2), 1);
  await b2.proc.stop();
});

test('a second agent with the same identity is refused (DuplicateSession) and logged with both addresses; the first keeps its session', async () => {
  const d = await joinEdge(c, 'edge-d', token);
  const creds = credsFrom(d.dataDir);
  // A hand-driven duplicate is refused at once, with the code the edge acts on.
  const dup = await closedSession(creds, 'edge-d');
  assert.equal(dup.code, CloseCode.DuplicateSession);
  assert.match(dup.reason, /another agent holds a live session for node edge-d/);
  const line = await c.server.waitForLog(/"node":"edge-d"[^\n]*duplicate session refused[^\n]*/, 10_000);
  assert.match(line[0], /"liveRemote":"127\.0\.0\.1:\d+"/);
  assert.match(line[0], /"refusedRemote":"127\.0\.0\.1:\d+"/);

  // A copied data dir: a second real agent under edge-d keeps being refused, the first is never kicked off.
  await d.proc.stop();
  const copyDir = c.h.tempDir('edge-d-copy');
  copyDataDir(d.dataDir, copyDir);
  // On another machine the copy's local API port would be free; on this one it is the original's.
  const configFile = path.join(copyDir, 'config.json');
  const copyPort = await c.h.freePort();
  writeFileSync(configFile, JSON.stringify({ ...(JSON.parse(readFileSync(configFile, 'utf8')) as object), localApiPort: copyPort }));
  d.proc = await c.h.startKedge('edge-d-again', edgeRunArgs(d), { ready: { logLine: /connected to hub/, timeoutMs: 60_000 } });
  const firstConnects = connectedLines(d);
  const copy = await c.h.startKedge('edge-d-copy', ['edge', 'run', '--data-dir', copyDir, '--local-api-port', String(copyPort), ...EDGE_FLAGS], {});
  const refusals = () => (c.server.currentOutput.match(/"node":"edge-d"[^\n]*duplicate session refused/g) ?? []).length;
  const metric = async () => {
    const r = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: c.hubPort, path: '/metrics', ca: hubCa, servername: '' }, (res) => {
        let body = '';
        res.on('data', (x: Buffer) => (body += x.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    return Number(/^kedge_hub_sessions_refused_total\{reason="duplicate"\} (\d+)$/m.exec(r)?.[1] ?? 0);
  };
  const before = await metric();
  await eventually('the copy refused', async () => (await metric()) > before, 60_000);
  // The copy is told why and backs off for a minute or more (the edge's side); the first agent was not disturbed.
  await copy.waitForLog(/another agent is connected as node edge-d/, 30_000);
  assert.equal(connectedLines(d), firstConnects, 'the first agent kept its one session');
  assert.ok((await c.kubectl(['get', 'node', 'edge-d', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).includes('True'));
  // Logged loudly but rate-limited: one line per node per minute, not one per attempt.
  assert.ok(refusals() <= 2, `${refusals()} duplicate log lines`);
  await copy.stop();
  await d.proc.stop();
});

test('a half-open session (its edge gone without a FIN) is replaced once it fails to answer a ping', async () => {
  const e = await joinEdge(c, 'edge-e', token);
  const creds = credsFrom(e.dataDir);
  await e.proc.stop();
  // The old connection goes through a link that then swallows everything: the hub still holds its session.
  const link = await c.proxy.addLink('edge-e-raw', { host: '127.0.0.1', port: c.hubPort });
  const stale = await new Promise<RawClient>((resolve, reject) => {
    void RawClient.connect(link.port, creds).then(resolve, reject);
  });
  await stale.handshake('edge-e');
  link.drop();
  const started = Date.now();
  const fresh = await RawClient.connect(c.hubPort, creds);
  await fresh.handshake('edge-e');
  assert.ok(Date.now() - started >= 4000, 'admitted only after the old session missed its ping (5 s)');
  assert.ok((await fresh.get('/registry/nodes/edge-e')).object, 'the new session serves');
  await c.server.waitForLog(/"node":"edge-e"[^\n]*replacing a session that did not answer a ping/, 10_000);
  fresh.close();
  stale.close();
});

test('refused bootstrap tokens look alike: unknown id, wrong secret, expired, not for authentication, malformed', async () => {
  const { csrPem } = await createCertificateRequest({ commonName: 'system:node:edge-t', organizations: ['system:nodes'] });
  const [id] = token.token.split('.');
  const expired = await createToken(c, '1s');
  // A token Secret only for signing (kubeadm's usage-bootstrap-signing), not for authentication.
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'bootstrap-token-sign01', namespace: 'kube-system' },
    type: 'bootstrap.kubernetes.io/token',
    stringData: { 'token-id': 'sign01', 'token-secret': '0123456789abcdef', 'usage-bootstrap-signing': 'true' },
  }));
  // Wall-clock wait, not a condition: the token's expiry is one second out.
  await new Promise((r) => setTimeout(r, 1500));
  const cases: Record<string, string> = {
    'unknown id': 'zzzzzz.0123456789abcdef',
    'wrong secret': `${id}.0000000000000000`,
    expired: expired.token,
    'not for authentication': 'sign01.0123456789abcdef',
    malformed: 'not-a-token',
  };
  const answers: Record<string, { status: number; body: string; ms: number }> = {};
  for (const [what, tok] of Object.entries(cases)) answers[what] = await hubRequest('/v1/join', { token: tok }, { nodeName: 'edge-t', csr: csrPem });
  const reference = answers['unknown id']!;
  assert.equal(reference.status, 401);
  assert.match(reference.body, /invalid for this cluster or it has expired/);
  for (const [what, r] of Object.entries(answers)) {
    assert.equal(r.status, reference.status, what);
    assert.equal(r.body, reference.body, what);
    // Every refusal is answered no sooner than the hub's floor (200 ms), whatever the path took.
    assert.ok(r.ms >= 190, `${what}: answered after ${r.ms.toFixed(0)} ms`);
  }
  // The operator still sees why, in the hub's log.
  await c.server.waitForLog(/"tokenId":"zzzzzz"[^\n]*not found/, 10_000);
  await c.server.waitForLog(/"tokenId":"sign01"[^\n]*not marked for authentication/, 10_000);
  assert.equal(await nodeExists('edge-t'), false);
});
