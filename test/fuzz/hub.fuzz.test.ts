/**
 * Property-based fuzzing of the cloud hub of a real `kedge server` process (issue 10, "Bad input, fuzzed"):
 *  - the HTTPS join/renew endpoints: arbitrary and near-valid bodies, bad CSRs (garbage PEM, a certificate instead
 *    of a request, a broken signature, another node's or group's subject, SANs, an RSA key), bad and near-valid
 *    bootstrap tokens, oversized bodies, wrong content types, methods and paths;
 *  - a live node session over a real WebSocket: arbitrary bytes, arbitrary JSON, valid frames mutated one field
 *    at a time, binary, huge and deeply nested frames, status items with hostile bodies.
 * Invariants: no 5xx and a `Status` with the HTTP code for every refusal; a bad frame gets an `error` frame and
 * the session is closed with a close code (1008 policy, 1009 too big), a survivable one leaves the session
 * working; another node's session is unaffected; nothing is created or changed by a refused request (CSRs, Nodes,
 * bootstrap Secrets, the other node's objects); the hub and the server stay up. Each property prints its count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { RawClient, type Creds } from '../edge/raw-client.js';
import { createToken, type Cluster } from '../edge/cluster.js';
import { adminTls, assertClearRefusal, fuzzParams, fuzzRuns, labelled, mutationOf, request, Tally, type Json, type TlsClient } from './kit.js';
import { createCertificateAuthority, createCertificateRequest, issueClientCertificate } from '../../src/pki/index.js';
import { loadX509, webcrypto } from '../../src/pki/crypto-provider.js';

const x509 = await loadX509();

const RUNS = fuzzRuns(30);
const h = new Harness('fuzz-hub');
let server: ManagedProcess;
let hubPort = 0;
let api: { port: number; tls: TlsClient };
let token = '';
let caPem = '';
/** Node identities: `a` is fuzzed, `b` is the bystander whose session and objects must not notice. */
const creds: Record<'a' | 'b', Creds> = { a: { ca: '' }, b: { ca: '' } };
let foreign: Creds;
const csr: Record<string, string> = {};

