/**
 * The hub's CONNECT proxy to edge kubelets, on a real Unix socket: target resolution (name, address, ambiguous,
 * unknown), immediate refusals (offline node, other port, not CONNECT), the socket's mode, and a stream relayed
 * to a session's tunnel (a TunnelMux pair standing in for the node's link).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import { createLogger } from '../common/logger.js';
import { createCertificateAuthority } from '../pki/index.js';
import { TunnelMux, type TunnelStream } from '../protocol/tunnel-mux.js';
import { resolveTarget, startKubeletProxy } from './kubelet-proxy.js';
import type { NodeSession } from './session.js';

const node = (name: string, ...addresses: string[]): V1Node => ({ metadata: { name }, status: { addresses: addresses.map((address) => ({ type: 'InternalIP', address })) } });

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

function connect(socketPath: string, target: string): Promise<{ head: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath }, () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    s.once('error', reject);
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      resolve({ head: buf, socket: s });
    };
    s.on('data', onData);
  });
}

test('the proxy refuses at once what it cannot serve, and relays a stream to a connected node', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-kproxy-'));
  // The node's link: a hub mux whose frames reach an edge mux that serves HTTP on each stream.
  const edgeServer = http.createServer((req, res) => res.end(`kubelet says hi to ${req.url}`));
  let hubMux!: TunnelMux;
  const edgeMux: TunnelMux = new TunnelMux({
    role: 'edge',
    link: { send: (f, cb) => setImmediate(() => (hubMux.receive(f), cb())), bufferedAmount: () => 0 },
    onOpen: (s: TunnelStream) => edgeServer.emit('connection', s),
  });
  hubMux = new TunnelMux({ role: 'hub', link: { send: (f, cb) => setImmediate(() => (edgeMux.receive(f), cb())), bufferedAmount: () => 0 } });
  const session = { openTunnel: (port: number) => hubMux.open(port) } as unknown as NodeSession;
  const sessions = new Map([['edge-a', session]]);
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
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ createConnection: () => socket, path: '/healthz', headers: { connection: 'close' } }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, 'kubelet says hi to /healthz');
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxy.active, 0, 'the relay ended with its client');
    assert.equal(hubMux.size, 0, 'and so did the tunnel stream');
  } finally {
    await proxy.close();
    edgeServer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a link cut after the node accepted but before the client sent a byte frees the client and the gauge', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-kproxy-'));
  let hubMux!: TunnelMux;
  const edgeMux: TunnelMux = new TunnelMux({
    role: 'edge',
    link: { send: (f, cb) => setImmediate(() => (hubMux.receive(f), cb())), bufferedAmount: () => 0 },
    onOpen: () => {}, // accepted, never answered: the cut comes first
  });
  hubMux = new TunnelMux({ role: 'hub', link: { send: (f, cb) => setImmediate(() => (edgeMux.receive(f), cb())), bufferedAmount: () => 0 } });
  const session = { openTunnel: (port: number) => hubMux.open(port) } as unknown as NodeSession;
  const proxy = await startKubeletProxy({
    socketPath: path.join(dir, 'kubelet-proxy.sock'),
    sessions: new Map([['edge-a', session]]),
    nodes: () => [node('edge-a', '10.0.0.1')],
    ca: await createCertificateAuthority('test-ca'),
    log: createLogger('test'),
  });
  try {
    const { head, socket } = await connect(proxy.socketPath, 'edge-a:10250');
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.equal(proxy.active, 1);
    const closed = new Promise((r) => socket.once('close', r));
    hubMux.close('link cut in the test');
    edgeMux.close('link cut in the test');
    await closed; // without the fix the client waited for the kubelet's answer for ever
    for (let i = 0; i < 100 && (proxy.active as number) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(proxy.active, 0, 'the relayed-connection gauge is back at 0');
  } finally {
    await proxy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
