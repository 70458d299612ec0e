/**
 * Issue 16, "edge nodes know every hub (a list, or a DNS name with several addresses) … hub load spreads over the
 * servers": two `kedge server`s on one etcd whose hubs listen on the same port of two addresses, 127.0.0.1 and
 * 127.0.0.2, both with `--tls-san kedge-hubs.test`. Hollow nodes (the real EdgeAgent on the fake runtime) know only
 * `https://kedge-hubs.test:PORT`; their resolver (injected: the name is nowhere in /etc/hosts) answers both addresses,
 * which become the hub list. Shown:
 *   - the hubs' certificates carry the name (and one for another name is refused);
 *   - the nodes spread over both addresses, and when server-1 is killed with -9 they all move to server-0;
 *   - changes made while server-1 is down reach every node;
 *   - server-1 restarts with the same data dir and ports: server-0 sees its Lease renewing and asks its excess nodes
 *     to move (close code 4012 naming 127.0.0.2), within a bounded time; they resume there by datastore revision
 *     (no inventory diff), no node is moved back, and every node holds exactly what the cloud holds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { Harness } from '../harness/processes.js';
import { startEtcd } from '../harness/datastores.js';
import { createLogger } from '../../src/common/logger.js';
import { joinCluster } from '../../src/edge/join.js';
import { HollowNode } from '../../src/sim/hollow-node.js';
import { copyBootstrapPki, createJoinToken, eventually, hubMetrics, hubSum, kubectl, metric, OBJECT_BYTES, startServer, type HaServer } from './ha-cluster.js';
import { cloudHolds } from './edges.js';

const h = new Harness('ha-rebalance');
after(() => h.cleanup());

const HUB_NAME = 'kedge-hubs.test';
const NODES = 6;
const PADDED_SERVICES = 20;
/** Rebalancing rounds are 5 s apart and need a round to see the restarted hub renewing: 45 s is a generous bound. */
const SPREAD_BOUND_MS = 45_000;

/** The name's A records: both hubs' addresses. */
const resolver = async (host: string): Promise<string[]> => {
  if (host !== HUB_NAME) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return ['127.0.0.1', '127.0.0.2'];
};

