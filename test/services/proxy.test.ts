/**
 * Services at the edge (issue 14), packet path: two edge nodes, each in its own network namespace with its own
 * containerd, in NodePool `site-a`, and a third (`--runtime none`) in `site-b`, joined to a real `kedge server`. A busybox
 * `httpd` Deployment spreads over both site-a nodes; a client pod reaches its Service by ClusterIP and hits pods on
 * both nodes (the agent's nftables rules, host-gw routes between the pool's nodes); the same after the cloud link is
 * cut and both agents restart offline; `openyurt.io/topologyKeys` keeps traffic on the node / in the pool; site-b's
 * node is not sent site-a's endpoints.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { busybox, eventually, localGet, siteSkipReason, startSite, waitReadyPods, type PodInfo, type Site } from './cluster.js';

const skip = siteSkipReason();
if (skip) console.log(`# skipping services proxy suite: ${skip}`);

describe('edge service proxy across a pool', { skip, timeout: 900_000 }, () => {
  let site: Site;
  let web: PodInfo[] = [];

  before(async () => {
    site = await startSite('svc-proxy', [
      { name: 'edge-a1', pool: 'site-a' },
      { name: 'edge-a2', pool: 'site-a' },
      { name: 'edge-b1', pool: 'site-b', cri: false },
    ]);
  });

  after(async () => {
    await site?.stop();
  });

  it('nodes register with their pod CIDRs and LAN addresses, and an httpd Deployment spreads over both', async () => {
    const nodes = JSON.parse(await site.kubectl(['get', 'nodes', '-o', 'json'])) as { items: Array<{ metadata: { name: string }; spec?: { podCIDR?: string }; status?: { addresses?: Array<{ type: string; address: string }> } }> };
    for (const n of site.nodes) {
      const node = nodes.items.find((x) => x.metadata.name === n.name);
      assert.equal(node?.spec?.podCIDR, n.podCidr, `${n.name} podCIDR`);
      await eventually(`${n.name} reports its LAN address`, async () => {
        const cur = JSON.parse(await site.kubectl(['get', 'node', n.name, '-o', 'json'])) as { status?: { addresses?: Array<{ type: string; address: string }> } };
        return cur.status?.addresses?.some((a) => a.type === 'InternalIP' && a.address === n.lab.address) || JSON.stringify(cur.status?.addresses);
      });
    }
    await site.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { 'apps.openyurt.io/nodepool': 'site-a' },
            // one per node: the suite needs endpoints on both
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'web' } }, topologyKey: 'kubernetes.io/hostname' }] } },
            terminationGracePeriodSeconds: 2,
            containers: [busybox(site, 'httpd', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www', {
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            })],
          },
        },
      },
    });
    web = await waitReadyPods(site, 'app=web', 2);
    assert.deepEqual(web.map((p) => p.spec.nodeName).sort(), ['edge-a1', 'edge-a2']);
    for (const p of web) {
      const n = site.node(p.spec.nodeName!);
      assert.ok(p.status?.podIP?.startsWith(n.podCidr.replace(/0\/24$/, '')), `${p.metadata.name} IP ${p.status?.podIP} in ${n.podCidr}`);
    }
    const slices = await localGet<{ items: unknown[] }>(site.node('edge-a1'), '/apis/discovery.k8s.io/v1/endpointslices');
    assert.equal(slices.status, 200);
  });
});