before(async () => {
  const dataDir = h.tempDir('server');
  const apiPort = await h.freePort();
  hubPort = await h.freePort();
  server = await h.startKedge('server', ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', String(hubPort), '--disable-controllers'], {
    ready: { logLine: /cloud hub listening/, timeoutMs: 90_000 },
  });
  const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
  api = adminTls(kubeconfig);
  token = (await createToken({ kubeconfig } as Cluster)).token;
  caPem = readFileSync(path.join(dataDir, 'pki', 'ca.crt'), 'utf8');
  assert.equal((await hub('GET', '/v1/cacert')).text.trim(), caPem.trim(), 'the hub serves the server CA');
  for (const [who, node] of [['a', 'fuzz-a'], ['b', 'fuzz-b']] as const) {
    const req = await createCertificateRequest({ commonName: `system:node:${node}`, organizations: ['system:nodes'] });
    const r = await hub('POST', '/v1/join', JSON.stringify({ nodeName: node, csr: req.csrPem }), { authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    assert.equal(r.status, 201, r.text);
    creds[who] = { ca: caPem, cert: (JSON.parse(r.text) as { certificate: string }).certificate, key: req.keyPem };
  }
  const otherCa = await createCertificateAuthority('foreign-ca');
  const f = await issueClientCertificate(otherCa, 'system:node:fuzz-a', ['system:nodes']);
  foreign = { ca: caPem, cert: f.certPem, key: f.keyPem };
  // CSR material, made once: each case picks one.
  const make = async (cn: string, o: string[], hosts?: string[]) => (await createCertificateRequest({ commonName: cn, organizations: o, hosts })).csrPem;
  csr.good = await make('system:node:fuzz-j', ['system:nodes']);
  csr.otherNode = await make('system:node:fuzz-b', ['system:nodes']);
  csr.masters = await make('system:node:fuzz-j', ['system:nodes', 'system:masters']);
  csr.noGroup = await make('system:node:fuzz-j', []);
  csr.admin = await make('kubernetes-admin', ['system:masters']);
  csr.withSans = await make('system:node:fuzz-j', ['system:nodes'], ['evil.example', '10.0.0.1']);
  csr.certificateInstead = creds.a.cert!;
  csr.brokenSignature = tamper(csr.good);
  csr.truncated = csr.good.slice(0, csr.good.length / 2);
  csr.garbage = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from('not a der structure at all').toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  csr.rsa = await rsaCsr('system:node:fuzz-j');
  // The bystander reports its Node once, so there is an object of another node to guard.
  const b = await connect('b');
  assert.equal((await b.status('node', { metadata: { name: 'fuzz-b' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } })).ok, true);
  b.close();
});
after(() => h.cleanup());

/** The CSR with one byte of its signature changed (still well-formed DER, no longer verifies). */
function tamper(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  der[der.length - 5] ^= 0x55;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

async function rsaCsr(cn: string): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${cn}, O=system:nodes`, keys, signingAlgorithm: alg });
  return req.toString('pem');
}

function hub(method: string, p: string, body?: string, headers: Record<string, string> = {}, client: Partial<Creds> = {}) {
  return request(hubPort, { ca: caPem, cert: client.cert, key: client.key }, { method, path: p, body, headers });
}

async function listNames(p: string): Promise<string> {
  const r = await request(api.port, api.tls, { method: 'GET', path: p });
  assert.equal(r.status, 200, r.text);
  return (JSON.parse(r.text) as { items: Array<{ metadata: { name: string; resourceVersion: string } }> }).items.map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort().join(' ');
}

/** What a refused join, renew or frame must leave as it was: CSRs, Nodes (the bystander's too), kube-system Secrets, pods, events, node Leases. */
async function guardedState(): Promise<string> {
  const parts = await Promise.all([
    listNames('/apis/certificates.k8s.io/v1/certificatesigningrequests'),
    listNames('/api/v1/nodes'),
    listNames('/api/v1/namespaces/kube-system/secrets'),
    listNames('/api/v1/pods'),
    listNames('/api/v1/events'),
    listNames('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'),
  ]);
  return parts.join('\n');
}

async function connect(who: 'a' | 'b'): Promise<RawClient> {
  const c = await RawClient.connect(hubPort, creds[who]);
  await c.handshake(who === 'a' ? 'fuzz-a' : 'fuzz-b');
  return c;
}

/** A session is alive when a heartbeat comes back. */
async function heartbeatEchoes(c: RawClient): Promise<boolean> {
  const t = Math.random();
  c.send({ type: 'heartbeat', t });
  try {
    await c.waitFor((m) => m.type === 'heartbeat' && m.t === t, 10_000);
    return true;
  } catch {
    return false;
  }
}

async function hubAlive(): Promise<void> {
  assert.ok(server.running, 'kedge server exited');
  const r = await hub('GET', '/healthz');
  assert.equal(r.status, 200, r.text);
}

// ---- join / renew ----

const tokenVariant = fc.oneof(
  fc.constant(() => ''),
  fc.constant(() => `Bearer ${token}`),
  fc.constant(() => `Bearer ${token.toUpperCase()}`),
  fc.constant(() => `Bearer ${token.slice(0, 7)}${'0'.repeat(16)}`), // right ID, wrong secret
  fc.constant(() => `Bearer abcdef.${token.slice(7)}`), // unknown ID, right-looking secret
  fc.constant(() => `Bearer ${token}.extra`),
  fc.constant(() => `Bearer  ${token} `),
  fc.constant(() => `bearer ${token}`),
  fc.constant(() => `Basic ${Buffer.from('admin:admin').toString('base64')}`),
  fc.constant(() => `Bearer ${'x'.repeat(8_000)}`),
  fc.string({ maxLength: 40 }).map((s) => () => `Bearer ${s}`),
).map((f) => ({ f, [fc.toStringMethod]: () => `auth ${f().slice(0, 40)}` }));

const CSR_KINDS = ['good', 'otherNode', 'masters', 'noGroup', 'admin', 'withSans', 'certificateInstead', 'brokenSignature', 'truncated', 'garbage', 'rsa'];
const nodeName = fc.oneof(fc.constantFrom('fuzz-j', 'fuzz-b', 'fuzz-a', '', 'FUZZ', 'a'.repeat(254), '../etc', 'fuzz_j', '-fuzz', 'kube-system', 'fuzz-j\u0000'), fc.string({ maxLength: 12 }));

const joinBody = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(nodeName, fc.constantFrom(...CSR_KINDS)).map(([n, k]) => labelled(`{nodeName: ${JSON.stringify(n).slice(0, 30)}, csr: ${k}}`, () => JSON.stringify({ nodeName: n, csr: csr[k] }))) },
  { weight: 3, arbitrary: mutationOf({ nodeName: 'fuzz-j', csr: 'PEM' }).map((m) => labelled(`mutated ${m.label}`, () => m.value.replace('"PEM"', JSON.stringify(csr.good)))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((s) => labelled(`text ${JSON.stringify(s).slice(0, 40)}`, () => s)) },
  { weight: 1, arbitrary: fc.integer({ min: 60 * 1024, max: 300 * 1024 }).map((n) => labelled(`body of ${n} bytes`, () => JSON.stringify({ nodeName: 'fuzz-j', csr: 'x'.repeat(n) }))) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 30_000 }).map((d) => labelled(`nested ${d} deep`, () => '{"nodeName":'.repeat(d) + '"x"' + '}'.repeat(d))) },
);

test('join and renew endpoints: bad tokens, CSRs, bodies, content types, methods → a clear 4xx, nothing created', async () => {
  const t = new Tally('join/renew');
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ weight: 6, arbitrary: fc.constant(['POST', '/v1/join']) }, { weight: 3, arbitrary: fc.constant(['POST', '/v1/renew']) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'POST'), fc.constantFrom('/v1/join', '/v1/renew', '/v1/join/', '/v1/cacert/x', '/v1/connect', '//[', '/%', '/v2/join')) }),
      tokenVariant,
      joinBody,
      fc.constantFrom('application/json', 'text/plain', '', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16'),
      fc.constantFrom<'none' | 'a' | 'foreign'>('none', 'a', 'foreign'),
      async ([method, p], auth, body, contentType, client) => {
        const before = await guardedState();
        const headers: Record<string, string> = {};
        if (auth.f()) headers.authorization = auth.f();
        if (contentType) headers['content-type'] = contentType;
        const cert = client === 'a' ? creds.a : client === 'foreign' ? foreign : {};
        const r = await hub(method!, p!, body.value(), headers, cert);
        t.record(r.status);
        const what = `${method} ${p} ${auth[fc.toStringMethod]()} ${body.label} (${contentType || 'no content type'}, client cert ${client})`;
        assertClearRefusal(r, what);
        if (r.status >= 400) assert.equal(await guardedState(), before, `${what}: refused with ${r.status} but changed state`);
        else {
          // Issued: for a valid token, exactly the node identity asked for; for a renewal, the caller's own identity.
          // (Whether a token may re-join a registered node is the join rule's own test: test/edge, src/cloudhub.)
          const issued = new x509.X509Certificate((JSON.parse(r.text) as { certificate: string }).certificate);
          const asked = p === '/v1/renew' ? 'fuzz-a' : (JSON.parse(body.value()) as { nodeName: string }).nodeName;
          assert.equal(issued.subject, `O=system:nodes, CN=system:node:${asked}`, `${what}: issued ${issued.subject}`);
        }
      },
    ),
    {
      ...fuzzParams(RUNS),
      // Regression: a request-target `//[` made `new URL()` throw (a 500 here, a dead process on the upgrade path).
      examples: [[['GET', '//['], { f: () => '', [fc.toStringMethod]: () => 'no auth' }, labelled('empty', () => ''), '', 'none']],
    },
  );
  await hubAlive();
  t.print();
});

