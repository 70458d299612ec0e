/**
 * The hub's CONNECT proxy to edge kubelets, on a real Unix socket: target resolution (name, address, ambiguous,
 * unknown), immediate refusals (offline node, other port, not CONNECT), the socket's mode, and a stream relayed
 * to a session's tunnel (a TunnelMux pair standing in for the node's link).
 *
 * Relayed between hubs (peer-relay.ts): three hubs, each with its kubelet proxy on a Unix socket and its TLS port
 * serving peers' CONNECTs. Shown: a node on another hub is reached through the first hub's socket; a node that moved
 * is found on its new hub; a node on no hub is refused at once with one clear 503; a dead peer does not hide a live
 * one; the peer endpoint takes only server identities (not a node's, an administrator's, another CA's, or none) and
 * never relays onward.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { V1Node } from '@kubernetes/client-node';
import { createLogger } from '../common/logger.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, type CertificateAuthority } from '../pki/index.js';
import { TunnelMux, type TunnelStream } from '../protocol/tunnel-mux.js';
import { hubTlsOptions } from './hub.js';
import { resolveTarget, startKubeletProxy, type KubeletProxy } from './kubelet-proxy.js';
import { HubMetrics } from './metrics.js';
import { PeerRelay, peerConnectHandler, SERVERS_GROUP, type HubPeer } from './peer-relay.js';
import type { NodeSession } from './session.js';

const node = (name: string, ...addresses: string[]): V1Node => ({ metadata: { name }, status: { addresses: addresses.map((address) => ({ type: 'InternalIP', address })) } });
const log = createLogger('test', 'error');

/**
 * A node's link to a hub: a hub mux whose frames reach an edge mux that serves HTTP on each stream (`kubelet of NAME:
 * PATH`), or hands each stream to `onOpen`.
 */
function nodeLink(name: string, onOpen?: (s: TunnelStream) => void): { session: NodeSession; hubMux: TunnelMux; cut(): void } {
  const kubelet = http.createServer((req, res) => res.end(`kubelet of ${name}: ${req.url}`));
  let hubMux!: TunnelMux;
  const edgeMux: TunnelMux = new TunnelMux({
    role: 'edge',
    link: { send: (f, cb) => setImmediate(() => (hubMux.receive(f), cb())), bufferedAmount: () => 0 },
    onOpen: onOpen ?? ((s: TunnelStream) => kubelet.emit('connection', s)),
  });
  hubMux = new TunnelMux({ role: 'hub', link: { send: (f, cb) => setImmediate(() => (edgeMux.receive(f), cb())), bufferedAmount: () => 0 } });
  return {
    session: { openTunnel: (port: number) => hubMux.open(port) } as unknown as NodeSession,
    hubMux,
    cut: () => {
      hubMux.close('link cut in the test');
      edgeMux.close('link cut in the test');
    },
  };
}

/** CONNECT on a connected socket: resolves with the answer head (everything up to the blank line, and after on a refusal). */
function connectOn(socket: net.Socket | tls.TLSSocket, target: string): Promise<string> {
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      resolve(buf);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => resolve(buf));
  });
}

function connect(socketPath: string, target: string): Promise<{ head: string; socket: net.Socket }> {
  const s = net.connect({ path: socketPath });
  return new Promise((resolve, reject) => {
    s.once('connect', () => connectOn(s, target).then((head) => resolve({ head, socket: s }), reject));
    s.once('error', reject);
  });
}

/** One GET /healthz through a tunnel the socket now is. */
function getThrough(socket: net.Socket | tls.TLSSocket): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ createConnection: () => socket, path: '/healthz', headers: { connection: 'close' } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('error', reject);
    req.end();
  });
}

test('targets: a node name, an address exactly one node reports; ambiguous and unknown refused', () => {
  const sessions = new Map([['edge-a', {} as NodeSession]]);
  const nodes = [node('edge-a', '10.0.0.1'), node('edge-b', '192.168.1.10'), node('edge-c', '192.168.1.10')];
  assert.deepEqual(resolveTarget('edge-a', sessions, nodes), { node: 'edge-a' });
  assert.deepEqual(resolveTarget('10.0.0.1', sessions, nodes), { node: 'edge-a' });
  assert.deepEqual(resolveTarget('edge-b', sessions, nodes), { node: 'edge-b' }, 'a known node without a session resolves (then: not connected)');
  const amb = resolveTarget('192.168.1.10', sessions, nodes);
  assert.ok('error' in amb && amb.code === 502 && /several nodes \(edge-b, edge-c\)/.test(amb.error));
  const unknown = resolveTarget('nobody', sessions, nodes);
  assert.ok('error' in unknown && unknown.code === 404);
});

