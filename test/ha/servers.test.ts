/**
 * Several `kedge server` processes on one datastore (two on PostgreSQL, three on etcd): all serve the API from the same objects; the
 * second joined with the documented bootstrap (the first one's CA and service-account keys copied into its data
 * dir, docs/design/datastores.md), so one admin kubeconfig works against either; controllers run under Lease-based
 * leader election, and when the leader is killed with -9 the other server takes the Lease and its controllers
 * carry on (a Deployment scaled after the kill gets its pods). An edge node joined with both hubs (a token made on
 * the other server) was on the killed server's hub: it moves to the live one and receives what changed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { Harness, type ManagedProcess } from '../harness/processes.js';
import { startEtcd, startPostgres } from '../harness/datastores.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { HubRotation } from '../../src/edge/hubs.js';
import { EDGE_FLAGS, localGet } from '../edge/cluster.js';

const h = new Harness('ha');
after(() => h.cleanup());

function kubectl(kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/kubectl', [`--kubeconfig=${kubeconfig}`, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }),
    );
  });
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function startServer(name: string, dataDir: string, endpoint: string): Promise<{ server: ManagedProcess; port: number; hubPort: number }> {
  const port = await h.freePort();
  const hubPort = await h.freePort();
  const server = await h.startKedge(name, [
    'server', '--data-dir', dataDir, '--secure-port', String(port), '--hub-port', String(hubPort), '--hub-bind-address', '127.0.0.1', '--datastore-endpoint', endpoint,
  ], { ready: { logLine: /kedge server ready/, timeoutMs: 90_000 }, env: { ...process.env, KEDGE_LOG_LEVEL: 'info' } });
  await server.waitForLog(/cloud hub listening/, 60_000);
  return { server, port, hubPort };
}

/** The hub URL of the edge's latest "connected to hub" log line. */
function connectedHub(edge: ManagedProcess): string | undefined {
  const lines = edge.currentOutput.split('\n').filter((l) => l.includes('connected to hub') && !l.includes('disconnected'));
  return lines.length ? (JSON.parse(lines[lines.length - 1]!) as { hub?: string }).hub : undefined;
}

/**
 * `count` servers on one datastore: the first leads; the others join with its CA and service-account keys; an edge
 * knowing every hub starts on the leader's; kill -9 of the leader while a Deployment is scaled.
 */