test('regression: a WebSocket upgrade to a malformed request-target is refused with 400 and the hub stays up', async () => {
  for (const target of ['//[', '//:99999/v1/connect', '/v1/connect/%']) {
    const r = await request(hubPort, { ca: caPem, cert: creds.a.cert, key: creds.a.key }, {
      method: 'GET',
      path: target,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'kedge.v1' },
    });
    assert.ok([400, 404].includes(r.status), `${target}: HTTP ${r.status} ${r.text}`);
    await hubAlive();
  }
});

// ---- frames on a live session ----

const seqish = fc.oneof(fc.nat({ max: 50 }), fc.constantFrom(-1, 0.5, 2 ** 53 + 2, 1e308));
const keyish = fc.oneof(
  fc.constantFrom('/registry/pods/default/x', '/registry/secrets/kube-system/bootstrap-token-abcdef', '/registry/nodes/fuzz-b', '/registry/pods/../../etc', '/registry/leases.coordination.k8s.io/kube-node-lease/fuzz-b'),
  fc.string({ maxLength: 30 }),
);
/** Status item bodies (JSON text) of every kind aimed at what the node must not touch, and mutated valid ones. */
const hostileStatus: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom<Json>(
    { metadata: { name: 'fuzz-b' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    { metadata: { name: 'fuzz-a', labels: { 'node-role.kubernetes.io/control-plane': '' } }, status: {} },
    { namespace: 'kube-system', name: 'x', uid: 'u', status: { phase: 'Failed' } },
    { involvedObject: { kind: 'Node', name: 'fuzz-b' }, metadata: { name: 'ev' }, message: 'spoofed' },
    { involvedObject: { kind: 'Secret', name: 's', namespace: 'kube-system' }, metadata: { name: 'ev2' } },
    { renewTime: 'not a time', durationSeconds: -5 },
    { renewTime: '9999-12-31T23:59:59Z', durationSeconds: 1e308 },
    { namespace: 'default', name: 'nope', uid: 'u' },
  ).map((v) => JSON.stringify(v)),
  // Kept as text: a mutation may nest 20,000 deep, which JSON.stringify cannot take on this side either.
  mutationOf({ metadata: { name: 'fuzz-a', labels: { 'kubernetes.io/arch': 'arm64' } }, status: { conditions: [{ type: 'Ready', status: 'True' }], capacity: { cpu: '2' } } }).map((m) => m.value),
);

/** Frames, as raw text or bytes, each with a short name. */
const frame = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => labelled(`text ${JSON.stringify(s).slice(0, 40)}`, s as string | Buffer)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => labelled(`binary ${b.length} bytes`, Buffer.from(b) as string | Buffer)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => labelled(`json ${JSON.stringify(v)?.slice(0, 60)}`, JSON.stringify(v) ?? 'null')) },
  {
    weight: 6,
    arbitrary: fc.oneof(
      fc.record({ type: fc.constant('hello'), versions: fc.constant([1]), node: fc.constantFrom('fuzz-a', 'fuzz-b') }),
      fc.record({ type: fc.constant('inventory'), done: fc.boolean(), items: fc.constant([{ key: '/registry/pods/default/x', uid: 'u', rv: '1' }]) }),
      fc.record({ type: fc.constant('ack'), seq: seqish }),
      fc.record({ type: fc.constant('get'), id: fc.nat({ max: 1000 }), key: keyish }),
      fc.record({ type: fc.constant('heartbeat'), t: fc.double() }),
      fc.record({ type: fc.constant('error'), code: fc.string(), message: fc.string() }),
      fc.record({ type: fc.constantFrom('tunnel-open', 'tunnel-data', 'tunnel-close', 'upsert', 'welcome', 'launch'), stream: fc.nat(), data: fc.string() }),
    ).chain((f) => fc.oneof(fc.constant(labelled(`frame ${JSON.stringify(f).slice(0, 80)}`, JSON.stringify(f))), mutationOf(f as Json).map((m) => labelled(`${(f as { type: string }).type} ${m.label}`, m.value)))),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom('node', 'lease', 'pod', 'event', 'pod-terminated', 'secret'), hostileStatus)
      .map(([id, kind, body]) => labelled(`status ${kind} ${body.slice(0, 80)}`, `{"type":"status","id":${id},"kind":"${kind}","body":${body}}`)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 2 * 1024 * 1024 - 64, max: 2 * 1024 * 1024 + 64 }).map((n) => labelled(`frame of ~${n} bytes`, `{"type":"error","code":"x","message":"${'m'.repeat(n - 40)}"}`)) },
  { weight: 1, arbitrary: fc.integer({ min: 400, max: 100_000 }).map((d) => labelled(`status body nested ${d} deep`, `{"type":"status","id":7,"kind":"node","body":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`)) },
);