test('the proxy refuses at once what it cannot serve, and relays a stream to a connected node', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-kproxy-'));
  const link = nodeLink('edge-a');
  const sessions = new Map([['edge-a', link.session]]);
  const proxy = await startKubeletProxy({
    socketPath: path.join(dir, 'kubelet-proxy.sock'),
    sessions,
    nodes: () => [node('edge-a', '10.0.0.1'), node('edge-off', '10.0.0.2')],
    ca: await createCertificateAuthority('test-ca'),
    log: createLogger('test'),
  });
  try {
    assert.equal(statSync(proxy.socketPath).mode & 0o777, 0o600);
    assert.match((await connect(proxy.socketPath, 'edge-off:10250')).head, /^HTTP\/1\.1 503[^]*node "edge-off" is not connected to the hub/);
    assert.match((await connect(proxy.socketPath, 'edge-a:22')).head, /^HTTP\/1\.1 403[^]*only the kubelet port 10250/);
    assert.match((await connect(proxy.socketPath, 'garbage')).head, /^HTTP\/1\.1 400/);
    const { head, socket } = await connect(proxy.socketPath, '10.0.0.1:10250');
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.equal(await getThrough(socket), 'kubelet of edge-a: /healthz');
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxy.active, 0, 'the relay ended with its client');
    assert.equal(link.hubMux.size, 0, 'and so did the tunnel stream');
  } finally {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a link cut after the node accepted but before the client sent a byte frees the client and the gauge', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-kproxy-'));
  const link = nodeLink('edge-a', () => {}); // accepted, never answered: the cut comes first
  const proxy = await startKubeletProxy({
    socketPath: path.join(dir, 'kubelet-proxy.sock'),
    sessions: new Map([['edge-a', link.session]]),
    nodes: () => [node('edge-a', '10.0.0.1')],
    ca: await createCertificateAuthority('test-ca'),
    log: createLogger('test'),
  });
  try {
    const { head, socket } = await connect(proxy.socketPath, 'edge-a:10250');
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.equal(proxy.active, 1);
    const closed = new Promise((r) => socket.once('close', r));
    link.cut();
    await closed; // without the fix the client waited for the kubelet's answer for ever
    for (let i = 0; i < 100 && (proxy.active as number) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(proxy.active, 0, 'the relayed-connection gauge is back at 0');
  } finally {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The Nodes every hub's cache holds (all hubs watch the same objects). */
const NODES: V1Node[] = ['edge-1', 'edge-2', 'edge-3', 'edge-4', 'edge-5', 'edge-gone'].map((name) => ({ metadata: { name } }));

interface TestHub {
  name: string;
  url: string;
  sessions: Map<string, NodeSession>;
  proxy: KubeletProxy;
  metrics: HubMetrics;
  peers: HubPeer[];
  tlsServer: https.Server;
}

async function startHub(dir: string, name: string, ca: CertificateAuthority): Promise<TestHub> {
  const sessions = new Map<string, NodeSession>();
  const metrics = new HubMetrics();
  const peers: HubPeer[] = [];
  const relay = new PeerRelay({ peers: async () => peers, ca, name, log, metrics });
  const proxy = await startKubeletProxy({ socketPath: path.join(dir, `${name}.sock`), sessions, nodes: () => NODES, ca, peers: relay, metrics, log });
  const serving = await issueServerCertificate(ca, 'kedge-cloudhub', ['127.0.0.1']);
  const tlsServer = https.createServer(hubTlsOptions(serving, ca.certPem));
  tlsServer.on('connect', peerConnectHandler({ proxy: () => proxy, metrics, log }));
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  return { name, url: `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`, sessions, proxy, metrics, peers, tlsServer };
}

/** CONNECT, then (on 200) one GET through the tunnel. */
async function connectAndGet(socket: net.Socket | tls.TLSSocket, target: string): Promise<{ head: string; body?: string }> {
  const head = await connectOn(socket, target);
  if (!head.startsWith('HTTP/1.1 200')) {
    socket.destroy();
    return { head };
  }
  return { head, body: await getThrough(socket) };
}

function viaSocket(hub: TestHub, target: string): Promise<{ head: string; body?: string }> {
  const s = net.connect({ path: hub.proxy.socketPath });
  return new Promise((resolve, reject) => {
    s.once('connect', () => connectAndGet(s, target).then(resolve, reject));
    s.once('error', reject);
  });
}

function viaTls(hub: TestHub, target: string, cred: { certPem: string; keyPem: string } | undefined, ca: string): Promise<{ head: string; body?: string }> {
  const url = new URL(hub.url);
  const s = tls.connect({ host: url.hostname, port: Number(url.port), ca, ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}) });
  return new Promise((resolve, reject) => {
    s.once('secureConnect', () => connectAndGet(s, target).then(resolve, reject));
    s.once('error', reject);
  });
}

const sample = async (hub: TestHub, direction: string, result: string) =>
  (await hub.metrics.peerRelays.get()).values.find((v) => v.labels.direction === direction && v.labels.result === result)?.value ?? 0;