async function haScenario(endpoint: string, count: number): Promise<void> {
  const dirs = Array.from({ length: count }, (_, i) => h.tempDir(`server-${i}`));
  const servers = [await startServer('server-0', dirs[0]!, endpoint)];
  await servers[0]!.server.waitForLog(/became leader/, 60_000);
  // Bootstrap of a joining server: the first one's CA and service-account signing keys, nothing else.
  for (let i = 1; i < count; i++) {
    mkdirSync(path.join(dirs[i]!, 'pki'), { recursive: true, mode: 0o700 });
    for (const f of ['ca.crt', 'ca.key', 'sa.key', 'sa.pub']) copyFileSync(path.join(dirs[0]!, 'pki', f), path.join(dirs[i]!, 'pki', f));
    servers.push(await startServer(`server-${i}`, dirs[i]!, endpoint));
  }
  const [a, b] = [servers[0]!, servers[1]!];
  const kcA = path.join(dirs[0]!, 'admin.kubeconfig');
  const kcB = path.join(dirs[1]!, 'admin.kubeconfig');

  // One datastore: what is written through B is read through A, with A's own credentials pointed at B too.
  let r = await kubectl(kcB, ['create', 'deployment', 'web', '--image=registry.k8s.io/pause:3.9', '--replicas=2']);
  assert.equal(r.code, 0, r.stderr);
  r = await kubectl(kcA, ['--server', `https://127.0.0.1:${b.port}`, 'get', 'deployment', 'web', '-o', 'name']);
  assert.equal(r.code, 0, `A's admin credentials against B (shared CA): ${r.stderr}`);
  const pods = async (kc: string): Promise<number> => {
    const res = await kubectl(kc, ['get', 'pods', '-l', 'app=web', '-o', 'name']);
    return res.code === 0 ? res.stdout.trim().split('\n').filter(Boolean).length : -1;
  };
  await eventually('2 pods from the leader\'s controllers', async () => (await pods(kcB)) === 2, 60_000);
  for (const s of servers.slice(1)) assert.doesNotMatch(s.server.currentOutput, /became leader/, 'only one server leads');

  // An edge node that knows every hub, with a token made on B; the list is ordered so that it starts on A's hub
  // and moves to B's next.
  const hubs = servers.map((s) => `https://127.0.0.1:${s.hubPort}`);
  const startIndex = new HubRotation(hubs.map((_, i) => `https://placeholder-${i}:1`).join(','), 'edge-1').current().match(/placeholder-(\d+)/)![1]!;
  const ordered = Array.from({ length: count }, (_, i) => hubs[(i - Number(startIndex) + count) % count]!);
  assert.equal(new HubRotation(ordered.join(','), 'edge-1').current(), hubs[0]);
  const tokenCmd = kedgeCommand(['token', 'create', '--kubeconfig', kcB, '--ttl', '1h']);
  const tokenOut = await new Promise<string[]>((resolve, reject) =>
    execFile(tokenCmd.command, tokenCmd.args, (err, stdout) => (err ? reject(err) : resolve(stdout.trim().split('\n')))),
  );
  const localApiPort = await h.freePort();
  const edgeDir = h.tempDir('edge-1');
  const edge = await h.startKedge('edge-1', [
    'edge', 'join', '--server', ordered.join(','), '--token', tokenOut[0]!, '--ca-cert-hash', tokenOut[1]!, '--node-name', 'edge-1',
    '--data-dir', edgeDir, '--local-api-port', String(localApiPort), ...EDGE_FLAGS,
  ], { ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
  assert.equal(connectedHub(edge), hubs[0], 'the edge starts on the hub its name picks');

  // The leader dies without releasing the Lease: another server takes it once the Lease expires (15 s as it observes it).
  await a.server.kill9();
  const killedAt = Date.now();
  const survivors = servers.slice(1);
  await eventually('a new leader', async () => survivors.some((s) => /became leader/.test(s.server.currentOutput)), 60_000);
  console.log(`# ${count} servers: takeover after kill -9 of the leader: ${Date.now() - killedAt} ms`);
  r = await kubectl(kcB, ['scale', 'deployment', 'web', '--replicas=3']);
  assert.equal(r.code, 0, r.stderr);
  await eventually('3 pods from the new leader', async () => (await pods(kcB)) === 3, 60_000);
  // The edge lost A's hub: it is on B's now and receives what changed meanwhile.
  await eventually('the edge connected to the next live hub', async () => connectedHub(edge) === hubs[1], 60_000);
  r = await kubectl(kcB, ['create', 'service', 'clusterip', 'after-failover', '--tcp=80:80']);
  assert.equal(r.code, 0, r.stderr);
  const edgeView = { name: 'edge-1', dataDir: edgeDir, localApiPort } as Parameters<typeof localGet>[0];
  await eventually('the service at the edge', async () => (await localGet(edgeView, '/api/v1/namespaces/default/services/after-failover')).status === 200, 60_000);
  const lease = JSON.parse((await kubectl(kcB, ['get', 'lease', '-n', 'kube-system', 'kedge-controller-manager', '-o', 'json'])).stdout);
  const leaders = survivors.filter((s) => s.server.currentOutput.split('\n').some((l) => l.includes('became leader') && l.includes(lease.spec.holderIdentity)));
  assert.equal(leaders.length, 1, `exactly one survivor holds the Lease (${lease.spec.holderIdentity})`);
}

test('two servers on one PostgreSQL: shared objects and PKI, controller leadership and the edge move on kill -9', async () => {
  const pg = await startPostgres(h, { durable: false });
  await haScenario(await pg.createDatabase('kedge'), 2);
});

test('three servers on one etcd: the same', async () => {
  const etcd = await startEtcd(h);
  await haScenario(etcd.endpoint, 3);
});