/** A TLS handshake with a hub address, checking its certificate against `servername` with the cluster CA. */
function handshake(s: HaServer, servername: string): Promise<{ ok: true; san: string } | { ok: false; error: string }> {
  const ca = readFileSync(path.join(s.dataDir, 'pki', 'ca.crt'), 'utf8');
  return new Promise((resolve) => {
    const socket = tls.connect({ host: new URL(s.hubUrl).hostname, port: s.hubPort, servername, ca }, () => {
      resolve({ ok: true, san: socket.getPeerCertificate().subjectaltname ?? '' });
      socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
  });
}

const connected = async (s: HaServer): Promise<number> => metric(await hubMetrics(s), 'kedge_hub_connected_nodes');

test('a hub name with two addresses is the hub list; a killed server\'s nodes move, and spread back when it returns', { timeout: 600_000 }, async () => {
  const etcd = await startEtcd(h);
  const hubPort = await h.freePort();
  const flags = ['--tls-san', HUB_NAME];
  const dirs = [h.tempDir('server-0'), h.tempDir('server-1')];
  const s0 = await startServer(h, 'server-0', dirs[0]!, etcd.endpoint, flags, { hubPort, hubHost: '127.0.0.1' });
  await s0.server.waitForLog(/became leader/, 60_000);
  copyBootstrapPki(dirs[0]!, dirs[1]!);
  let s1 = await startServer(h, 'server-1', dirs[1]!, etcd.endpoint, flags, { hubPort, hubHost: '127.0.0.2' });

  // The serving certificates carry the name (docs/design/datastores.md: --tls-san); another name is refused.
  for (const s of [s0, s1]) {
    const good = await handshake(s, HUB_NAME);
    assert.ok(good.ok && good.san.includes(`DNS:${HUB_NAME}`), `${s.hubUrl} presents a certificate for ${HUB_NAME}: ${JSON.stringify(good)}`);
  }
  const bad = await handshake(s0, 'elsewhere.test');
  assert.deepEqual(bad, { ok: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'a name the certificate does not carry is refused');

  const ns = 'rebalance';
  assert.equal((await kubectl(s0.kubeconfig, ['create', 'namespace', ns])).code, 0);
  // The state every node holds (Services go to every node): what re-sending it to a moved node would cost.
  const padding = 'x'.repeat(4096);
  const items = Array.from({ length: PADDED_SERVICES }, (_, i) => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name: `state-${i}`, namespace: ns, annotations: { padding } }, spec: { ports: [{ port: 80 }] },
  }));
  assert.equal((await kubectl(s0.kubeconfig, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }))).code, 0);

  const token = await createJoinToken(s1.kubeconfig);
  const nodes: HollowNode[] = [];
  for (let i = 0; i < NODES; i++) {
    const name = `rb-${i}`;
    const dataDir = h.tempDir(name);
    const credentials = await joinCluster({ server: s0.hubUrl, token: token[0], caCertHash: token[1], nodeName: name, dataDir });
    const node = new HollowNode({
      nodeName: name, dataDir, hubUrl: `https://${HUB_NAME}:${hubPort}`, resolveHub: resolver, credentials,
      log: createLogger(name, 'error'), heartbeatIntervalMs: 2_000, backoff: { initialMs: 200, maxMs: 1_500 },
    });
    await node.start();
    nodes.push(node);
  }
  after(() => Promise.all(nodes.map((n) => n.stop().catch(() => undefined))));
  const nameOf = (n: HollowNode) => `rb-${nodes.indexOf(n)}`;
  const hubOf = () => nodes.map((n) => (n.connected ? n.agent.hub.hubUrl : undefined));
  await eventually('every node connected', async () => hubOf().every((u) => u !== undefined), 60_000);
  const byAddress = new Set(hubOf());
  assert.ok([...byAddress].every((u) => u === s0.hubUrl || u === s1.hubUrl), `nodes dial the name's addresses: ${[...byAddress].join(', ')}`);
  // Whatever the names' start picks were, the hubs even the load out (server-0 publishes, sees server-1, sheds).
  await eventually('both hubs hold nodes', async () => (await connected(s0)) >= 2 && (await connected(s1)) >= 2, SPREAD_BOUND_MS);

  // kill -9 of server-1: its nodes move to the other address of the name.
  await s1.server.kill9();
  await eventually('every node on server-0', async () => hubOf().every((u) => u === s0.hubUrl) && (await connected(s0)) === NODES, 60_000);
  for (let i = 0; i < 3; i++) assert.equal((await kubectl(s0.kubeconfig, ['create', 'service', 'clusterip', `while-down-${i}`, '-n', ns, '--tcp=80:80'])).code, 0);

  // server-1 returns (same data dir, same ports): server-0 asks its excess to move there.
  const movesBefore = metric(await hubMetrics(s0), 'kedge_hub_rebalance_moves_total');
  const restartedAt = Date.now();
  s1 = await startServer(h, 'server-1-again', dirs[1]!, etcd.endpoint, flags, { port: s1.port, hubPort, hubHost: '127.0.0.2' });
  const spreadMs = await eventually('the load spread over both hubs again', async () => (await connected(s1)) >= 2 && (await connected(s0)) <= 4, SPREAD_BOUND_MS);
  const sinceRestart = Date.now() - restartedAt;
  await eventually('the moved nodes synced', async () => nodes.every((n) => n.connected), 30_000);
  const movedBytes = await hubSum([s1], OBJECT_BYTES);
  for (let i = 0; i < 2; i++) assert.equal((await kubectl(s1.kubeconfig, ['create', 'service', 'clusterip', `after-${i}`, '-n', ns, '--tcp=80:80'])).code, 0);

  // Nothing lost: every node holds every Service of the namespace, by uid and resourceVersion.
  let diff = '';
  await eventually('every node holds what the cloud holds', async () => {
    for (const n of nodes) {
      const held: string[] = [];
      for (const item of await n.agent.local.inventory()) {
        const m = new RegExp(`/services/${ns}/([^/]+)$`).exec(item.key);
        if (m) held.push(`service ${ns}/${m[1]} ${item.uid} ${item.rv}`);
      }
      const want = await cloudHolds(s0.kubeconfig, ns, nameOf(n), true);
      if (JSON.stringify(held.sort()) !== JSON.stringify(want)) {
        diff = `${nameOf(n)}: holds ${held.length}, cloud ${want.length}`;
        return false;
      }
    }
    return true;
  }, 60_000).catch((err: Error) => { throw new Error(`${err.message}: ${diff}`); });

  const [m0, m1] = [await hubMetrics(s0), await hubMetrics(s1)];
  const moved = metric(m0, 'kedge_hub_rebalance_moves_total') - movesBefore;
  const onS1 = metric(m1, 'kedge_hub_connected_nodes');
  console.log(`# spread again ${spreadMs} ms after server-1 was ready (${sinceRestart} ms after its restart began); server-0 asked ${moved} nodes to move; ` +
    `now ${metric(m0, 'kedge_hub_connected_nodes')} / ${onS1}; objects sent by server-1 for the moves ${movedBytes} B; server-1 resumes by revision ${metric(m1, 'kedge_hub_session_resumes_total{by="revision"}')}, by inventory ${metric(m1, 'kedge_hub_session_resumes_total{by="inventory"}')}`);
  assert.ok(moved >= 2 && moved <= NODES / 2, `server-0 moved only its excess (${moved})`);
  assert.equal(metric(m1, 'kedge_hub_rebalance_moves_total'), 0, 'server-1 moved nothing back');
  assert.equal(onS1, moved, 'every moved node arrived at the hub it was sent to');
  // A hub that started after a node's last change cannot resume it by revision (its log begins later): the node
  // sends its inventory and gets a diff, which is still only what differs (docs/design/datastores.md).
  const resumed = metric(m1, 'kedge_hub_session_resumes_total{by="inventory"}') + metric(m1, 'kedge_hub_session_resumes_total{by="revision"}');
  assert.equal(resumed, moved, 'every moved node resumed (by revision or by inventory diff), none started over');
  const stateBytes = PADDED_SERVICES * 4096;
  assert.ok(movedBytes < 0.25 * moved * stateBytes, `the moves cost ${movedBytes} B of objects, not a resend of the ${moved} nodes' state (${moved * stateBytes} B)`);
});
