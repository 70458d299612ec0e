/**
 * Node authorization and bad input against the real hub: a node certificate for edge-a can read only what
 * edge-a's pods need and write only edge-a's Node, Lease, pod statuses and events; forged identities,
 * malformed/unknown/oversized frames, forged acks, expired tokens and a wrong CA are refused with a reason,
 * change nothing, and the hub keeps serving the other node.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, edgeNames, secretList, eventually, joinEdge, run, startCluster, type Cluster, type Edge } from './cluster.js';
import { RawClient, credsFrom, type Creds } from './raw-client.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { createCertificateAuthority, issueClientCertificate } from '../../src/pki/index.js';
import { LINK_COMPRESS_MIN_CHARS } from '../../src/protocol/compression.js';

let c: Cluster;
let a: Edge;
let b: Edge;
let credsA: Creds;
let token: { token: string; hash: string };

const podSpec = (name: string, node: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { nodeName: node, containers: [{ name: 'main', image: 'busybox' }], ...extra },
});

before(async () => {
  c = await startCluster('edge-authz');
  token = await createToken(c);
  [a, b] = await Promise.all([joinEdge(c, 'edge-a', token), joinEdge(c, 'edge-b', token)]);
  await c.kubectl(['apply', '-f', '-'], secretList(['sec-a', 'sec-b']));
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-unused', namespace: 'default' }, data: { k: 'x' } }));
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      podSpec('pod-a', 'edge-a', { volumes: [{ name: 's', secret: { secretName: 'sec-a' } }] }),
      podSpec('pod-b', 'edge-b', { volumes: [{ name: 's', secret: { secretName: 'sec-b' } }] }),
    ],
  }));
  await eventually('pod-b on edge-b', async () => (await edgeNames(b, '/api/v1/namespaces/default/pods')).includes('pod-b'));
  // From here on the test drives edge-a's identity by hand.
  await a.proc.stop();
  credsA = credsFrom(a.dataDir);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

test('reads: a node gets its pods and what they reference, nothing else', async () => {
  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    const sent = cl.messages.filter((m) => m.type === 'upsert').map((m) => m.key as string);
    assert.ok(sent.includes('/registry/pods/default/pod-a') && sent.includes('/registry/secrets/default/sec-a'));
    assert.ok(!sent.some((k) => k.includes('pod-b') || k.includes('sec-b') || k.includes('cm-unused') || k === '/registry/nodes/edge-b'));
    assert.equal(((await cl.get('/registry/pods/default/pod-a')).object as { metadata: { name: string } }).metadata.name, 'pod-a');
    assert.ok((await cl.get('/registry/secrets/default/sec-a')).object);
    for (const key of ['/registry/secrets/default/sec-b', '/registry/pods/default/pod-b', '/registry/podtokens.kedge.io/default/pod-b', '/registry/nodes/edge-b', '/registry/configmaps/default/cm-unused', '/registry/secrets/kube-system/nope']) {
      const r = await cl.get(key);
      assert.equal(r.object, undefined, key);
      assert.equal((r.error as { code: number }).code, 403, key);
    }
  } finally {
    cl.close();
  }
});

test('writes: own node, lease, pod status and events only', async () => {
  const before = JSON.parse(await c.kubectl(['get', 'pod', 'pod-b', '-o', 'json'])) as { status?: unknown; metadata: { resourceVersion: string } };
  const nodeB = JSON.parse(await c.kubectl(['get', 'node', 'edge-b', '-o', 'json'])) as { metadata: { resourceVersion: string } };
  const uidA = (JSON.parse(await c.kubectl(['get', 'pod', 'pod-a', '-o', 'json'])) as { metadata: { uid: string } }).metadata.uid;
  const uidB = (before as unknown as { metadata: { uid: string } }).metadata.uid;
  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    const refused = async (kind: string, body: unknown) => {
      const r = await cl.status(kind, body);
      assert.equal(r.ok, false, `${kind} ${JSON.stringify(body).slice(0, 80)}`);
      assert.match(String(r.reason), /forbidden/);
    };
    await refused('pod', { namespace: 'default', name: 'pod-b', uid: uidB, status: { phase: 'Failed' } });
    await refused('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-b' }, status: {} });
    await refused('event', { metadata: { name: 'x.1' }, involvedObject: { kind: 'Node', name: 'edge-b' }, reason: 'Hacked', message: 'x' });
    await refused('event', { metadata: { name: 'x.2', namespace: 'default' }, involvedObject: { kind: 'Pod', namespace: 'default', name: 'pod-b' }, reason: 'Hacked', message: 'x' });
    await refused('event', { metadata: { name: 'x.3', namespace: 'default' }, involvedObject: { kind: 'Secret', namespace: 'default', name: 'sec-b' }, reason: 'Hacked', message: 'x' });
    // Allowed: its own pod's status and lease.
    assert.equal((await cl.status('pod', { namespace: 'default', name: 'pod-a', uid: uidA, status: { phase: 'Running', message: 'from edge-a' } })).ok, true);
    const own = await cl.status('pod', { namespace: 'default', name: 'pod-a', uid: uidA, status: { phase: 'Running', message: 'from edge-a' } });
    assert.equal(own.ok, true, JSON.stringify(own));
    // A stale uid (pod recreated meanwhile) is dropped, not written.
    assert.equal((await cl.status('pod', { namespace: 'default', name: 'pod-a', uid: 'not-the-uid', status: { phase: 'Failed' } })).ok, false);
  } finally {
    cl.close();
  }
  const podA = JSON.parse(await c.kubectl(['get', 'pod', 'pod-a', '-o', 'json'])) as { status: { phase: string; message?: string } };
  assert.equal(podA.status.phase, 'Running');
  const after = JSON.parse(await c.kubectl(['get', 'pod', 'pod-b', '-o', 'json'])) as { metadata: { resourceVersion: string } };
  assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'pod-b untouched');
  const events = await c.kubectl(['get', 'events', '-A', '-o', 'json']);
  assert.ok(!events.includes('Hacked'));
  // The forged Node write for edge-b left its status as edge-b itself reports it.
  const nodeBAfter = JSON.parse(await c.kubectl(['get', 'node', 'edge-b', '-o', 'json'])) as { status: { nodeInfo?: { kubeletVersion?: string } } };
  assert.match(nodeBAfter.status.nodeInfo?.kubeletVersion ?? '', /^v1\.32/);
  assert.ok(nodeB.metadata.resourceVersion);
  // Every refusal is logged with its reason by the hub.
  await c.server.waitForLog(/status item refused/, 10_000);
});

test('identity: another node name, no certificate, a foreign CA, a CSR for another node', async () => {
  const cl = await RawClient.connect(c.hubPort, credsA);
  cl.send({ type: 'hello', versions: [1], node: 'edge-b' });
  assert.equal((await cl.waitFor((m) => m.type === 'error')).code, 'forbidden');
  await cl.waitClosed();

  await assert.rejects(RawClient.connect(c.hubPort, { ca: credsA.ca }), /401/);
  const foreign = await createCertificateAuthority('not-the-cloud');
  const fake = await issueClientCertificate(foreign, 'system:node:edge-b', ['system:nodes']);
  await assert.rejects(RawClient.connect(c.hubPort, { ca: credsA.ca, cert: fake.certPem, key: fake.keyPem }), /401|socket|ECONNRESET|certificate/i);

  // Join as edge-x asking for edge-b's identity: the hub's approver refuses the CSR.
  const { createCertificateRequest } = await import('../../src/pki/index.js');
  const { csrPem } = await createCertificateRequest({ commonName: 'system:node:edge-b', organizations: ['system:nodes'] });
  const res = await fetchJoin(c.hubPort, credsA.ca, token.token, { nodeName: 'edge-x', csr: csrPem });
  assert.equal(res.status, 403);
  assert.match(res.body, /CN=system:node:edge-x/);
});

test('bad input is refused with a reason, changes nothing, and the hub keeps serving edge-b', async () => {
  const csrsBefore = (await c.kubectl(['get', 'csr', '-o', 'name'])).trim().split('\n').length;
  const newClient = async () => {
    const cl = await RawClient.connect(c.hubPort, credsA);
    await cl.handshake('edge-a');
    return cl;
  };
  let cl = await newClient();
  cl.send('{"type": "ack", "seq": ');
  assert.equal((await cl.waitFor((m) => m.type === 'error')).code, 'bad-json');
  await cl.waitClosed();

  cl = await newClient();
  cl.send({ type: 'launch-missiles', now: true });
  assert.equal((await cl.waitFor((m) => m.type === 'error')).code, 'unknown-type');
  assert.ok((await cl.get('/registry/pods/default/pod-a')).object, 'still serving after an unknown type');
  cl.send({ type: 'ack', seq: 0 }); // replayed/old ack: ignored
  cl.send({ type: 'ack', seq: 10_000_000 }); // never sent: forged
  assert.equal((await cl.waitFor((m) => m.type === 'error' && m.code === 'forged-ack')).code, 'forged-ack');
  await cl.waitClosed();

  cl = await newClient();
  cl.send({ type: 'status', id: 1, kind: 'pod', body: { namespace: 'default' }, extra: 'field' });
  assert.equal((await cl.waitFor((m) => m.type === 'error')).code, 'bad-message');
  await cl.waitClosed();

  cl = await newClient();
  cl.send(JSON.stringify({ type: 'heartbeat', t: 1, pad: 'x'.repeat(3 * 1024 * 1024) }));
  const closed = await cl.waitClosed();
  assert.equal(closed.code, 1009, 'oversized frame closes with 1009 Message Too Big');

  // Joins with an expired token, a malformed token, or a wrong CA pin: refused, no CSR recorded.
  const expired = await createToken(c, '1s');
  await new Promise((r) => setTimeout(r, 2100));
  const join = (args: string[]) => {
    const cmd = kedgeCommand(['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--node-name', 'edge-z', '--data-dir', c.h.tempDir('z'), '--runtime', 'none', ...args]);
    return run(cmd.command, cmd.args);
  };
  // Every refused token gets the same answer (identity.test.ts); the hub's log says which it was.
  await assert.rejects(join(['--token', expired.token, '--ca-cert-hash', expired.hash]), /HTTP 401.*invalid for this cluster or it has expired/);
  await assert.rejects(join(['--token', 'not-a-token', '--ca-cert-hash', token.hash]), /HTTP 401.*invalid for this cluster or it has expired/);
  await assert.rejects(join(['--token', token.token, '--ca-cert-hash', 'sha256:' + '0'.repeat(64)]), /does not match --ca-cert-hash/);
  // A token cannot mint the identity of an existing cloud (non-edge) node.
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'cloud-1' } }));
  await assert.rejects(
    (async () => {
      const cmd = kedgeCommand(['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--node-name', 'cloud-1', '--data-dir', c.h.tempDir('c1'), '--runtime', 'none', '--token', token.token, '--ca-cert-hash', token.hash]);
      return run(cmd.command, cmd.args);
    })(),
    /already exists and is not an edge node/,
  );
  assert.equal((await c.kubectl(['get', 'csr', '-o', 'name'])).trim().split('\n').length, csrsBefore);

  for (const reason of [/frame is not valid JSON/, /unknown message type/, /never sent/, /join refused/]) await c.server.waitForLog(reason, 10_000);

  // Everyone else is still served.
  await c.kubectl(['apply', '-f', '-'], JSON.stringify(podSpec('pod-b2', 'edge-b')));
  await eventually('pod-b2 on edge-b', async () => (await edgeNames(b, '/api/v1/namespaces/default/pods')).includes('pod-b2'));
});

test('link frames: small ones travel uncompressed, large ones deflated; an agent that deflates every frame is served', async () => {
  // RawClient is a plain ws client: it deflates every frame it sends, as agents before this change did.
  const cl = await RawClient.connect(c.hubPort, credsA);
  try {
    await cl.handshake('edge-a');
    cl.send({ type: 'heartbeat', t: 42 });
    await cl.waitFor((m) => m.type === 'heartbeat' && m.t === 42);
    const ack = await cl.status('lease', { renewTime: new Date().toISOString(), durationSeconds: 40 });
    assert.equal(ack.ok, true, JSON.stringify(ack));
    // Each text frame of the hub next to the message it carried (pings and pongs are control frames).
    const text = cl.frames.filter((f) => f.opcode === 1);
    assert.equal(text.length, cl.messages.length, 'one text frame per message');
    const small = text.flatMap((f, i) => (cl.messageBytes[i]! < LINK_COMPRESS_MIN_CHARS ? [{ ...f, type: cl.messages[i]!.type }] : []));
    const large = text.flatMap((f, i) => (cl.messageBytes[i]! >= LINK_COMPRESS_MIN_CHARS ? [{ ...f, type: cl.messages[i]!.type }] : []));
    for (const type of ['welcome', 'synced', 'heartbeat', 'status-ack']) assert.ok(small.some((f) => f.type === type), `a ${type} frame was seen`);
    assert.deepEqual(small.filter((f) => f.compressed), [], 'small frames skip zlib');
    assert.ok(large.length > 0 && large.every((f) => f.compressed), 'large frames (the pod, its secret) are deflated');
  } finally {
    cl.close();
  }
});

async function fetchJoin(port: number, ca: string, tok: string, body: unknown): Promise<{ status: number; body: string }> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/v1/join', method: 'POST', ca, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' } },
      (res) => {
        let d = '';
        res.on('data', (x: Buffer) => (d += x.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: d }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
