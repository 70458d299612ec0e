/**
 * K3s's batteries on a real `kedge server`, with the stock kubectl: auto-deploying manifests (applied on start and on
 * change, bad files reported on their Addon, `.skip`, removal keeps objects), `--disable` (metrics-server, servicelb,
 * unknown names refused) and ServiceLB's status.loadBalancer.ingress (node addresses, pools, loadBalancerClass,
 * port conflicts Pending with an event).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { eventually, run, startCluster, type Cluster } from '../edge/cluster.js';
import { FakeNode } from '../helpers/fake-nodes.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';

const manifests = (dataDir: string) => path.join(dataDir, 'server', 'manifests');

const configMap = (name: string, value: string) => `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
  namespace: batteries
data:
  value: "${value}"
`;

describe('batteries: auto-deploying manifests, --disable, ServiceLB', { timeout: 300_000 }, () => {
  let c: Cluster;
  const nodes: FakeNode[] = [];

  before(async () => {
    c = await startCluster('batteries', {
      hub: false,
      serverArgs: ['--disable', 'metrics-server'],
      seed: (dataDir) => {
        const dir = manifests(dataDir);
        mkdirSync(path.join(dir, 'apps'), { recursive: true });
        writeFileSync(path.join(dir, 'base.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: batteries\n---\n${configMap('from-base', 'one')}`);
        writeFileSync(path.join(dir, 'apps', 'app.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-json', namespace: 'batteries' }, data: { value: 'json' } }))] }));
        writeFileSync(path.join(dir, 'broken.yaml'), 'kind: [\n');
        writeFileSync(path.join(dir, 'noname.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: batteries\n');
        writeFileSync(path.join(dir, 'skipped.yaml'), configMap('from-skipped', 'x'));
        writeFileSync(path.join(dir, 'skipped.yaml.skip'), '');
        writeFileSync(path.join(dir, 'notes.txt'), configMap('from-txt', 'x'));
      },
    });
  });

  after(async () => {
    for (const n of nodes) await n.dispose().catch(() => undefined);
    await c?.h.cleanup();
  });

  const addonApplied = async (name: string) => (await c.kubectl(['get', 'addon', '-n', 'kube-system', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Applied")].status}']).catch(() => '')).trim();

  it('applies every manifest on start with server-side apply as kedge-deploy; bad files are reported and do not stop the others', async () => {
    await eventually('base and app applied', async () => (await addonApplied('base')) === 'True' && (await addonApplied('app')) === 'True', 60_000);
    const managers = await c.kubectl(['get', 'configmap', '-n', 'batteries', 'from-base', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager} {.metadata.managedFields[*].operation}']);
    assert.equal(managers.trim(), 'kedge-deploy Apply');
    assert.equal((await c.kubectl(['get', 'configmap', '-n', 'batteries', 'from-json', '-o', 'jsonpath={.data.value}'])).trim(), 'json');
    // The bad files: Applied=False with the reason, a Warning event on the Addon, nothing else applied from them.
    await eventually('bad files reported', async () => (await addonApplied('broken')) === 'False' && (await addonApplied('noname')) === 'False', 30_000);
    const described = await c.kubectl(['describe', 'addon', '-n', 'kube-system', 'broken']);
    assert.match(described, /ApplyManifestFailed/);
    assert.match(described, /cannot parse .*broken\.yaml: YAML/);
    assert.match(await c.kubectl(['get', 'addon', '-n', 'kube-system', 'noname', '-o', 'jsonpath={.status.conditions[0].message}']), /metadata\.name is required/);
    // .skip and other extensions are not applied.
    const cms = await c.kubectl(['get', 'configmaps', '-n', 'batteries', '-o', 'name']);
    assert.doesNotMatch(cms, /from-skipped|from-txt/);
    assert.match(await c.kubectl(['get', 'events', '-n', 'kube-system', '--field-selector', 'involvedObject.kind=Addon,involvedObject.name=base']), /AppliedManifest/);
  });

  it('re-applies a file when it changes, applies new files, and leaves objects of a removed file (as K3s)', async () => {
    const dir = manifests(c.dataDir);
    writeFileSync(path.join(dir, 'base.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: batteries\n---\n${configMap('from-base', 'two')}`);
    writeFileSync(path.join(dir, 'later.yml'), configMap('from-later', 'new'));
    const value = async (name: string) => (await c.kubectl(['get', 'configmap', '-n', 'batteries', name, '-o', 'jsonpath={.data.value}']).catch(() => '')).trim();
    await eventually('changes applied', async () => (await value('from-base')) === 'two' && (await value('from-later')) === 'new', 30_000);
    // A fixed file is applied once it is fixed.
    writeFileSync(path.join(dir, 'broken.yaml'), configMap('from-fixed', 'ok'));
    await eventually('fixed file applied', async () => (await value('from-fixed')) === 'ok' && (await addonApplied('broken')) === 'True', 30_000);
    rmSync(path.join(dir, 'later.yml'));
    rmSync(path.join(dir, 'skipped.yaml.skip'));
    await eventually('un-skipped file applied', async () => (await value('from-skipped')) === 'x', 30_000);
    assert.equal(await value('from-later'), 'new', 'objects of a removed file stay');
  });

  it('--disable metrics-server: no metrics.k8s.io; an unknown name is refused with the valid ones', async () => {
    const apis = await c.kubectl(['api-versions']);
    assert.doesNotMatch(apis, /metrics\.k8s\.io/);
    const cmd = kedgeCommand(['server', '--data-dir', c.h.tempDir('refused'), '--disable', 'servicelb,traefik']);
    const err = await run(cmd.command, cmd.args).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'kedge server --disable traefik must fail');
    assert.match(err.message, /unknown component "traefik": valid names are servicelb, local-storage, metrics-server/);
  });

  it('ServiceLB: a LoadBalancer Service gets the addresses of its nodes; pools, classes and port conflicts as K3s', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    for (const [name, pool] of [['lb-a', 'east'], ['lb-b', 'west']] as const) {
      const n = new FakeNode(kc, name, { labels: { 'apps.openyurt.io/nodepool': pool }, autoRun: false, kubelet: false });
      await n.start();
      nodes.push(n);
    }
    const address = async (node: string) => (await c.kubectl(['get', 'node', node, '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).trim();
    const [a, b] = [await address('lb-a'), await address('lb-b')];
    const svc = (name: string, port: number, extra: { pool?: string; cls?: string } = {}) => JSON.stringify({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'batteries', ...(extra.pool ? { labels: { 'apps.openyurt.io/nodepool': extra.pool } } : {}) },
      spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port, targetPort: 8080 }], ...(extra.cls ? { loadBalancerClass: extra.cls } : {}) },
    });
    const ingress = async (name: string) => (await c.kubectl(['get', 'service', '-n', 'batteries', name, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim();
    await c.kubectl(['apply', '-f', '-'], svc('web', 80));
    await eventually('web on both nodes', async () => (await ingress('web')) === [a, b].sort().join(' '), 30_000);
    assert.match(await c.kubectl(['get', 'service', '-n', 'batteries', 'web']), new RegExp(`web\\s+LoadBalancer\\s+\\S+\\s+${[a, b].sort().join(',').replace(/\./g, '\\.')}\\s+80:`));
    // A Service in a pool gets that pool's nodes only; one of another class is left to its implementation.
    await c.kubectl(['apply', '-f', '-'], svc('east-only', 8443, { pool: 'east' }));
    await c.kubectl(['apply', '-f', '-'], svc('other-class', 9000, { cls: 'example.com/metallb' }));
    await eventually('east-only on lb-a', async () => (await ingress('east-only')) === a, 30_000);
    assert.equal(await ingress('other-class'), '');
    // externalTrafficPolicy Local: only nodes running a ready endpoint are advertised (K3s); here there is none.
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ ...JSON.parse(svc('local-only', 9100)), spec: { ...JSON.parse(svc('local-only', 9100)).spec, externalTrafficPolicy: 'Local' } }));
    await eventually('local-only Pending for want of endpoints', async () => /no serving node runs a ready endpoint/.test(await c.kubectl(['describe', 'service', '-n', 'batteries', 'local-only'])), 30_000);
    assert.equal(await ingress('local-only'), '');
    // Port 80 is web's on both nodes: a later Service on 80 is Pending with a Warning event naming the holder.
    await c.kubectl(['apply', '-f', '-'], svc('web-too', 80));
    await eventually('Pending event', async () => /SyncLoadBalancerFailed.*80\/TCP by batteries\/web/s.test(await c.kubectl(['describe', 'service', '-n', 'batteries', 'web-too'])), 30_000);
    assert.equal(await ingress('web-too'), '');
    assert.match(await c.kubectl(['get', 'service', '-n', 'batteries', 'web-too']), /<pending>/);
    // Once web is gone, the port is free: web-too gets both nodes.
    await c.kubectl(['delete', 'service', '-n', 'batteries', 'web']);
    await eventually('web-too placed', async () => (await ingress('web-too')) === [a, b].sort().join(' '), 30_000);
  });
});

