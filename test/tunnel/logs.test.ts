/**
 * `kubectl logs` through the tunnel, all real: `kedge server` (API server + hub on its thread), a `kedge edge`
 * process running pods on containerd and dialling the hub through the fault proxy, the stock /usr/bin/kubectl.
 * The path: kubectl → API server (RBAC) → hub CONNECT proxy (Unix socket) → tunnel stream on the node's link →
 * edge kubelet server → CRI log files. Covers every logs flag, -f across a rotation, --previous after a crash,
 * the upstream error texts, an offline node, RBAC refusals, the TLS path kube-apiserver would take, and a link cut
 * mid-follow that ends both sides and leaks nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { KUBECTL, createToken, eventually, hubMetricsText, joinEdge, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { skipReason, startRuntime, type RuntimeFixture } from '../runtime/env.js';

const skip = skipReason();
if (skip) console.log(`# skipping tunnel logs suite: ${skip}`);

const NODE = 'edge-logs';

/** kubectl that may fail: exit code, stdout, stderr. */
function kubectlResult(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `kubectl logs -f` as a child whose output accumulates; `stop()` kills it. */
function follow(kubeconfig: string, args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number>; stop(): void } {
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'logs', '-f', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  return { child, out: () => out, exited, stop: () => void child.kill('SIGKILL') };
}

/** Open descriptors of a process pointing into a container's log directory. */
function logFds(pid: number, container: string): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).includes(`/logs/${container}/`)) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('kubectl logs through the tunnel', { skip, timeout: 900_000 }, () => {
  let c: Cluster;
  let fx: RuntimeFixture;
  let e: Edge;

  before(async () => {
    fx = await startRuntime();
    c = await startCluster('tunnel-logs');
    // Keepalive 5 s (a dead link after 15 s of silence), as the streams suite: the default 1 s of test/edge made a
    // loaded server's 3-s stall look like a dead link, and the edge's reconnect cut the stream a test was reading
    // ("socket hang up" in the TLS path test at load 38). Cuts by the fault proxy close the connections: seen at once.
    e = await joinEdge(c, NODE, await createToken(c), ['--runtime', 'cri', '--cri-socket', fx.socket, '--container-log-max-size', '8Ki', '--container-log-max-files', '3', '--keepalive', '5000']);
    const container = (name: string, script: string) => ({ name, image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] });
    const pod = (name: string, containers: unknown[], extra: Record<string, unknown> = {}) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, containers, ...extra },
    });
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        pod('basic', [
          container('main', 'for i in 1 2 3 4 5; do echo line-$i; done; sleep 1; echo err-line >&2; sleep 2; echo late; exec sleep 3600'),
          container('side', 'echo side-hello; exec sleep 3600'),
        ]),
        // Counts its runs in an emptyDir (kept across restarts): run-N is printed by the N-th instance.
        pod('crasher', [{ ...container('main', 'n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo run-$n; sleep 1; exit 3'), volumeMounts: [{ name: 'd', mountPath: '/d' }] }], { volumes: [{ name: 'd', emptyDir: {} }] }),
        // ~200 bytes every 20 ms: with 8Ki files it rotates at every 10 s check.
        pod('chatty', [container('main', 'i=0; pad=$(head -c 180 /dev/zero | tr "\\0" x); while true; do i=$((i+1)); echo "seq-$i $pad"; sleep 0.02; done')]),
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unscheduled', namespace: 'default' }, spec: { nodeSelector: { nowhere: 'true' }, containers: [container('main', 'true')] } },
      ],
    };
    await c.kubectl(['apply', '-f', '-'], JSON.stringify(list));
    await eventually('pods running on the edge', async () => {
      const ps = JSON.parse(await c.kubectl(['get', 'pods', '-o', 'json'])) as { items: { metadata: { name: string }; status?: { phase?: string; containerStatuses?: { restartCount: number }[] } }[] };
      const phase = (n: string) => ps.items.find((p) => p.metadata.name === n)?.status?.phase;
      const crashRestarts = ps.items.find((p) => p.metadata.name === 'crasher')?.status?.containerStatuses?.[0]?.restartCount ?? 0;
      return (phase('basic') === 'Running' && phase('chatty') === 'Running' && crashRestarts >= 1) || JSON.stringify(ps.items.map((p) => [p.metadata.name, p.status?.phase]));
    }, 240_000, 1000);
  });

  after(async () => {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  });

  const logs = (args: string[]) => c.kubectl(['logs', ...args]);

  it('reads a container\'s log, with -c, --tail, --timestamps, --limit-bytes, --since, --since-time and --all-containers', async () => {
    await eventually('basic printed its late line', async () => (await logs(['basic', '-c', 'main'])).includes('late'), 60_000, 500);
    assert.equal(await logs(['basic', '-c', 'main']), 'line-1\nline-2\nline-3\nline-4\nline-5\nerr-line\nlate\n');
    assert.equal(await logs(['basic', '-c', 'side']), 'side-hello\n');
    assert.equal(await logs(['basic', '-c', 'main', '--tail', '2']), 'err-line\nlate\n');
    assert.equal(await logs(['basic', '-c', 'main', '--tail', '0']), '');
    assert.equal(await logs(['basic', '-c', 'main', '--limit-bytes', '10']), 'line-1\nlin');
    const stamped = (await logs(['basic', '-c', 'main', '--timestamps'])).trimEnd().split('\n');
    assert.equal(stamped.length, 7);
    for (const l of stamped) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) \S+$/);
    // --since-time at the late line's own timestamp: only what was written from then on (2 s after the rest).
    const lateAt = stamped.at(-1)!.split(' ')[0]!;
    assert.equal(await logs(['basic', '-c', 'main', `--since-time=${lateAt}`]), 'late\n');
    assert.equal(await logs(['basic', '-c', 'main', '--since=1h']), 'line-1\nline-2\nline-3\nline-4\nline-5\nerr-line\nlate\n');
    const future = new Date(Date.now() + 3600_000).toISOString();
    assert.equal(await logs(['basic', '-c', 'main', `--since-time=${future}`]), '');
    const all = await logs(['basic', '--all-containers', '--prefix']);
    assert.match(all, /\[pod\/basic\/main\] line-1\n/);
    assert.match(all, /\[pod\/basic\/side\] side-hello\n/);
  });

  it('--previous shows the instance before a crash; without one, upstream\'s error', async () => {
    await eventually('previous is the run before the current one', async () => {
      const restarts = Number((await c.kubectl(['get', 'pod', 'crasher', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}'])).trim());
      const prev = (await logs(['crasher', '--previous'])).trim();
      const again = Number((await c.kubectl(['get', 'pod', 'crasher', '-o', 'jsonpath={.status.containerStatuses[0].restartCount}'])).trim());
      return (restarts === again && restarts >= 1 && prev === `run-${restarts}`) || `restarts ${restarts}/${again}, previous ${JSON.stringify(prev)}`;
    }, 120_000, 500);
    const r = await kubectlResult(c.kubeconfig, ['logs', 'basic', '-c', 'side', '--previous']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error from server \(BadRequest\): previous terminated container "side" in pod "basic" not found/);
  });

  it('answers upstream\'s errors: unknown container, unknown pod, pod not scheduled, bad options', async () => {
    // kubectl checks the name itself; the API server's own answer, as kube-apiserver's, for other clients:
    const bad = await kubectlResult(c.kubeconfig, ['logs', 'basic', '-c', 'nope']);
    assert.match(bad.stderr, /container nope is not valid for pod basic/);
    const badRaw = await kubectlResult(c.kubeconfig, ['get', '--raw', '/api/v1/namespaces/default/pods/basic/log?container=nope']);
    assert.match(badRaw.stderr, /Error from server \(BadRequest\): container nope is not valid for pod basic/);
    const missing = await kubectlResult(c.kubeconfig, ['logs', 'no-such-pod']);
    assert.match(missing.stderr, /\(NotFound\): pods "no-such-pod" not found/);
    // As kube-apiserver: a pod with no node has no logs yet, an empty answer.
    const pending = await kubectlResult(c.kubeconfig, ['logs', 'unscheduled']);
    assert.equal(pending.code, 0, pending.stderr);
    assert.equal(pending.stdout, '');
    const raw = await kubectlResult(c.kubeconfig, ['get', '--raw', '/api/v1/namespaces/default/pods/basic/log?container=main&tailLines=-1']);
    assert.match(raw.stderr, /tailLines: Invalid value: -1: must be greater than or equal to 0/);
    const multi = await kubectlResult(c.kubeconfig, ['get', '--raw', '/api/v1/namespaces/default/pods/basic/log']);
    assert.match(multi.stderr, /a container name must be specified for pod basic, choose one of: \[main side\]/);
  });

  it('-f follows a chatty container across log rotations: no line lost or repeated', async () => {
    const dir = path.join(e.dataDir, 'pods');
    const rotatedFiles = () => {
      const out: string[] = [];
      for (const pd of readdirSync(dir)) {
        const logDir = path.join(dir, pd, 'logs', 'main');
        if (!pd.includes('chatty')) continue;
        try {
          out.push(...readdirSync(logDir).filter((n) => /\.log\./.test(n)));
        } catch {
          /* not yet */
        }
      }
      return out;
    };
    const f = follow(c.kubeconfig, ['chatty', '--tail', '1']);
    try {
      // Rotations count from when the follower reads (kubectl starts slowly under load: counted from its spawn, both
      // could happen before it followed anything, and it then saw only the last file's lines).
      await eventually('following', async () => f.out().includes('seq-') || f.out(), 60_000, 100);
      const before = new Set(rotatedFiles());
      await eventually('two rotations while following', async () => {
        const fresh = rotatedFiles().filter((n) => !before.has(n));
        return fresh.length >= 2 || `rotated since start: ${fresh.length}; got ${f.out().length} bytes`;
      }, 90_000, 500);
      const seen = f.out().length;
      await eventually('more lines after the rotations', async () => f.out().length > seen + 2000, 30_000, 200);
    } finally {
      f.stop();
    }
    const seqs = f.out().split('\n').filter((l) => l.startsWith('seq-')).map((l) => Number(l.split(' ')[0]!.slice(4)));
    // A rotation happens only once the file holds 8 KiB, so between the two a whole file went by: ≥ 43 lines of 190
    // bytes, however slowly the container writes on a loaded machine (a fixed count such as 100 is not guaranteed).
    assert.ok(seqs.length >= 43, `only ${seqs.length} lines followed`);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, `line after seq-${seqs[i - 1]} is seq-${seqs[i]}`);
  });

  it('RBAC: pods/log and nodes/proxy are refused without the verb, served with it', async () => {
    const as = ['--as', 'jane'];
    // kubectl reads the Pod first (get pods), then its log (get pods/log): jane may do the first only.
    await c.kubectl(['create', 'role', 'pod-reader', '--verb=get', '--resource=pods']);
    await c.kubectl(['create', 'rolebinding', 'jane-pods', '--role=pod-reader', '--user=jane']);
    await eventually('jane reads pods', async () => (await kubectlResult(c.kubeconfig, ['get', 'pod', 'basic', ...as])).code === 0, 30_000, 500);
    const refused = await kubectlResult(c.kubeconfig, ['logs', 'basic', '-c', 'side', ...as]);
    assert.match(refused.stderr, /pods "basic" is forbidden: User "jane" cannot get resource "pods\/log" in API group "" in the namespace "default"/);
    const node = await kubectlResult(c.kubeconfig, ['get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`, ...as]);
    assert.match(node.stderr, /nodes "edge-logs" is forbidden: User "jane" cannot get resource "nodes\/proxy" in API group "" at the cluster scope/);
    await c.kubectl(['create', 'role', 'log-reader', '--verb=get', '--resource=pods/log']);
    await c.kubectl(['create', 'rolebinding', 'jane-logs', '--role=log-reader', '--user=jane']);
    await eventually('jane reads logs', async () => (await logs(['basic', '-c', 'side', ...as])) === 'side-hello\n', 30_000, 500);
    assert.equal(await c.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/healthz`]), 'ok');
  });

  it('the TLS path kube-apiserver takes: CONNECT on the hub\'s socket, TLS terminated by the hub with a certificate for the node', async () => {
    const socketPath = path.join(c.dataDir, 'kubelet-proxy.sock');
    const ca = readFileSync(path.join(c.dataDir, 'pki', 'ca.crt'), 'utf8');
    const raw = net.connect({ path: socketPath });
    await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
    raw.write(`CONNECT ${NODE}:10250 HTTP/1.1\r\nHost: ${NODE}:10250\r\n\r\n`);
    const head = await new Promise<string>((resolve) => raw.once('data', (d: Buffer) => resolve(d.toString())));
    assert.match(head, /^HTTP\/1\.1 200/);
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request({ createConnection: () => tls.connect({ socket: raw, ca, servername: NODE }), path: '/containerLogs/default/basic/side', method: 'GET' }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${s}`));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, '200 side-hello\n');
    // Offline or unknown targets are refused at once with a reason, never a hang.
    const other = net.connect({ path: socketPath });
    await new Promise<void>((resolve) => other.once('connect', resolve));
    other.write('CONNECT nobody:10250 HTTP/1.1\r\nHost: nobody:10250\r\n\r\n');
    assert.match(await new Promise<string>((resolve) => other.once('data', (d: Buffer) => resolve(d.toString()))), /^HTTP\/1\.1 404[^]*no node named or addressed nobody/);
    other.destroy();
  });

  it('a link cut mid-follow ends both sides and frees everything; an offline node fails at once', async () => {
    const edgePid = e.proc.pid;
    const baseFds = fdCount(edgePid);
    const f = follow(c.kubeconfig, ['chatty', '--tail', '1']);
    await eventually('following', async () => f.out().includes('seq-') && logFds(edgePid, 'main') > 0, 30_000, 200);
    await e.link.cut();
    let ended = false;
    void f.exited.then(() => (ended = true));
    await eventually('kubectl logs -f ended with the link', async () => ended, 30_000, 200).finally(() => f.stop());
    await eventually('hub: no tunnel stream or relayed connection left', async () => {
      const m = await hubMetricsText(c);
      return (m.includes('kedge_hub_tunnel_streams 0') && m.includes('kedge_hub_kubelet_proxy_connections 0')) || m.split('\n').filter((l) => l.includes('tunnel') || l.includes('proxy_conn')).join(' ');
    }, 30_000, 500);
    await eventually('edge: the log reader closed its files', async () => logFds(edgePid, 'main') === 0 || `${logFds(edgePid, 'main')} log fds open`, 30_000, 200);
    // Offline: the hub knows at once, and says so.
    const t0 = Date.now();
    const offline = await kubectlResult(c.kubeconfig, ['logs', 'chatty', '--request-timeout=30s']);
    assert.notEqual(offline.code, 0);
    assert.match(offline.stderr, /Error from server \(ServiceUnavailable\): error dialing backend: node "edge-logs" is not connected to the hub/);
    assert.ok(Date.now() - t0 < 25_000, 'refused, not timed out');
    await e.link.heal();
    await eventually('reconnected and serving logs', async () => (await logs(['basic', '-c', 'side'])) === 'side-hello\n', 90_000, 1000);
    await eventually('edge fds back to where they were', async () => fdCount(edgePid) <= baseFds + 2 || `${fdCount(edgePid)} fds, ${baseFds} before`, 30_000, 500);
  });
});