test('frames on a live session: bad frames get an error frame and a close code, survivable ones leave it working; the other node and the API do not notice', async () => {
  const t = new Tally('hub frames');
  const bystander = await connect('b');
  let closedFatal = 0;
  try {
    await fc.assert(
      fc.asyncProperty(frame, async (f) => {
        const t0 = Date.now();
        const before = await guardedState();
        const c = await connect('a');
        try {
          const seen = c.messages.length;
          c.send(f.value);
          // Either the session answers a heartbeat after the frame (it survived), or it is closed with a code.
          const alive = await heartbeatEchoes(c);
          t.cases++;
          if (!alive) {
            const closed = await c.waitClosed(15_000);
            closedFatal++;
            t.refused++;
            assert.ok([1008, 1009].includes(closed.code), `${f.label}: closed with ${closed.code} ${closed.reason}`);
            if (closed.code === 1008) assert.ok(c.messages.slice(seen).some((m) => m.type === 'error'), `${f.label}: closed without an error frame`);
          } else if (c.messages.slice(seen).some((m) => m.type === 'error' || (m.type === 'status-ack' && m.ok === false) || m.type === 'get-result')) {
            t.refused++;
          }
          // Wait for the frame's status write (if any) to be answered before judging the API's state.
          const statusId = /"type":"status","id":(\d+)/.exec(typeof f.value === 'string' ? f.value.slice(0, 200) : '')?.[1];
          if (alive && statusId) await c.waitFor((m) => m.type === 'status-ack' && m.id === Number(statusId), 30_000).catch(() => undefined);
          const ack = c.messages.find((m) => m.type === 'status-ack' && String(m.id) === statusId);
          if (!ack || ack.ok !== true) assert.equal(await guardedState(), before, `${f.label}: refused but changed the API's state`);
          assert.ok(await heartbeatEchoes(bystander), `${f.label}: the other node's session stopped answering`);
        } finally {
          c.close();
          if (process.env.FUZZ_DEBUG) console.log(`${Date.now() - t0} ms ${f.label}`);
        }
      }),
      {
        ...fuzzParams(RUNS),
        // Regression: a node status the API refuses (capacity not a quantity) left the Node it created, or the
        // labels it reported, written.
        examples: [[labelled('status node with an invalid capacity', '{"type":"status","id":1,"kind":"node","body":{"metadata":{"name":"fuzz-a","labels":{"kubernetes.io/arch":"arm64"}},"status":{"capacity":{"cpu":{"7|":-1e308}}}}}')]],
      },
    );
  } finally {
    bystander.close();
  }
  await hubAlive();
  console.log(`fuzz hub frames: ${closedFatal} sessions closed by the hub`);
  t.print();
});
