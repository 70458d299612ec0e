/**
 * `kedge cloud --kubeconfig FILE`: the hub alone, attached to a Kubernetes API through a kubeconfig (here
 * the embedded server started without its own hub), with its own CA. An edge joins with a token whose
 * hash pins that CA, receives its pod, renews its certificate through the hub, and reconnects with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { createToken, edgeNames, eventually, joinEdge, run, startCluster, EDGE_FLAGS, type Cluster, type Edge } from './cluster.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import type { ManagedProcess } from '../harness/processes.js';
import { moduleRecorder, type ModuleRecorder } from '../harness/module-recorder.js';

let c: Cluster;
let cloud: ManagedProcess;
let e: Edge;
let cloudDir: string;
let modules: ModuleRecorder;

before(async () => {
  c = await startCluster('edge-cloud', { hub: false });
  cloudDir = c.h.tempDir('cloud');
  c.hubPort = await c.h.freePort();
  modules = moduleRecorder(c.h.tempDir('modules'));
  cloud = await c.h.startKedge(
    'cloud',
    ['cloud', '--kubeconfig', c.kubeconfig, '--data-dir', cloudDir, '--bind-address', '127.0.0.1', '--port', String(c.hubPort), '--keepalive', '1000', '--node-cert-validity', '2m'],
    { ready: { logLine: /cloud hub listening/, timeoutMs: 60_000 }, env: { KEDGE_LOG_LEVEL: 'info', ...modules.env } },
  );
  const token = await createToken(c, '1h', ['--ca-cert', path.join(cloudDir, 'pki', 'ca.crt')]);
  e = await joinEdge(c, 'edge-c', token);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

test('an edge joined to `kedge cloud` gets its pod', async () => {
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pc', namespace: 'default' }, spec: { nodeName: 'edge-c', containers: [{ name: 'm', image: 'busybox' }] } }));
  await eventually('pod on edge-c', async () => (await edgeNames(e, '/api/v1/namespaces/default/pods')).includes('pc'));
  assert.ok('node-role.kubernetes.io/edge' in ((JSON.parse(await c.kubectl(['get', 'node', 'edge-c', '-o', 'json'])) as { metadata: { labels: Record<string, string> } }).metadata.labels));
});

test('the node certificate is renewed through the hub and the renewed one is used to reconnect', async () => {
  const serial = () => new X509Certificate(readFileSync(path.join(e.dataDir, 'pki', 'node.crt'))).serialNumber;
  const first = serial();
  // A 2-minute certificate (backdated 5 minutes for clock skew) is past 80% of its life at once.
  await e.proc.waitForLog(/node certificate rotated/, 60_000);
  assert.notEqual(serial(), first);
  const cert = new X509Certificate(readFileSync(path.join(e.dataDir, 'pki', 'node.crt')));
  assert.match(cert.subject, /CN=system:node:edge-c/);
  // Force a reconnect: the session must come back with the renewed certificate and keep syncing.
  const connects = (e.proc.currentOutput.match(/connected to hub/g) ?? []).length;
  e.link.reset();
  await eventually('reconnected', async () => (e.proc.currentOutput.match(/connected to hub/g) ?? []).length > connects);
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pc2', namespace: 'default' }, spec: { nodeName: 'edge-c', containers: [{ name: 'm', image: 'busybox' }] } }));
  await eventually('pc2 on edge-c', async () => (await edgeNames(e, '/api/v1/namespaces/default/pods')).includes('pc2'));
  assert.ok(cloud.running);
});

test('`kedge cloud` ran join, renewal, pod delivery and its controller without loading @kubernetes/client-node (issue 19)', async () => {
  // Its import alone costs ~105 MiB RSS; types are imported as types only (test/architecture.test.ts checks the source).
  await cloud.waitForLog(/controllers started/, 60_000);
  const loaded = modules.loaded();
  for (const f of ['/dist/cloudhub/hub.js', '/dist/cloudhub/join.js', '/dist/controllers/nodes/podbinding.js', '/dist/common/kube-client.js']) {
    assert.ok(loaded.some((u) => u.endsWith(f)), `the recorder did not see ${f} load`);
  }
  assert.deepEqual(loaded.filter((u) => u.includes('/node_modules/@kubernetes/client-node/')), []);
});

test('a Node KubeEdge already manages (edge-labelled, not registered by Kedge) is not joined twice: refused with the way to migrate (issue 19)', async () => {
  // As cloudcore registers its nodes: the edge role label and a "-kubeedge-" kubelet version.
  await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'kubeedge-1', labels: { 'node-role.kubernetes.io/edge': '', 'node-role.kubernetes.io/agent': '' } } }));
  const node = JSON.parse(await c.kubectl(['get', 'node', 'kubeedge-1', '-o', 'json'])) as { status?: Record<string, unknown>; metadata: { resourceVersion: string } };
  await c.kubectl(['replace', '--subresource', 'status', '-f', '-'], JSON.stringify({ ...node, apiVersion: 'v1', kind: 'Node', status: { ...node.status, nodeInfo: { kubeletVersion: 'v1.26.10-kubeedge-v1.15.0', machineID: '', systemUUID: '', bootID: '', kernelVersion: '', osImage: '', containerRuntimeVersion: '', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' } } }));
  const tok = await createToken(c, '1h', ['--ca-cert', path.join(cloudDir, 'pki', 'ca.crt')]);
  const cmd = kedgeCommand([
    'edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--token', tok.token, '--ca-cert-hash', tok.hash,
    '--node-name', 'kubeedge-1', '--data-dir', c.h.tempDir('kubeedge-1'), '--local-api-port', String(await c.h.freePort()), ...EDGE_FLAGS,
  ]);
  const err = await run(cmd.command, cmd.args).then(() => assert.fail('the join succeeded'), (e: Error) => e.message);
  assert.match(err, /HTTP 409/);
  assert.match(err, /node "kubeedge-1" is managed by KubeEdge \(kubeletVersion v1\.26\.10-kubeedge-v1\.15\.0\)/);
  assert.match(err, /keadm reset/);
  // Nothing of Kedge's was put on it: no identity, and KubeEdge's status stands.
  const after = JSON.parse(await c.kubectl(['get', 'node', 'kubeedge-1', '-o', 'json'])) as { metadata: { annotations?: Record<string, string> }; status?: { nodeInfo?: { kubeletVersion?: string } } };
  assert.equal(after.metadata.annotations?.['kedge.io/identity-generation'], undefined);
  assert.equal(after.status?.nodeInfo?.kubeletVersion, 'v1.26.10-kubeedge-v1.15.0');
});

test('`kedge cloud` made its CA, serving and node certificates in its X.509 worker: the library never loaded in the hub process, and the worker ends when idle (issue 19)', async () => {
  const x509 = (urls: string[]) => urls.filter((u) => u.includes('/node_modules/@peculiar/x509/'));
  // The recorder saw the worker load it (so its absence from the hub's own list means something).
  assert.notDeepEqual(x509(modules.loaded()), [], 'the X.509 worker loaded @peculiar/x509');
  assert.ok(modules.loadedBy(cloud.pid).some((u) => u.endsWith('/dist/cloudhub/hub.js')), 'the hub process is recorded');
  assert.deepEqual(x509(modules.loadedBy(cloud.pid)), []);
  // Idle (join and renewal long done): no child process is left.
  const children = () => readFileSync(`/proc/${cloud.pid}/task/${cloud.pid}/children`, 'utf8').trim();
  await eventually('the X.509 worker ended', async () => children() === '', 30_000);
});

test('the hub and the controllers in `kedge cloud` share one informer per resource: one watch of pods and of nodes (issue 19)', async () => {
  // The API server's open watches per resource, with and without this `kedge cloud` (its other clients stay).
  const watchers = async (): Promise<Record<string, number>> => {
    const text = await c.kubectl(['get', '--raw', '/metrics']);
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^apiserver_registered_watchers\{resource="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  const log = await cloud.waitForLog(/"sharedInformers":\[[^\]]*\]/, 60_000);
  const withCloud = await watchers();
  await cloud.stop();
  let without: Record<string, number> = {};
  await eventually('kedge cloud\'s watches closed', async () => {
    without = await watchers();
    return (without.pods ?? 0) < (withCloud.pods ?? 0) && (without.nodes ?? 0) < (withCloud.nodes ?? 0);
  });
  // Let any straggler close before counting: the difference is what kedge cloud held.
  await new Promise((r) => setTimeout(r, 1000));
  without = await watchers();
  assert.equal((withCloud.pods ?? 0) - (without.pods ?? 0), 1, `pods watches: ${withCloud.pods} with kedge cloud, ${without.pods} without`);
  assert.equal((withCloud.nodes ?? 0) - (without.nodes ?? 0), 1, `nodes watches: ${withCloud.nodes} with kedge cloud, ${without.nodes} without`);
  assert.match(log[0], /"pods"/);
  assert.match(log[0], /"nodes"/);
});
