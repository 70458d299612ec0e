/**
 * The sync cursor every server understands: an edge's cursor carries the datastore revision it holds the cluster
 * through (protocol v4 `progress`), so a node whose server dies resumes on another server of the same datastore with
 * exactly what changed while it was away: no inventory diff, nothing sent twice, nothing lost.
 *
 * The servers share their CA and service-account keys through the datastore (`--token`, K3s's bootstrap data):
 * server-1 starts from an empty data dir with the token; a server with another token is refused.
 *
 * Two servers on one etcd; the edge starts on server-1's hub (not the controller leader: no takeover involved) and
 * holds ten Services; server-1 is killed with -9; three Services are created, one deleted and one relabelled; the
 * edge moves to server-0's hub, which resumes it by revision and sends those five changes and nothing else.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { Harness } from '../harness/processes.js';
import { startEtcd } from '../harness/datastores.js';
import { EDGE_FLAGS, edgeNames, localGet, type Edge } from '../edge/cluster.js';
import { connectedHub, createJoinToken, eventually, hubMetrics, kubectl, metric, orderForNode, startServer } from './ha-cluster.js';

const h = new Harness('ha-revision');
after(() => h.cleanup());

/** Services without a selector: no EndpointSlices follow them, so every change below is exactly one object. */
function services(names: string[], label = 'v1'): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'List',
    items: names.map((name) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', labels: { gen: label } }, spec: { ports: [{ port: 80 }] } })),
  });
}

test('a node that moves to another server resumes from the datastore revision: only what changed while it was away, once', async () => {
  const etcd = await startEtcd(h);
  const dirs = [h.tempDir('server-0'), h.tempDir('server-1')];
  const serverToken = ['--token', 'ha-test-server-token-0123456789'];
  const s0 = await startServer(h, 'server-0', dirs[0]!, etcd.endpoint, serverToken);
  await s0.server.waitForLog(/became leader/, 60_000);
  const s1 = await startServer(h, 'server-1', dirs[1]!, etcd.endpoint, serverToken);
  assert.match(s1.server.currentOutput, /joined the cluster: CA and service-account keys read from the datastore/);
  for (const f of ['ca.crt', 'ca.key', 'sa.key', 'sa.pub']) {
    assert.equal(readFileSync(path.join(dirs[1]!, 'pki', f), 'utf8'), readFileSync(path.join(dirs[0]!, 'pki', f), 'utf8'), `${f} shared`);
  }
  // A server with another token cannot open the bootstrap data: it stops at once, saying why.
  const wrong = kedgeCommand(['server', '--data-dir', h.tempDir('server-wrong'), '--secure-port', '0', '--hub-port', '-1', '--datastore-endpoint', etcd.endpoint, '--token', 'some-other-token-0123456789']);
  const refused = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(wrong.command, wrong.args, { timeout: 60_000 }, (err, _out, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr })));
  assert.notEqual(refused.code, 0, refused.stderr);
  assert.match(refused.stderr, /--token does not open the bootstrap data in the datastore: it is not the token the first server/);

  // A join token made on server-0 admits the node at server-1's hub (one cluster CA, one datastore).
  const [token, hash] = await createJoinToken(s0.kubeconfig);
  const localApiPort = await h.freePort();
  const edgeDir = h.tempDir('edge-1');
  const edgeProc = await h.startKedge('edge-1', [
    'edge', 'join', '--server', orderForNode([s1.hubUrl, s0.hubUrl], 'edge-1').join(','), '--token', token, '--ca-cert-hash', hash, '--node-name', 'edge-1',
    '--data-dir', edgeDir, '--local-api-port', String(localApiPort), ...EDGE_FLAGS,
  ], { ready: { logLine: /connected to hub/, timeoutMs: 90_000 } });
  assert.equal(connectedHub(edgeProc), s1.hubUrl, 'the edge starts on server-1');
  const edge = { name: 'edge-1', dataDir: edgeDir, localApiPort } as Edge;
  const edgeServices = async () => (await edgeNames(edge, '/api/v1/namespaces/default/services')).filter((n) => n.startsWith('svc-'));

  const before = Array.from({ length: 10 }, (_, i) => `svc-${i}`);
  let r = await kubectl(s0.kubeconfig, ['create', '-f', '-'], services(before));
  assert.equal(r.code, 0, r.stderr);
  await eventually('ten services at the edge', async () => (await edgeServices()).length === 10, 60_000);
  // The hub marks the revision once every watch of its cache has passed what it sent (a bookmark later): wait for it.
  let marks = -1;
  let stableSince = Date.now();
  await eventually('server-1 told the edge its revision', async () => {
    const now = metric(await hubMetrics(s1), 'kedge_hub_sent_messages_total{type="progress"}');
    if (now !== marks) [marks, stableSince] = [now, Date.now()];
    return marks > 0 && Date.now() - stableSince > 3000;
  }, 60_000);
  const s1Text = await hubMetrics(s1);
  const initialUpserts = metric(s1Text, 'kedge_hub_sent_messages_total{type="upsert"}');
  const initialBytes = metric(s1Text, 'kedge_hub_sent_bytes_total{type="upsert"}');

  await s1.server.kill9();
  // While the edge is away: 3 created, 1 deleted, 1 relabelled.
  r = await kubectl(s0.kubeconfig, ['create', '-f', '-'], services(['svc-10', 'svc-11', 'svc-12']));
  assert.equal(r.code, 0, r.stderr);
  r = await kubectl(s0.kubeconfig, ['delete', 'service', 'svc-0']);
  assert.equal(r.code, 0, r.stderr);
  r = await kubectl(s0.kubeconfig, ['label', 'service', 'svc-1', 'gen=v2', '--overwrite']);
  assert.equal(r.code, 0, r.stderr);

  await eventually('the edge on server-0', async () => connectedHub(edgeProc) === s0.hubUrl, 60_000);
  const want = [...before.slice(1), 'svc-10', 'svc-11', 'svc-12'].sort();
  await eventually('the edge holds what the cloud holds', async () => JSON.stringify((await edgeServices()).sort()) === JSON.stringify(want), 60_000);
  await eventually('the relabelled service at the edge', async () => {
    const svc = await localGet<{ metadata: { labels?: Record<string, string> } }>(edge, '/api/v1/namespaces/default/services/svc-1');
    return svc.status === 200 && svc.body.metadata.labels?.gen === 'v2';
  }, 60_000);

  const text = await hubMetrics(s0);
  const sent = (type: string) => metric(text, `kedge_hub_sent_messages_total{type="${type}"}`);
  const bytes = (type: string) => metric(text, `kedge_hub_sent_bytes_total{type="${type}"}`);
  console.log(`# moved node: server-0 sent upsert ${sent('upsert')} (${bytes('upsert')} B), patch ${sent('patch')} (${bytes('patch')} B), delete ${sent('delete')}; ` +
    `server-1's initial sync had sent ${initialUpserts} upserts (${initialBytes} B)`);
  assert.equal(metric(text, 'kedge_hub_session_resumes_total{by="revision"}'), 1, 'resumed by revision');
  assert.equal(metric(text, 'kedge_hub_session_resumes_total{by="inventory"}'), 0, 'no inventory diff');
  assert.equal(sent('upsert') + sent('patch'), 4, 'the three new services and the relabelled one, each once');
  assert.equal(sent('delete'), 1, 'the deleted service, once');
});
