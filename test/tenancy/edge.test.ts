import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { createToken, eventually, joinEdge, localGet, run, startCluster, type Cluster, type Edge } from '../edge/cluster.js';

/**
 * Tenancy at the edge (docs/design/tenancy.md): a node joined with a tenant's token (`kedge token create --tenant`)
 * is that tenant's, and the hub sends it nothing of another tenant: the services and endpoint slices it receives
 * are its tenant's and the shared ones only. The real `kedge server` with its hub, a real `kedge edge join`
 * (--runtime none) through the fault proxy, its local API read back.
 */

let c: Cluster;
let edge: Edge;
const TENANT_LABEL = 'tenancy.kedge.io/tenant';

const service = (name: string, namespace: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80 }] } });

before(async () => {
  c = await startCluster('tenancy-edge');
  for (const t of ['a', 'b']) {
    await c.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'tenancy.kedge.io/v1alpha1', kind: 'Tenant', metadata: { name: t }, spec: { namespaces: [`${t}1`] } }));
    await c.kubectl(['create', 'namespace', `${t}1`]);
    await c.kubectl(['create', '-f', '-'], JSON.stringify(service(`svc-${t}`, `${t}1`)));
  }
  await c.kubectl(['create', '-f', '-'], JSON.stringify(service('svc-shared', 'default')));
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

test('a node joined with a tenant\'s token is the tenant\'s; the hub sends it no service of another tenant', async () => {
  edge = await joinEdge(c, 'edge-a', await createToken(c, '1h', ['--tenant', 'a']));
  const labels = JSON.parse(await c.kubectl(['get', 'node', 'edge-a', '-o', 'jsonpath={.metadata.labels}'])) as Record<string, string>;
  assert.equal(labels[TENANT_LABEL], 'a');
  const services = async () => (await localGet<{ items: { metadata: { name: string; namespace: string } }[] }>(edge, '/api/v1/services')).body.items.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort();
  await eventually('the edge holds its tenant\'s and the shared services', async () => {
    const s = await services();
    return (s.includes('a1/svc-a') && s.includes('default/svc-shared')) || s.join();
  });
  // Changes after the first sync are filtered the same way.
  await c.kubectl(['create', '-f', '-'], JSON.stringify(service('svc-b2', 'b1')));
  await c.kubectl(['create', '-f', '-'], JSON.stringify(service('svc-a2', 'a1')));
  await eventually('the new service of its tenant arrives', async () => (await services()).includes('a1/svc-a2') || (await services()).join());
  const held = await services();
  assert.ok(!held.some((s) => s.startsWith('b1/')), `another tenant's services reached the edge: ${held.join()}`);
  // The node cannot move itself to another tenant: it may not touch the label (NodeRestriction, through the hub too).
  const nodeLabels = await c.kubectl(['get', 'node', 'edge-a', '-o', 'jsonpath={.metadata.labels.tenancy\\.kedge\\.io/tenant}']);
  assert.equal(nodeLabels, 'a');
});

test('a token made for a Tenant that does not exist cannot join', async () => {
  const token = await createToken(c, '1h', ['--tenant', 'nobody']);
  const cmd = kedgeCommand(['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--token', token.token, '--ca-cert-hash', token.hash,
    '--node-name', 'edge-x', '--data-dir', c.h.tempDir('edge-x'), '--runtime', 'none']);
  await assert.rejects(run(cmd.command, cmd.args), /tenant "nobody" not found/);
});
