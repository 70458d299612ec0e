/**
 * Node streams through ANY server (issue 16 with issue 11): two `kedge server`s on one etcd, a real `kedge edge` on
 * the shared containerd holding its link to server B's hub only, and the stock kubectl against server A. A has no
 * session for the node, so its hub asks its peer (B's hub, mutual TLS, A's `kedge:servers` certificate) and relays:
 * `kubectl logs`, `exec` (its exit code), `port-forward` (to busybox httpd in the pod), `top node` (A's metrics
 * scraper goes the same way) and `get --raw …/proxy/healthz`. The hubs' peer-relay counters show the path.
 * B's peer endpoint refuses the edge node's own certificate and the administrator's; with the node down, A answers
 * at once with one ServiceUnavailable that names both hubs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Harness } from '../harness/processes.js';
import { startEtcd } from '../harness/datastores.js';
import { skipReason } from '../runtime/env.js';
import { BUSYBOX_IMAGE } from '../../src/runtime/image/busybox.js';
import { readKubeconfigSync } from '../../src/common/kubeconfig-file.js';
import { readNodeIdentity } from '../../src/edge/config.js';
import { ensureCertificateAuthority, ensureServiceAccountKeyPair, pkiDir } from '../../src/pki/index.js';
import { copyBootstrapPki, createJoinToken, eventually, hubMetrics, kubectl, metric, startServer, type HaServer } from './ha-cluster.js';
import { prepareSharedContainerd, removeSandboxes, startContainerdEdge } from './edges.js';

const skip = skipReason();
if (skip) console.log(`# skipping the relay suite: ${skip}`);

const h = new Harness('relay');
after(() => h.cleanup());

const NS = 'ha-relay';
const NODE = 'relay-edge';
const relays = (text: string, direction: 'in' | 'out', result: string) => metric(text, `kedge_hub_kubelet_peer_relays_total{direction="${direction}",result="${result}"}`);

/** `CONNECT NODE:10250` to a hub's TLS port with the given client certificate: the answer's status line and body. */
function connectToHub(s: HaServer, cert: { certPem: string; keyPem: string }): Promise<string> {
  const ca = readFileSync(path.join(s.dataDir, 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: s.hubPort, ca, cert: cert.certPem, key: cert.keyPem }, () => socket.write(`CONNECT ${NODE}:10250 HTTP/1.1\r\nHost: ${NODE}:10250\r\n\r\n`));
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.once('close', () => resolve(answer));
    socket.once('error', reject);
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

/** `kubectl port-forward` in the background; resolves with the local port once it forwards. */
function portForward(kubeconfig: string, args: string[]): Promise<{ port: number; stop(): void }> {
  const child = spawn('/usr/bin/kubectl', [`--kubeconfig=${kubeconfig}`, 'port-forward', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`port-forward did not start: ${out}`))), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({ port: Number(m[1]), stop: () => void child.kill('SIGKILL') });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`port-forward exited ${code}: ${out}`))));
  });
}

