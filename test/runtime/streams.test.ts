/**
 * kubectl exec / attach / cp / port-forward and client-node's Exec against a real `kedge server` and a joined
 * `kedge edge` running pods on containerd: every byte goes kubectl → API server → hub → the node's own link →
 * the edge's kubelet server → containerd's streaming server, in the protocols kubectl 1.32 negotiates
 * (WebSocket v5 for exec/attach/cp, SPDY tunnelled in a WebSocket for port-forward; SPDY to the node).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { upgradeToSpdy } from '../../src/common/spdy/upgrade.js';
import { connectProxyDialer, kubeletRequest } from '../../src/apiserver/node-dialer.js';
import { KUBELET_PROXY_SOCKET_NAME } from '../../src/common/kubelet-endpoint.js';
import { createToken, eventually, hubMetricsText, joinEdge, KUBECTL, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from './env.js';

const skip = skipReason();
if (skip) console.log(`# skipping streams suite: ${skip}`);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('exec, attach, cp and port-forward through the tunnel on containerd', { skip, timeout: 900_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;
  let work: string;
  const NODE = 'edge-s';
  const BIG_MB = 24;

  /** kubectl as a user runs it: exit code, stdout and stderr, optional stdin. */
  const kubectl = (args: string[], input?: string | Buffer, timeoutMs = 120_000): Promise<Result> =>
    new Promise((resolve) => {
      const child = spawn(KUBECTL, ['--kubeconfig', c.kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input ?? '');
    });
  const busybox = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra }] },
  });
  const running = async (name: string) =>
    eventually(`${name} Running`, async () => {
      const p = JSON.parse(await c.kubectl(['get', 'pod', name, '-o', 'json'])) as { status?: { phase?: string } };
      return p.status?.phase === 'Running' || JSON.stringify(p.status);
    }, 120_000);

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('runtime-streams');
    // Keepalive 5 s (dead link after 15 s): the suite's default 1 s made a loaded machine's 3-s stall of the server
    // look like a dead link, and the edge's reconnect ended the streams under test (seen at load 25). Cuts by the
    // fault proxy close the connections, so they are still seen at once.
    e = await joinEdge(c, NODE, await createToken(c), ['--runtime', 'cri', '--cri-socket', fx.socket, '--keepalive', '5000']);
    work = c.h.tempDir('work');
    // Two httpd's on two ports serve /www, which holds a random file to forward and hash.
    const boxScript = `mkdir -p /www && echo hello > /www/index.html && head -c ${BIG_MB * 1024 * 1024} /dev/urandom > /www/big && httpd -p 8080 -h /www && httpd -p 8081 -h /www && exec sleep 3600`;
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(busybox('box', boxScript)));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(busybox('echo', 'while read l; do echo "got $l"; done; echo bye', { stdin: true, stdinOnce: true })));
    await running('box');
    await running('echo');
    await eventually('big file written', async () => (await kubectl(['exec', 'box', '--', 'sh', '-c', `test $(wc -c < /www/big) -eq ${BIG_MB * 1024 * 1024} && echo ok`])).stdout.trim() === 'ok');
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  it('exec without a TTY passes stdin through, ends it, and exits with the command\'s code', async () => {
    const r = await kubectl(['exec', '-i', 'box', '--', 'sh', '-c', 'cat; echo to-stderr >&2; exit 3'], 'line one\nline two\n');
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'line one\nline two\n');
    assert.match(r.stderr, /to-stderr/);
    const ok = await kubectl(['exec', 'box', '--', 'sh', '-c', 'echo fine']);
    assert.deepEqual([ok.code, ok.stdout], [0, 'fine\n']);
  });

  it('exec -it runs on a TTY of the size of the client\'s terminal and exits with its code', async () => {
    // script(1) gives kubectl a pseudo-terminal of a known size; -e returns the child's exit code. The size reaches
    // the container's pty on the resize channel after the process starts (as upstream), so the command waits for it.
    const cmd = `stty cols 111 rows 33; ${KUBECTL} --kubeconfig ${c.kubeconfig} exec -it box -- sh -c 'for i in \$(seq 100); do s=\$(stty size 2>/dev/null); [ -n \"\$s\" ] && [ \"\$s\" != \"0 0\" ] && break; sleep 0.1; done; echo size \$s; tty; exit 5'`;
    const r = await new Promise<Result>((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });
    assert.equal(r.code, 5, r.stdout);
    assert.match(r.stdout, /size 33 111/, 'the container sees the terminal size kubectl sent on the resize channel');
    assert.match(r.stdout, /\/dev\/pts\/\d+/, 'the command runs on a pty');
  });

  it('a TTY resized mid-session shows the new size in the pod, over WebSocket v5 and over SPDY', async () => {
    // kubectl sends a resize whenever its terminal changes (SIGWINCH); its terminal cannot be resized from here, so
    // the test speaks kubectl's two protocols itself: v5 channel 4 and the SPDY `resize` stream, JSON TerminalSize.
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const opts: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    await kc.applyToHTTPSOptions(opts);
    const query = 'command=sh&command=-c&command=while%20read%20l%3B%20do%20echo%20size%3D%24(stty%20size)%3B%20done&stdin=true&stdout=true&tty=true';
    const size = (w: number, h: number) => JSON.stringify({ Width: w, Height: h });
    /** Waits until the output shows `size=H W`, sending `poke` until it does (the resize and the line race). */
    const sizes = async (output: () => string, poke: () => void, h: number, w: number) =>
      eventually(`size=${h} ${w} in the pod`, async () => {
        if (output().includes(`size=${h} ${w}`)) return true;
        poke();
        return output().slice(-200);
      }, 60_000, 500);

    // WebSocket v5, as kubectl 1.32 and client-node speak it.
    const ws = new WebSocket(`wss://127.0.0.1:${c.apiPort}/api/v1/namespaces/default/pods/box/exec?${query}`, ['v5.channel.k8s.io'], opts);
    let wsOut = '';
    ws.on('message', (m: Buffer) => (m[0] === 1 ? (wsOut += m.subarray(1).toString()) : undefined));
    await new Promise((r) => ws.once('open', r));
    const wsSend = (channel: number, text: string) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));
    wsSend(4, size(80, 24));
    await sizes(() => wsOut, () => wsSend(0, 'x\n'), 24, 80);
    wsSend(4, size(132, 50));
    await sizes(() => wsOut, () => wsSend(0, 'x\n'), 50, 132);
    wsSend(4, size(100, 40));
    await sizes(() => wsOut, () => wsSend(0, 'x\n'), 40, 100);
    ws.close();

    // SPDY (kubectl's fallback, and what the API server speaks to the node): a `resize` stream beside stdin/stdout.
    const { session } = await upgradeToSpdy({
      url: new URL(`http://127.0.0.1:${c.apiPort}/api/v1/namespaces/default/pods/box/exec?${query}`),
      protocols: ['v4.channel.k8s.io'],
      connect: () => tls.connect({ host: '127.0.0.1', port: c.apiPort, ...opts, servername: 'localhost' }),
    });
    const error = await session.openStream({ streamtype: ['error'] });
    error.end();
    const stdin = await session.openStream({ streamtype: ['stdin'] });
    const stdout = await session.openStream({ streamtype: ['stdout'] });
    const resize = await session.openStream({ streamtype: ['resize'] });
    let spdyOut = '';
    stdout.on('data', (d: Buffer) => (spdyOut += d.toString()));
    resize.write(size(90, 30));
    await sizes(() => spdyOut, () => stdin.write('x\n'), 30, 90);
    resize.write(size(120, 45));
    await sizes(() => spdyOut, () => stdin.write('x\n'), 45, 120);
    session.close();
  });

  it('attach -i talks to the container\'s own stdin and stdout', async () => {
    const r = await kubectl(['attach', '-i', 'echo'], 'hello\nagain\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /got hello\ngot again\n/);
  });

  it('cp copies a directory into the pod and back, byte for byte', async () => {
    const src = path.join(work, 'src');
    mkdirSync(path.join(src, 'nested'), { recursive: true });
    const files: Record<string, Buffer> = { 'a.txt': Buffer.from('alpha\n'), 'nested/b.bin': randomBytes(1536 * 1024), 'nested/empty': Buffer.alloc(0) };
    for (const [f, data] of Object.entries(files)) writeFileSync(path.join(src, f), data);
    const up = await kubectl(['cp', src, 'default/box:/tmp/copied']);
    assert.equal(up.code, 0, up.stderr);
    const listed = await kubectl(['exec', 'box', '--', 'sh', '-c', 'cd /tmp/copied && find . -type f | sort && md5sum nested/b.bin']);
    assert.match(listed.stdout, /\.\/a\.txt\n\.\/nested\/b\.bin\n\.\/nested\/empty\n/);
    assert.match(listed.stdout, new RegExp(createHash('md5').update(files['nested/b.bin']!).digest('hex')));
    const back = path.join(work, 'back');
    const down = await kubectl(['cp', 'default/box:/tmp/copied', back]);
    assert.equal(down.code, 0, down.stderr);
    for (const [f, data] of Object.entries(files)) assert.ok(readFileSync(path.join(back, f)).equals(data), f);
    assert.deepEqual(readdirSync(back).sort(), ['a.txt', 'nested']);
  });

  it('port-forward of two ports carries many concurrent connections and a large transfer intact', async () => {
    const pf = spawn(KUBECTL, ['--kubeconfig', c.kubeconfig, 'port-forward', 'pod/box', ':8080', ':8081'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const ports = await new Promise<Map<number, number>>((resolve, reject) => {
        const found = new Map<number, number>();
        let out = '';
        pf.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          for (const m of out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) found.set(Number(m[2]), Number(m[1]));
          if (found.size === 2) resolve(found);
        });
        pf.once('close', (code) => reject(new Error(`port-forward exited ${code}: ${out}`)));
      });
      const get = (port: number, file: string) =>
        new Promise<Buffer>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port, path: `/${file}`, agent: false }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(parts)) : reject(new Error(`HTTP ${res.statusCode}`))));
          }).on('error', reject);
        });
      const small = await Promise.all(Array.from({ length: 60 }, (_, i) => get(ports.get(i % 2 ? 8081 : 8080)!, 'index.html')));
      assert.ok(small.every((b) => b.toString() === 'hello\n'));
      const want = (await kubectl(['exec', 'box', '--', 'sha256sum', '/www/big'])).stdout.split(' ')[0];
      const [big] = await Promise.all([get(ports.get(8080)!, 'big'), ...Array.from({ length: 20 }, () => get(ports.get(8081)!, 'index.html'))]);
      assert.equal(big!.length, BIG_MB * 1024 * 1024);
      assert.equal(createHash('sha256').update(big!).digest('hex'), want);
    } finally {
      pf.kill('SIGKILL');
    }
  });

  it('client-node Exec gets output and the exit status (v5.channel.k8s.io)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const run = (cmd: string[]) =>
      new Promise<{ out: string; status: V1Status }>((resolve, reject) => {
        const out = new PassThrough();
        let text = '';
        out.on('data', (d: Buffer) => (text += d.toString()));
        void new Exec(kc).exec('default', 'box', 'main', cmd, out, null, null, false, (status) => resolve({ out: text, status })).then((ws) => {
          assert.equal((ws as WebSocket).protocol, 'v5.channel.k8s.io');
        }, reject);
      });
    const ok = await run(['sh', '-c', 'echo from-client-node']);
    assert.equal(ok.status.status, 'Success');
    assert.equal(ok.out, 'from-client-node\n');
    const failed = await run(['sh', '-c', 'exit 7']);
    assert.equal(failed.status.status, 'Failure');
    assert.equal(failed.status.reason, 'NonZeroExitCode');
    assert.deepEqual(failed.status.details?.causes, [{ reason: 'ExitCode', message: '7' }]);
  });

  it('bad input gets upstream\'s errors: unknown container, pod on no node, unknown pod, get-only RBAC', async () => {
    const unknown = await kubectl(['exec', 'box', '-c', 'nope', '--', 'true']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /container nope is not valid for pod box/);
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nowhere', namespace: 'default' }, spec: { nodeSelector: { none: 'such' }, containers: [{ name: 'main', image: fx.busybox }] } }));
    const unbound = await kubectl(['exec', 'nowhere', '--', 'true']);
    assert.notEqual(unbound.code, 0);
    assert.match(unbound.stderr, /pod nowhere does not have a host assigned/);
    const pfUnbound = await kubectl(['port-forward', 'pod/nowhere', ':80'], undefined, 30_000);
    assert.notEqual(pfUnbound.code, 0);
    const missing = await kubectl(['exec', 'ghost', '--', 'true']);
    assert.match(missing.stderr, /pods "ghost" not found/);
    // RBAC: `get` on pods/exec is not enough (a WebSocket upgrade is a GET, and upstream requires create too).
    await c.kubectl(['create', 'serviceaccount', 'reader']);
    await c.kubectl(['create', 'role', 'exec-get', '--verb=get', '--resource=pods,pods/exec,pods/portforward']);
    await c.kubectl(['create', 'rolebinding', 'exec-get', '--role=exec-get', '--serviceaccount=default:reader']);
    const denied = await kubectl(['--as=system:serviceaccount:default:reader', 'exec', 'box', '--', 'true']);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /cannot create resource "pods\/exec" in API group "" in the namespace "default"/);
  });

  it('garbage on the streams (non-binary or unknown channels, bytes that are not SPDY) ends only that session', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const opts: http.RequestOptions & { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    await kc.applyToHTTPSOptions(opts);
    const base = `wss://127.0.0.1:${c.apiPort}/api/v1/namespaces/default/pods/box`;
    const open = (p: string, protocol: string) => new WebSocket(`${base}/${p}`, [protocol], { ca: opts.ca, cert: opts.cert, key: opts.key });
    // v5: a text message, an unknown channel and an empty message are ignored; the command still completes.
    const ws = open('exec?command=cat&stdin=true&stdout=true', 'v5.channel.k8s.io');
    const got: Buffer[] = [];
    ws.on('message', (m: Buffer) => got.push(m));
    await new Promise((r) => ws.once('open', r));
    ws.send('text is not allowed');
    ws.send(Buffer.from([]));
    ws.send(Buffer.from([9, 1, 2, 3]));
    ws.send(Buffer.from('\x00echoed', 'latin1'));
    ws.send(Buffer.from([255, 0]));
    await new Promise((r) => ws.once('close', r));
    const text = got.map((m) => `${m[0]}:${m.subarray(1).toString()}`);
    assert.ok(text.includes('1:echoed'), JSON.stringify(text));
    assert.match(text.at(-1)!, /^3:.*"status":"Success"/);
    // Port-forward tunnel (a subprotocol with a '/', which the ws client library refuses to send, so by hand):
    // a control frame of an unknown type ends that tunnel at the node's SPDY server, and nothing else.
    const sock = tls.connect({ host: '127.0.0.1', port: c.apiPort, ca: opts.ca, cert: opts.cert, key: opts.key, servername: 'localhost' });
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write(['GET /api/v1/namespaces/default/pods/box/portforward HTTP/1.1', 'Host: 127.0.0.1', 'Connection: Upgrade', 'Upgrade: websocket',
      'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io', '', ''].join('\r\n'));
    const answer = await new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString('latin1'))));
    assert.match(answer, /^HTTP\/1\.1 101[^]*sec-websocket-protocol: SPDY\/3\.1\+portforward\.k8s\.io/i);
    const garbage = Buffer.from([0x80, 0x03, 0x00, 0x63, 0, 0, 0, 0]); // SPDY/3 control frame of type 99
    const mask = randomBytes(4);
    sock.write(Buffer.concat([Buffer.from([0x82, 0x80 | garbage.length]), mask, Buffer.from(garbage.map((b, i) => b ^ mask[i % 4]!))]));
    await new Promise((r) => sock.once('close', r));
    const after = await kubectl(['exec', 'box', '--', 'echo', 'still fine']);
    assert.deepEqual([after.code, after.stdout], [0, 'still fine\n']);
  });

  it('sessions cut by a killed client end in the container too: no exec processes or sessions left over', async () => {
    // Started in waves of 4 so a loaded machine brings each wave up well within the tunnel's accept deadline.
    const N = 12;
    const clients: ReturnType<typeof spawn>[] = [];
    const stderrOf: string[] = [];
    const sleeps = async () => ((await kubectl(['exec', 'box', '--', 'ps', '-o', 'args'])).stdout.match(/^sleep 4\d\d$/gm) ?? []).length;
    for (let wave = 0; wave < N / 4; wave++) {
      for (let i = wave * 4; i < wave * 4 + 4; i++) {
        const k = spawn(KUBECTL, ['--kubeconfig', c.kubeconfig, 'exec', i % 2 ? '-it' : '-i', 'box', '--', 'sleep', `${400 + i}`], { stdio: ['pipe', 'ignore', 'pipe'] });
        stderrOf[i] = '';
        k.stderr!.on('data', (d: Buffer) => (stderrOf[i] += d.toString()));
        clients.push(k);
      }
      await eventually(`wave ${wave}: ${(wave + 1) * 4} sleeps running in the container`, async () => {
        const exited = clients.filter((k) => k.exitCode !== null || k.signalCode !== null);
        assert.equal(exited.length, 0, `a client ended before it was killed: ${stderrOf.join(' | ')}`);
        return (await sleeps()) === (wave + 1) * 4;
      }, 120_000);
    }
    for (const k of clients) k.kill('SIGKILL');
    await eventually('no sleeps left after the clients died', async () => {
      const ps = (await kubectl(['exec', 'box', '--', 'ps', '-o', 'args'])).stdout;
      return (ps.includes('COMMAND') && !/^sleep 4\d\d$/m.test(ps)) || ps;
    }, 120_000);
    // Nor does the hub hold tunnel streams or relayed connections for them.
    const ca = readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8');
    const hubMetrics = () => new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: c.hubPort, path: '/metrics', ca, servername: '', timeout: 10_000 }, (res) => {
        let m = '';
        res.on('data', (d: Buffer) => (m += d.toString()));
        res.on('end', () => resolve(m));
      }).on('error', reject);
    });
    await eventually('hub: no tunnel stream or relayed connection left', async () => {
      const m = await hubMetrics();
      return (/^kedge_hub_tunnel_streams 0$/m.test(m) && /^kedge_hub_kubelet_proxy_connections 0$/m.test(m)) || m.split('\n').filter((l) => l.startsWith('kedge_hub_tunnel_streams') || l.startsWith('kedge_hub_kubelet_proxy')).join(' ');
    }, 60_000);
  });

  it('1,000 streams cut with the link leak nothing: fds of edge, server and containerd back, no exec left, memory bounded', async () => {
    // Cut in rounds by cutting the node's link. Per round 100 streams the edge holds open: `logs -f` (a follower on
    // the container's log file), port-forward sessions in the middle of a transfer their client does not read, and
    // execs running a shell loop (each a containerd streaming session; the exec also a process in the container,
    // which the edge's reaper must end). A tenth come through the
    // API server over TLS, as kubectl's; the rest are opened at the hub's CONNECT socket with the API server's own
    // dialer (node-dialer.ts), the very requests the API server sends a kubelet: the same hub, tunnel, edge and
    // containerd work without a TLS handshake, authentication and RBAC per stream. All through the API server, this
    // took 4–5 min at load 20–30 (a `logs -f` there cost ~8× one at the socket: the per-round timings it prints);
    // most of a round is now the port-forwards and execs (CRI, containerd, busybox) and the reconnect.
    const ROUNDS = Number(process.env.KEDGE_CUT_ROUNDS ?? 10);
    const PER_ROUND = { apiLogs: 8, apiForwards: 2, logs: 80, forwards: 8, execs: 2 };
    const perRound = Object.values(PER_ROUND).reduce((a, b) => a + b, 0);
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const tlsOpts: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    await kc.applyToHTTPSOptions(tlsOpts);
    const dialer = connectProxyDialer(path.join(c.dataDir, KUBELET_PROXY_SOCKET_NAME));
    const containerdPid = Number(readdirSync('/proc').find((p) => /^\d+$/.test(p) && (() => {
      try {
        // containerd itself (its config lives in the fixture's directory), not one of its shims (they name the socket)
        return readFileSync(`/proc/${p}/comm`, 'latin1').trim() === 'containerd' && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(fx.dir);
      } catch {
        return false;
      }
    })()));
    assert.ok(containerdPid > 0, 'found the suite\'s containerd');
    const pids = { edge: e.proc.pid, server: c.server.pid, containerd: containerdPid };
    const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
    const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))![1]) / 1024;
    const reachable = () => eventually('node reachable through the tunnel', async () => (await kubectl(['exec', 'box', '--', 'echo', 'up'])).stdout === 'up\n', 120_000, 250);
    type Held = { ended: Promise<void>; drain?(): void };
    // Each opener resolves once its stream is up, with a promise of the stream's end (wrapped: a promise resolved
    // with a promise would wait for it).
    const held = (res: IncomingMessage): Held => {
      res.resume();
      return { ended: new Promise((ended) => res.once('close', () => ended())) };
    };
    const apiLog = () => new Promise<Held>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: c.apiPort, path: '/api/v1/namespaces/default/pods/ticker/log?follow=true', ...tlsOpts, servername: 'localhost', agent: false }, (res) => {
        if (res.statusCode === 200) return resolve(held(res));
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.once('end', () => reject(new Error(`logs -f answered ${res.statusCode}: ${body}`)));
      });
      req.once('error', reject);
    });
    const socketLog = async (): Promise<Held> => {
      const { res } = await kubeletRequest(dialer, NODE, { method: 'GET', path: '/containerLogs/default/ticker/main?follow=true' });
      if (res.statusCode !== 200) throw new Error(`kubelet logs -f answered ${res.statusCode}`);
      return held(res);
    };
    /** A SPDY session to box's `exec` or `portforward`, through the API server (TLS) or straight at its kubelet through the hub's socket. */
    const spdy = async (via: 'api' | 'socket', kind: 'exec' | 'portforward', query: string, protocol: string) => {
      if (via === 'api') {
        const url = new URL(`http://127.0.0.1:${c.apiPort}/api/v1/namespaces/default/pods/box/${kind}${query}`);
        return (await upgradeToSpdy({ url, protocols: [protocol], connect: () => tls.connect({ host: '127.0.0.1', port: c.apiPort, ...tlsOpts, servername: 'localhost' }) })).session;
      }
      const stream = await dialer.dialKubelet(NODE);
      const url = new URL(`http://${NODE}:10250${kind === 'exec' ? '/exec/default/box/main' : '/portForward/default/box'}${query}`);
      return (await upgradeToSpdy({ url, protocols: [protocol], connect: () => stream })).session;
    };
    const stalledForward = async (via: 'api' | 'socket'): Promise<Held> => {
      const session = await spdy(via, 'portforward', '', 'portforward.k8s.io');
      const headers = { port: ['8080'], requestid: ['0'] };
      const error = await session.openStream({ ...headers, streamtype: ['error'] });
      error.end();
      const data = await session.openStream({ ...headers, streamtype: ['data'] });
      data.write('GET /big HTTP/1.0\r\n\r\n');
      data.pause();
      await new Promise((r) => data.once('readable', r)); // the transfer began; nobody reads on
      // After the cut the client reads again: what was queued towards it comes first, then the end (a client that
      // never reads holds its own connection, as with any TCP peer; that is not the node's doing).
      return { ended: new Promise<void>((ended) => session.onClose(() => ended())), drain: () => void data.resume() };
    };
    // A shell that keeps its command line (the reaper finds it by it). The exec'd-away case (`exec sleep`) is not
    // used here: the reaper's fallback for it still missed a process in some runs (docs/design/tunnel.md, "Ends").
    const SLEEP = 'cut-test-exec';
    const runningExec = async (): Promise<Held> => {
      const session = await spdy('socket', 'exec', `?command=sh&command=-c&command=${encodeURIComponent(`echo started; while :; do sleep 1; done; : ${SLEEP}`)}&stdout=true`, 'v4.channel.k8s.io');
      const error = await session.openStream({ streamtype: ['error'] });
      error.end();
      const stdout = await session.openStream({ streamtype: ['stdout'] });
      await new Promise<void>((resolve) => {
        let out = '';
        const on = (d: Buffer) => ((out += d.toString()).includes('started') ? (stdout.off('data', on), resolve()) : undefined);
        stdout.on('data', on);
      });
      stdout.resume();
      return { ended: new Promise<void>((ended) => session.onClose(() => ended())) };
    };
    const sleepsInPod = async () => (await kubectl(['exec', 'box', '--', 'ps', '-o', 'args'])).stdout.split('\n').filter((l) => l.startsWith('sh -c') && l.includes(SLEEP)).length;

    await c.kubectl(['apply', '-f', '-'], JSON.stringify(busybox('ticker', 'while true; do echo tick; sleep 1; done')));
    await running('ticker');
    await reachable();
    /** A round's step that does not finish in time fails with what it was waiting for (not a silent hang). */
    const within = <T>(what: string, p: Promise<T>, ms = 120_000) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
    };
    const base = { edge: fds(pids.edge), server: fds(pids.server), containerd: fds(pids.containerd) };
    const rss: { edge: number; server: number }[] = [];
    let cut = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      /** `n` streams opened `open`, `batch` at a time (a loaded machine brings each batch up well within the accept deadline). */
      const took: string[] = [];
      const openAll = async (what: string, n: number, batch: number, open: () => Promise<Held>) => {
        const out: Held[] = [];
        const t = performance.now();
        for (let i = 0; i < n; i += batch) out.push(...(await within(`round ${round}: ${what}`, Promise.all(Array.from({ length: Math.min(batch, n - i) }, open)))));
        took.push(`${n} ${what} ${Math.round(performance.now() - t)} ms`);
        return out;
      };
      // All kinds at once: they wait on different things (TLS and RBAC in the server, CRI and containerd, the pod).
      const [apiLogs, apiForwards, logs, forwards, execs] = await Promise.all([
        openAll('logs -f through the API server', PER_ROUND.apiLogs, 8, apiLog),
        openAll('port-forwards through the API server stalled', PER_ROUND.apiForwards, 2, () => stalledForward('api')),
        openAll('logs -f at the socket', PER_ROUND.logs, 40, socketLog),
        openAll('port-forwards at the socket stalled', PER_ROUND.forwards, 8, () => stalledForward('socket')),
        openAll('execs running', PER_ROUND.execs, 2, runningExec),
      ]);
      const t1 = performance.now();
      const ends = [...apiLogs, ...apiForwards, ...logs, ...forwards, ...execs];
      // Once: the exec'd processes are there to be ended (what makes the check after the last round mean something).
      if (round === 0) assert.equal(await sleepsInPod(), PER_ROUND.execs, `the ${PER_ROUND.execs} execs run ${SLEEP} in the container`);
      await e.link.cut();
      for (const s of ends) s.drain?.();
      let ended = 0;
      await within(`round ${round}: streams ended by the cut`, Promise.all(ends.map((s) => s.ended.then(() => ended++)))).catch((err: Error) => {
        throw new Error(`${err.message} (${ended} of ${ends.length} ended)`);
      });
      cut += ends.length;
      const t2 = performance.now();
      await e.link.heal();
      await reachable();
      const t3 = performance.now();
      rss.push({ edge: Math.round(rssMiB(pids.edge)), server: Math.round(rssMiB(pids.server)) });
      const ms = (a: number, b: number) => Math.round(b - a);
      console.log(`# round ${round}: open ${ms(t0, t1)} ms (${took.join(', ')}); cut ${ms(t1, t2)} ms; heal ${ms(t2, t3)} ms; rss ${JSON.stringify(rss.at(-1))}`);
    }
    assert.equal(cut, ROUNDS * perRound);
    await eventually(`no exec'd ${SLEEP} left in the container`, async () => (await sleepsInPod()) === 0, 60_000, 500);
    await eventually('hub: no tunnel stream or relayed connection left', async () => {
      const m = await hubMetricsText(c);
      return (/^kedge_hub_tunnel_streams 0$/m.test(m) && /^kedge_hub_kubelet_proxy_connections 0$/m.test(m)) || m.split('\n').filter((l) => l.startsWith('kedge_hub_tunnel_streams') || l.startsWith('kedge_hub_kubelet_proxy')).join(' ');
    }, 60_000);
    // A handful of descriptors may differ (the new hub connection, a pooled client socket); a leak per stream or
    // per round would be tens to thousands.
    await eventually('fds back where they were in edge, server and containerd', async () => {
      const now = { edge: fds(pids.edge), server: fds(pids.server), containerd: fds(pids.containerd) };
      return (now.edge <= base.edge + 8 && now.server <= base.server + 8 && now.containerd <= base.containerd + 8) || `now ${JSON.stringify(now)}, before ${JSON.stringify(base)}`;
    }, 60_000, 1000);
    // Memory: the heaps grow while they warm up, then stay flat (edge RSS ~150-170 MiB); a leak keeps growing. Bound
    // the second half. When the warm-up falls there depends on what ran before in the same processes: run with the
    // whole suite the edge's second half grew 5-16 MiB; run alone it warmed up late, 106 -> 145 MiB (39). So 48 MiB:
    // this catches a leaked stream window (stalled port-forwards hold up to 1 MiB each, 50 in the second half) or
    // leaked buffers, not a leak of a few KiB per stream (the fd and gauge checks above catch leaked streams).
    const half = rss[Math.floor(ROUNDS / 2) - 1]!;
    const last = rss[ROUNDS - 1]!;
    assert.ok(last.edge - half.edge < 48 && last.server - half.server < 48, `RSS (MiB) per round: ${JSON.stringify(rss)}`);
  });
});
