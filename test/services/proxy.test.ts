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
import { createToken, run } from '../edge/cluster.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { busybox, eventually, execInPod, localGet, restartEdge, siteSkipReason, startSite, waitReadyPods, type PodInfo, type Site, type SiteNode } from './cluster.js';

const skip = siteSkipReason();
if (skip) console.log(`# skipping services proxy suite: ${skip}`);

describe('edge service proxy across a pool', { skip, timeout: 900_000 }, () => {
  let site: Site;
  let web: PodInfo[] = [];
  let client: { node: SiteNode; containerId: string };
  let clusterIP = '';

  /** GET through the client pod; '' on failure (refused, timeout). */
  const fetchFrom = async (url: string): Promise<string> => {
    const r = await execInPod(client.node, client.containerId, ['timeout', '5', 'wget', '-q', '-O', '-', url]).catch((err: unknown) => ({ stdout: '', exitCode: -1, stderr: String(err) }));
    return r.exitCode === 0 ? r.stdout.trim() : '';
  };
  /** Which pods (by hostname) answer `url`: asks until every one of `want` answered, or fails with what did. */
  const answeredBy = async (url: string, want: string[], timeoutMs = 90_000): Promise<Set<string>> => {
    const seen = new Set<string>();
    await eventually(`${url} answered by ${want.join(', ')}`, async () => {
      for (let i = 0; i < 8; i++) {
        const body = await fetchFrom(url);
        if (body) seen.add(body);
      }
      return want.every((w) => seen.has(w)) || `answered by [${[...seen].join(', ')}]`;
    }, timeoutMs, 500);
    return seen;
  };

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
    // A join claiming a registered node's pod CIDR would draw the pool's traffic for its pods: refused.
    const token = await createToken(site.cluster);
    const k = kedgeCommand(['edge', 'join', '--server', site.hubUrl, '--token', token.token, '--ca-cert-hash', token.hash, '--node-name', 'edge-thief',
      '--pod-cidr', site.node('edge-a1').podCidr, '--data-dir', site.cluster.h.tempDir('thief'), '--runtime', 'none']);
    await assert.rejects(run(k.command, k.args), /overlaps 10\.244\.1\.0\/24 of node "edge-a1"/);
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

  it('a client pod reaches the Service by ClusterIP and hits the pods on both nodes', async () => {
    await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    clusterIP = (await site.kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    await site.apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'default', labels: { app: 'client' } },
      spec: { nodeName: 'edge-a1', terminationGracePeriodSeconds: 1, containers: [busybox(site, 'sh', 'exec sleep 3600')] },
    });
    const [c] = await waitReadyPods(site, 'app=client', 1);
    client = { node: site.node('edge-a1'), containerId: c!.status!.containerStatuses![0]!.containerID! };
    await answeredBy(`http://${clusterIP}/`, web.map((p) => p.metadata.name));
  });

  it('NodePort: the Service answers on a node\'s own address, from pods on both nodes', async () => {
    const nodePort = (await site.kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim();
    await answeredBy(`http://${site.node('edge-a2').lab.address}:${nodePort}/`, web.map((p) => p.metadata.name));
  });

  it('with the cloud cut and both agents restarted offline, the Service still reaches both nodes', async () => {
    const a = site.nodes.filter((n) => n.pool === 'site-a');
    for (const n of a) site.lab.cutCloud(n.lab);
    try {
      for (const n of a) {
        // What a restart must rebuild from the local store alone: the table and the routes are removed first.
        await n.proc.kill9();
        site.lab.exec(n.lab.netns, 'nft', ['delete', 'table', 'ip', 'kedge-proxy']);
        site.lab.exec(n.lab.netns, 'ip', ['route', 'flush', 'proto', '199']);
        await restartEdge(site, n, { ready: /service proxy synced/ });
      }
      assert.equal(await fetchFrom(`http://${site.lab.hostAddress}:${site.cluster.hubPort}/`), '', 'the cloud is unreachable from the pods\' nodes');
      await answeredBy(`http://${clusterIP}/`, web.map((p) => p.metadata.name));
    } finally {
      for (const n of a) site.lab.healCloud(n.lab);
    }
  });

  interface Slice { metadata: { labels?: Record<string, string> }; endpoints?: Array<{ addresses: string[]; nodeName?: string }> }
  /** The endpoints of Service web a node holds (its local API: what the hub sent it). */
  const webEndpointsOn = async (n: SiteNode): Promise<string[]> => {
    const r = await localGet<{ items: Slice[] }>(n, '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices');
    return r.body.items.filter((x) => x.metadata.labels?.['kubernetes.io/service-name'] === 'web').flatMap((x) => x.endpoints ?? []).map((e) => e.nodeName ?? '?').sort();
  };
  const annotate = (value: string | null) => site.kubectl(['annotate', 'svc', 'web', '--overwrite', value === null ? 'openyurt.io/topologyKeys-' : `openyurt.io/topologyKeys=${value}`]);

  it('openyurt.io/topologyKeys: the node of another pool is sent none of the pool\'s endpoints; kubernetes.io/hostname keeps traffic on the node', async () => {
    const [a1, a2, b1] = [site.node('edge-a1'), site.node('edge-a2'), site.node('edge-b1')];
    // Unfiltered first: every node holds both endpoints (what filtering saves).
    await eventually('b1 holds both web endpoints before filtering', async () => JSON.stringify(await webEndpointsOn(b1)) === JSON.stringify(['edge-a1', 'edge-a2']) || JSON.stringify(await webEndpointsOn(b1)));
    await annotate('openyurt.io/nodepool');
    await eventually('b1 (site-b) holds no web endpoint', async () => (await webEndpointsOn(b1)).length === 0 || JSON.stringify(await webEndpointsOn(b1)));
    assert.deepEqual(await webEndpointsOn(a1), ['edge-a1', 'edge-a2'], 'a1 keeps its pool\'s endpoints');
    await answeredBy(`http://${clusterIP}/`, web.map((p) => p.metadata.name));

    await annotate('kubernetes.io/hostname');
    await eventually('each site-a node holds only its own endpoint', async () => {
      const [x, y] = [await webEndpointsOn(a1), await webEndpointsOn(a2)];
      return (JSON.stringify(x) === '["edge-a1"]' && JSON.stringify(y) === '["edge-a2"]') || JSON.stringify([x, y]);
    });
    const local = web.find((p) => p.spec.nodeName === 'edge-a1')!.metadata.name;
    await eventually('the client on a1 is answered by a1\'s pod only', async () => {
      const bodies = new Set<string>();
      for (let i = 0; i < 10; i++) bodies.add(await fetchFrom(`http://${clusterIP}/`));
      return (bodies.size === 1 && bodies.has(local)) || JSON.stringify([...bodies]);
    }, 60_000, 1000);
    await annotate(null);
    await eventually('b1 holds both endpoints again once the annotation is gone', async () => JSON.stringify(await webEndpointsOn(b1)) === JSON.stringify(['edge-a1', 'edge-a2']) || JSON.stringify(await webEndpointsOn(b1)));
  });
});
