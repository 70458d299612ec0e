/**
 * Services at the edge (issue 14), on one site for the whole suite (one server start, two containerds): two edge
 * nodes, each in its own network namespace with its own containerd, in NodePool `site-a`, and a third (`--runtime
 * none`) in `site-b`, joined to a real `kedge server`. The site-a nodes run the node DNS (`--cluster-dns`) and probe
 * each other (`--peer-health-port`). A busybox `httpd` Deployment spreads over both site-a nodes; a client pod reaches
 * its Service by ClusterIP and by DNS name and hits pods on both nodes (the agent's nftables rules, host-gw routes
 * between the pool's nodes, the node DNS through the pod's resolv.conf); the same after the cloud link is cut and both
 * agents restart offline; `openyurt.io/topologyKeys` keeps traffic on the node / in the pool; site-b's node is not sent
 * site-a's endpoints; the pool's peer vote keeps a cloud-cut node's pods in the endpoints until its peers lose it too.
 *
 * busybox-static's wget does not resolve names (static glibc without NSS: it crashes on a name), so "by DNS name" is
 * busybox `nslookup NAME` through the pod's resolv.conf nameserver, then wget of the address it printed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createToken, run } from '../edge/cluster.js';
import { kedgeCommand } from '../helpers/kedge-cli.js';
import { busybox, eventually, execInPod, localGet, podsBySelector, restartEdge, siteSkipReason, startSite, waitReadyPods, type PodInfo, type Site, type SiteNode } from './cluster.js';

const skip = siteSkipReason();
const DNS_IP = '169.254.20.10';
// Node DNS on the link-local address pods get in resolv.conf; pool peers probe each other every second.
const SITE_A_FLAGS = ['--cluster-dns', DNS_IP, '--peer-health-port', '10267', '--peer-probe-period', '1000'];
if (skip) console.log(`# skipping services proxy suite: ${skip}`);

describe('edge services across a pool: proxy, node DNS, peer vote', { skip, timeout: 900_000 }, () => {
  let site: Site;
  let web: PodInfo[] = [];
  let client: { node: SiteNode; containerId: string };
  let clusterIP = '';

  /** GET through the client pod; '' on failure (refused, timeout). */
  const fetchFrom = async (url: string): Promise<string> => {
    const r = await execInPod(client.node, client.containerId, ['timeout', '5', 'wget', '-q', '-O', '-', url]).catch((err: unknown) => ({ stdout: '', exitCode: -1, stderr: String(err) }));
    return r.exitCode === 0 ? r.stdout.trim() : '';
  };
  /** GET http://NAME/ through the client pod, resolving NAME with the pod's resolv.conf nameserver (the node DNS). */
  const fetchByName = async (name: string): Promise<string> => {
    const script = `ip=$(nslookup ${name} | sed -n 's/^Address:[[:space:]]*\\([0-9.]*\\)$/\\1/p' | tail -n 1); [ -n "$ip" ] && timeout 5 wget -q -O - "http://$ip/"`;
    const r = await execInPod(client.node, client.containerId, ['sh', '-c', script]).catch((err: unknown) => ({ stdout: '', exitCode: -1, stderr: String(err) }));
    return r.exitCode === 0 ? r.stdout.trim() : '';
  };
  /** Which pods (by hostname) answer `target` (a URL, or a fetch): asks until every one of `want` answered, or fails with what did. */
  const answeredBy = async (target: string | (() => Promise<string>), want: string[], timeoutMs = 90_000): Promise<Set<string>> => {
    const seen = new Set<string>();
    const get = typeof target === 'string' ? () => fetchFrom(target) : target;
    await eventually(`${typeof target === 'string' ? target : 'by name'} answered by ${want.join(', ')}`, async () => {
      for (let i = 0; i < 8; i++) {
        const body = await get();
        if (body) seen.add(body);
      }
      return want.every((w) => seen.has(w)) || `answered by [${[...seen].join(', ')}]`;
    }, timeoutMs, 500);
    return seen;
  };
  const byName = () => fetchByName('web.default.svc.cluster.local');
  /** The addresses busybox nslookup printed for `name` through the pod's resolv.conf (the node DNS), or its complaint. */
  const lookup = async (name: string): Promise<string> => {
    const r = await execInPod(client.node, client.containerId, ['nslookup', name]);
    return `${r.stdout}${r.stderr}`;
  };

  before(async () => {
    site = await startSite('svc-proxy', [
      { name: 'edge-a1', pool: 'site-a', flags: SITE_A_FLAGS },
      { name: 'edge-a2', pool: 'site-a', flags: SITE_A_FLAGS },
      { name: 'edge-b1', pool: 'site-b', cri: false },
    ], { serverArgs: ['--node-monitor-grace-period', '8'] });
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

  it('by DNS name: the client pod resolves through its node DNS (the kubelet\'s resolv.conf) and reaches pods on both nodes', async () => {
    const resolv = (await execInPod(client.node, client.containerId, ['cat', '/etc/resolv.conf'])).stdout;
    assert.match(resolv, new RegExp(`^nameserver ${DNS_IP.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
    assert.match(resolv, /^options ndots:5$/m);
    // A headless Service with a hostname.subdomain pod on the other node: per-pod records come from the node's store.
    await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ name: 'http', port: 8080 }] } });
    await site.apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'default', labels: { app: 'db' } },
      spec: { nodeName: 'edge-a2', hostname: 'db-0', subdomain: 'db', terminationGracePeriodSeconds: 1, containers: [busybox(site, 'db', 'exec httpd -f -p 8080')] },
    });
    const [db] = await waitReadyPods(site, 'app=db', 1);
    const esc = (ip: string) => ip.replace(/\./g, '\\.');
    assert.match(await lookup('web.default.svc.cluster.local'), new RegExp(`Address:\\s*${esc(clusterIP)}\\s*$`, 'm'));
    await eventually('headless and hostname.subdomain records', async () => {
      const [hl, host] = [await lookup('db.default.svc.cluster.local'), await lookup('db-0.db.default.svc.cluster.local')];
      return (new RegExp(`Address:\\s*${esc(db!.status!.podIP!)}`).test(hl) && new RegExp(`Address:\\s*${esc(db!.status!.podIP!)}`).test(host)) || `${hl}\n${host}`;
    }, 30_000, 500);
    assert.match(await lookup('nope.default.svc.cluster.local'), /NXDOMAIN|can't find/);
    await answeredBy(byName, web.map((p) => p.metadata.name));
  });

  it('NodePort: the Service answers on a node\'s own address, from pods on both nodes', async () => {
    const nodePort = (await site.kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).trim();
    await answeredBy(`http://${site.node('edge-a2').lab.address}:${nodePort}/`, web.map((p) => p.metadata.name));
  });

  it('ServiceLB: a LoadBalancer Service of the pool gets its nodes\' addresses, and answers on them at the Service port', async () => {
    await site.apply({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'web-lb', namespace: 'default', labels: { 'apps.openyurt.io/nodepool': 'site-a' } },
      spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 8088, targetPort: 8080 }] },
    });
    const a = site.nodes.filter((n) => n.pool === 'site-a').map((n) => n.lab.address).sort();
    await eventually('web-lb ingress = site-a node addresses', async () => {
      const ips = (await site.kubectl(['get', 'svc', 'web-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim();
      return ips === a.join(' ') || `ingress: ${ips}`;
    }, 60_000, 500);
    await answeredBy(`http://${site.node('edge-a2').lab.address}:8088/`, web.map((p) => p.metadata.name));
    await site.kubectl(['delete', 'svc', 'web-lb']);
  });

  it('with the cloud cut and both agents restarted offline, the Service still reaches both nodes, by ClusterIP and by name', async () => {
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
      await answeredBy(byName, web.map((p) => p.metadata.name));
    } finally {
      for (const n of a) site.lab.healCloud(n.lab);
    }
    // Back online: both nodes Ready and their pods Ready again before the next test looks at endpoints.
    await waitReadyPods(site, 'app=web', 2);
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
    // The scoped slice replaces the shared one on a1 (a delete and an add on the node): wait for it, not a snapshot.
    await eventually('a1 keeps its pool\'s endpoints', async () => JSON.stringify(await webEndpointsOn(a1)) === JSON.stringify(['edge-a1', 'edge-a2']) || JSON.stringify(await webEndpointsOn(a1)));
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

  interface NodeView { metadata: { annotations?: Record<string, string> }; spec?: { taints?: Array<{ key: string; effect: string }> }; status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }
  const nodeView = async (name: string) => JSON.parse(await site.kubectl(['get', 'node', name, '-o', 'json'])) as NodeView;
  const condition = (n: NodeView, type: string) => n.status?.conditions?.find((c) => c.type === type);
  /** Ready of the web pod on `node` and of its endpoint in the cloud's EndpointSlice. */
  const webOn = async (node: string) => {
    const pod = (await podsBySelector(site, 'app=web')).find((p) => p.spec.nodeName === node);
    const slices = JSON.parse(await site.kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])) as { items: Array<{ endpoints?: Array<{ nodeName?: string; conditions?: { ready?: boolean } }> }> };
    const ep = slices.items.flatMap((x) => x.endpoints ?? []).find((e) => e.nodeName === node);
    return { pod, podReady: pod?.status?.conditions?.find((c) => c.type === 'Ready'), endpointReady: ep?.conditions?.ready };
  };

  it('peer vote: a node cut from the cloud that its pool still reaches keeps its pods in the endpoints; cut from its peers too, it is treated as unreachable; healed, it is back', async () => {
    const [a1, a2] = [site.node('edge-a1'), site.node('edge-a2')];
    await eventually('edge-a2 reports edge-a1 reachable (kedge.io/peer-health)', async () => {
      const v = (await nodeView('edge-a2')).metadata.annotations?.['kedge.io/peer-health'];
      return (!!v && (JSON.parse(v) as Record<string, { reachable: boolean }>)['edge-a1']?.reachable === true) || String(v);
    }, 60_000, 500);
    // A pod on edge-a2 asks the Service: the pool's data plane, independent of the cloud.
    const a2Web = web.find((p) => p.spec.nodeName === 'edge-a2')!;
    const a2Container = (await podsBySelector(site, 'app=web')).find((p) => p.metadata.name === a2Web.metadata.name)!.status!.containerStatuses![0]!.containerID!;
    const fromA2 = async () => {
      const r = await execInPod(a2, a2Container, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${clusterIP}/`]).catch(() => ({ stdout: '', exitCode: -1 }));
      return r.exitCode === 0 ? r.stdout.trim() : '';
    };
    const a1Pod = web.find((p) => p.spec.nodeName === 'edge-a1')!.metadata.name;

    site.lab.cutCloud(a1.lab);
    await eventually('edge-a1 Ready=Unknown and PeerReachable=True', async () => {
      const n = await nodeView('edge-a1');
      const [ready, peer] = [condition(n, 'Ready'), condition(n, 'PeerReachable')];
      return (ready?.status === 'Unknown' && peer?.status === 'True') || JSON.stringify([ready, peer]);
    }, 90_000, 1000);
    const held = await nodeView('edge-a1');
    assert.equal(condition(held, 'PeerReachable')?.reason, 'PoolMajorityReachesNode');
    assert.match(condition(held, 'PeerReachable')?.message ?? '', /1 of 1 Ready peers in pool site-a reach this node \(edge-a2\)/);
    assert.ok(!(held.spec?.taints ?? []).some((t) => t.effect === 'NoExecute'), 'no NoExecute taint');
    await answeredBy(fromA2, web.map((p) => p.metadata.name));
    const kept = await webOn('edge-a1');
    assert.equal(kept.podReady?.status, 'True', `a1's pod stays Ready: ${JSON.stringify(kept.podReady)}`);
    assert.equal(kept.endpointReady, true, "a1's endpoint stays ready in the cloud's EndpointSlice");
    assert.ok((await webEndpointsOn(a2)).includes('edge-a1'), "edge-a2 still holds a1's endpoint");

    site.lab.cutLan(a1.lab);
    await eventually('PeerReachable=False once edge-a2 loses edge-a1', async () => {
      const c = condition(await nodeView('edge-a1'), 'PeerReachable');
      return (c?.status === 'False' && c.reason === 'PoolMajorityLostNode') || JSON.stringify(c);
    }, 90_000, 1000);
    await eventually("a1's pod not Ready and its endpoint not ready, as upstream for an unreachable node", async () => {
      const w = await webOn('edge-a1');
      return (w.podReady?.status === 'False' && w.podReady.reason === 'NodeUnreachable' && w.endpointReady === false) || JSON.stringify(w);
    }, 60_000, 1000);
    assert.ok((await webOn('edge-a1')).pod, 'an edge node\'s pod is kept bound (edge autonomy), not evicted');
    await eventually('the Service on edge-a2 answers from its own pod only', async () => {
      const bodies = new Set<string>();
      for (let i = 0; i < 6; i++) bodies.add(await fromA2());
      return (bodies.size === 1 && !bodies.has(a1Pod) && !bodies.has('')) || JSON.stringify([...bodies]);
    }, 60_000, 1000);

    // Back on its LAN and online: the agent's own status replaces the vote's condition, its pod is Ready again, and
    // the pool's routes to it (dropped by the kernel with the link) come back with the proxy's periodic resync.
    site.lab.healLan(a1.lab);
    site.lab.healCloud(a1.lab);
    await eventually('edge-a1 Ready=True, PeerReachable gone, its pod and endpoint ready', async () => {
      const n = await nodeView('edge-a1');
      const w = await webOn('edge-a1');
      return (condition(n, 'Ready')?.status === 'True' && !condition(n, 'PeerReachable') && w.podReady?.status === 'True' && w.endpointReady === true) || JSON.stringify([condition(n, 'Ready'), condition(n, 'PeerReachable'), w.podReady, w.endpointReady]);
    }, 90_000, 1000);
    await answeredBy(fromA2, web.map((p) => p.metadata.name));
  });
});
