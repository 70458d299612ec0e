/**
 * Several `kedge server` processes on one datastore (two on PostgreSQL, three on etcd): all serve the API from the same objects; the
 * second joined with the documented bootstrap (the first one's CA and service-account keys copied into its data
 * dir, docs/design/datastores.md), so one admin kubeconfig works against either; controllers run under Lease-based
 * leader election, and when the leader is killed with -9 the other server takes the Lease and its controllers
 * carry on (a Deployment scaled after the kill gets its pods). An edge node joined with both hubs (a token made on
 * the other server) was on the killed server's hub: it moves to the live one and receives what changed.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Harness } from '../harness/processes.js';
import { startEtcd, startPostgres } from '../harness/datastores.js';
import { EDGE_FLAGS, localGet } from '../edge/cluster.js';
import { connectedHub, copyBootstrapPki, createJoinToken, eventually, kubectl, orderForNode, startServer } from './ha-cluster.js';

const h = new Harness('ha');
after(() => h.cleanup());

/**
 * `count` servers on one datastore: the first leads; the others join with its CA and service-account keys; an edge
 * knowing every hub starts on the leader's; kill -9 of the leader while a Deployment is scaled.
 */
async function haScenario(endpoint: string, count: number): Promise<void> {
  const dirs = Array.from({ length: count }, (_, i) => h.tempDir(`server-${i}`));
  const servers = [await startServer(h, 'server-0', dirs[0]!, endpoint)];
  await servers[0]!.server.waitForLog(/became leader/, 60_000);
  for (let i = 1; i < count; i++) {
    copyBootstrapPki(dirs[0]!, dirs[i]!);
    servers.push(await startServer(h, `server-${i}`, dirs[i]!, endpoint));
  }
  const [a, b] = [servers[0]!, servers[1]!];
  const kcA = a.kubeconfig;
  const kcB = b.kubeconfig;

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
  const hubs = servers.map((s) => s.hubUrl);
  const ordered = orderForNode(hubs, 'edge-1');
  const tokenOut = await createJoinToken(kcB);
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