function httpGet(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('node streams through any server: two servers on etcd, the node on B, kubectl against A', { skip, timeout: 300_000 }, () => {
  let a: HaServer;
  let b: HaServer;
  let edge: Awaited<ReturnType<typeof startContainerdEdge>>;

  before(async () => {
    const t0 = Date.now();
    const mark = (what: string) => console.log(`# ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const endpoint = (await startEtcd(h)).endpoint;
    const dirs = [h.tempDir('server-a'), h.tempDir('server-b')];
    // A short metrics resolution so that `kubectl top` has A's scrape of the node within the test.
    const flags = ['--metric-resolution', '5s'];
    // The documented bootstrap (one CA and service-account key pair on every server), made up front so that both
    // servers start at once on the empty datastore, as an operator's machines would.
    await ensureCertificateAuthority(pkiDir(dirs[0]!));
    await ensureServiceAccountKeyPair(pkiDir(dirs[0]!));
    copyBootstrapPki(dirs[0]!, dirs[1]!);
    [a, b] = await Promise.all([startServer(h, 'server-a', dirs[0]!, endpoint, flags), startServer(h, 'server-b', dirs[1]!, endpoint, flags), prepareSharedContainerd(), removeSandboxes(NS)]);
    mark('servers ready, containerd prepared');
    const ns = await kubectl(a.kubeconfig, ['create', 'namespace', NS]);
    assert.equal(ns.code, 0, ns.stderr);
    // The node knows only B's hub: its link cannot be on A's.
    edge = await startContainerdEdge(h, NODE, [b.hubUrl], await createJoinToken(b.kubeconfig));
    mark('edge connected');
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: NS },
      spec: {
        nodeName: NODE, terminationGracePeriodSeconds: 1,
        containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo hello from the relayed node; mkdir -p /www; echo relayed page > /www/index.html; exec httpd -f -p 8080 -h /www'] }],
      },
    };
    const created = await kubectl(a.kubeconfig, ['create', '-f', '-'], JSON.stringify(pod));
    assert.equal(created.code, 0, created.stderr);
    await eventually('the pod Running on containerd', async () => {
      const r = await kubectl(a.kubeconfig, ['get', 'pod', 'web', '-n', NS, '-o', 'jsonpath={.status.phase}']);
      return r.stdout === 'Running';
    }, 120_000);
    mark('pod running');
  });

  after(async () => {
    if (!a) return;
    await kubectl(a.kubeconfig, ['delete', 'namespace', NS, '--wait=false']);
    await edge?.stop().catch(() => undefined);
    if (!skip) await removeSandboxes(NS);
  });

  test('kubectl against A: logs, exec with its exit code, port-forward, top node and nodes/proxy, relayed by B\'s hub', async () => {
    assert.equal(edge.hub(), b.hubUrl, 'the node\'s link is on B');
    // A asks B once it has seen B's hub Lease renewing (two publish intervals after B started at most).
    await eventually('A\'s hub counts B\'s as a live peer', async () => (await kubectl(a.kubeconfig, ['get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`])).code === 0, 30_000);
    const logs = await kubectl(a.kubeconfig, ['logs', '-n', NS, 'web']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /hello from the relayed node/);

    const exec = await kubectl(a.kubeconfig, ['exec', '-n', NS, 'web', '--', 'sh', '-c', 'cat /www/index.html; exit 3']);
    assert.equal(exec.code, 3, `the command's exit code comes back through both hubs: ${exec.stderr}`);
    assert.equal(exec.stdout, 'relayed page\n');
    const stdin = await kubectl(a.kubeconfig, ['exec', '-i', '-n', NS, 'web', '--', 'wc', '-c'], 'x'.repeat(100_000));
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(stdin.stdout.trim(), '100000', 'stdin and its end pass through');

    const forward = await portForward(a.kubeconfig, ['-n', NS, 'pod/web', ':8080']);
    try {
      assert.equal(await httpGet(forward.port, '/index.html'), 'relayed page\n');
      assert.equal(await httpGet(forward.port, '/index.html'), 'relayed page\n', 'a second connection on the same forward');
    } finally {
      forward.stop();
    }

    const healthz = await kubectl(a.kubeconfig, ['get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`]);
    assert.equal(healthz.code, 0, healthz.stderr);
    assert.equal(healthz.stdout.trim(), 'ok');
    let top = { code: 1, stdout: '', stderr: '' };
    await eventually('kubectl top node through A', async () => {
      top = await kubectl(a.kubeconfig, ['top', 'node', NODE, '--no-headers']);
      return top.code === 0;
    }, 60_000).catch((err: Error) => { throw new Error(`${err.message}: ${top.stderr}`); });
    assert.match(top.stdout, new RegExp(`^${NODE}\\s+\\d+m\\s+\\d+%\\s+\\d+Mi\\s+\\d+%`));

    // What the extra hop costs a request, printed (speed is not asserted here): kubectl against A (relayed) and B (direct).
    const median = async (s: HaServer) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const t = Date.now();
        assert.equal((await kubectl(s.kubeconfig, ['get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`])).code, 0);
        times.push(Date.now() - t);
      }
      return times.sort((x, y) => x - y)[3]!;
    };
    console.log(`# kubectl get --raw …/proxy/healthz, median of 7: through A (relayed to B's hub) ${await median(a)} ms, through B (direct) ${await median(b)} ms`);

    const [ma, mb] = [await hubMetrics(a), await hubMetrics(b)];
    assert.ok(relays(ma, 'out', 'ok') >= 5, `A's hub relayed to its peer (${relays(ma, 'out', 'ok')})`);
    assert.ok(relays(mb, 'in', 'ok') >= 5, `B's hub served its peer (${relays(mb, 'in', 'ok')})`);
    assert.equal(relays(mb, 'out', 'ok'), 0, 'B served its own node without asking anyone');
  });

  test('B\'s peer endpoint refuses the node\'s certificate and the administrator\'s', async () => {
    const before = relays(await hubMetrics(b), 'in', 'refused');
    const nodeCert = await readNodeIdentity(edge.dataDir);
    assert.match(await connectToHub(b, nodeCert), /^HTTP\/1\.1 403 [^]*CN=system:node:relay-edge O=system:nodes is not a Kedge server identity/);
    const admin = readKubeconfigSync(a.kubeconfig);
    assert.match(await connectToHub(b, { certPem: admin.clientCertPem!, keyPem: admin.clientKeyPem! }), /^HTTP\/1\.1 403 [^]*CN=kubernetes-admin O=system:masters is not a Kedge server identity/);
    assert.equal(relays(await hubMetrics(b), 'in', 'refused') - before, 2);
  });

  test('the node down on every hub: A answers at once with one ServiceUnavailable naming both hubs', async () => {
    await edge.stop();
    await eventually('B has no session for the node', async () => metric(await hubMetrics(b), 'kedge_hub_connected_nodes') === 0, 30_000);
    const started = Date.now();
    const r = await kubectl(a.kubeconfig, ['logs', '-n', NS, 'web']);
    const tookMs = Date.now() - started;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error from server \(ServiceUnavailable\): error dialing backend: node "relay-edge" is not connected to any of the 2 hubs/);
    assert.ok(tookMs < 10_000, `refused without waiting on a timeout (${tookMs} ms, kubectl included)`);
  });
});