describe('kubelet streams relayed between hubs', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let a: TestHub;
  let b: TestHub;
  let c: TestHub;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-peer-relay-'));
    ca = await createCertificateAuthority('test-ca');
    [a, b, c] = [await startHub(dir, 'a', ca), await startHub(dir, 'b', ca), await startHub(dir, 'c', ca)];
    for (const h of [a, b, c]) h.peers.push(...[a, b, c].filter((p) => p !== h).map((p) => ({ name: p.name, url: p.url })));
  });
  after(async () => {
    for (const h of [a, b, c]) {
      await h.proxy.close();
      h.tlsServer.closeAllConnections();
      h.tlsServer.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a node on another hub is reached through this hub; when it moves, its new hub serves it', async () => {
    const onB = nodeLink('edge-1');
    b.sessions.set('edge-1', onB.session);
    let r = await viaSocket(a, 'edge-1:10250');
    assert.match(r.head, /^HTTP\/1\.1 200/);
    assert.equal(r.body, 'kubelet of edge-1: /healthz');
    assert.equal(await sample(a, 'out', 'ok'), 1);
    assert.equal(await sample(b, 'in', 'ok'), 1);
    assert.equal(await sample(c, 'in', 'not-connected'), 1, 'c was asked at once too (no holder known yet) and said no');

    // Known holder: b alone is asked.
    r = await viaSocket(a, 'edge-1:10250');
    assert.equal(r.body, 'kubelet of edge-1: /healthz');
    assert.equal(await sample(c, 'in', 'not-connected'), 1, 'the remembered holder was asked first');

    // The node moves to c: b says no, c is asked.
    b.sessions.delete('edge-1');
    onB.cut();
    c.sessions.set('edge-1', nodeLink('edge-1').session);
    r = await viaSocket(a, 'edge-1:10250');
    assert.equal(r.body, 'kubelet of edge-1: /healthz', 'found on its new hub');
    assert.equal(await sample(b, 'in', 'not-connected'), 1);
  });

  test('a node on no hub is refused at once with one 503 naming every hub; a peer never relays onward', async () => {
    const started = Date.now();
    const r = await viaSocket(a, 'edge-gone:10250');
    assert.match(r.head, /^HTTP\/1\.1 503[^]*node "edge-gone" is not connected to any of the 3 hubs/);
    assert.ok(Date.now() - started < 5_000, 'answered without waiting on any timeout');

    // A server identity asking b for a node c holds: b answers from its own sessions only.
    const server = await issueClientCertificate(ca, 'kedge:server:x', [SERVERS_GROUP]);
    c.sessions.set('edge-2', nodeLink('edge-2').session);
    const direct = await viaTls(b, 'edge-2:10250', server, ca.certPem);
    assert.match(direct.head, /^HTTP\/1\.1 503[^]*node "edge-2" is not connected to this hub/);
    assert.equal((await viaTls(c, 'edge-2:10250', server, ca.certPem)).body, 'kubelet of edge-2: /healthz', 'the holder serves a server identity');
    assert.match((await viaTls(c, 'edge-2:22', server, ca.certPem)).head, /^HTTP\/1\.1 403[^]*only the kubelet port/);
  });

  test('the peer endpoint refuses a node\'s, an administrator\'s, another CA\'s certificate and none', async () => {
    c.sessions.set('edge-3', nodeLink('edge-3').session);
    const nodeCert = await issueClientCertificate(ca, 'system:node:edge-3', ['system:nodes']);
    const admin = await issueClientCertificate(ca, 'kubernetes-admin', ['system:masters']);
    const foreign = await issueClientCertificate(await createCertificateAuthority('other-ca'), 'kedge:server:x', [SERVERS_GROUP]);
    const before = await sample(c, 'in', 'refused');
    assert.match((await viaTls(c, 'edge-3:10250', nodeCert, ca.certPem)).head, /^HTTP\/1\.1 403[^]*CN=system:node:edge-3 O=system:nodes is not a Kedge server identity/);
    assert.match((await viaTls(c, 'edge-3:10250', admin, ca.certPem)).head, /^HTTP\/1\.1 403[^]*not a Kedge server identity/);
    assert.match((await viaTls(c, 'edge-3:10250', foreign, ca.certPem)).head, /^HTTP\/1\.1 401[^]*client certificate not verified/);
    assert.match((await viaTls(c, 'edge-3:10250', undefined, ca.certPem)).head, /^HTTP\/1\.1 401[^]*client certificate not verified/);
    assert.equal(await sample(c, 'in', 'refused') - before, 4);
  });

  test('a dead peer does not hide a live one, and is named when nobody has the node', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadUrl = `https://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise<void>((r) => dead.close(() => r())); // its port now refuses connections, as a killed server's
    a.peers.unshift({ name: 'dead', url: deadUrl });
    try {
      c.sessions.set('edge-4', nodeLink('edge-4').session);
      assert.equal((await viaSocket(a, 'edge-4:10250')).body, 'kubelet of edge-4: /healthz');
      const r = await viaSocket(a, 'edge-5:10250');
      assert.match(r.head, /^HTTP\/1\.1 503[^]*not connected to any of the 4 hubs[^]*not asked successfully: https:\/\/127\.0\.0\.1:\d+: peer hub unreachable: [^]*ECONNREFUSED/);
    } finally {
      a.peers.shift();
    }
  });
});
