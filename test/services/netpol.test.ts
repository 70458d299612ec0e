/**
 * NetworkPolicy enforced at the edge (issue 17): one edge node in its network namespace with its own containerd (the
 * services site, test/services/cluster.ts), real busybox pods, a real `kedge server`; policies applied with kubectl,
 * enforced by the agent's nftables table from what the hub sends. Checked with real connections: pod to pod on the
 * node (by pod IP and through the Service's ClusterIP, after DNAT), and from outside the node (the host, through the
 * NodePort on the node's LAN address).
 *
 * A connection expected to pass is retried (a loaded machine may miss a timeout); one expected to be dropped is tried
 * once with a 3 s timeout (load never makes a dropped connection pass).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { busybox, eventually, execInPod, restartEdge, siteSkipReason, startSite, waitReadyPods, type PodInfo, type Site, type SiteNode } from './cluster.js';

const skip = siteSkipReason();
if (skip) console.log(`# skipping network policy suite: ${skip}`);

describe('NetworkPolicy enforced on an edge node', { skip, timeout: 600_000 }, () => {
  let site: Site;
  let node: SiteNode;
  let server: PodInfo;
  const clients = new Map<string, string>(); // role → container id
  let clusterIP = '';
  let nodePort = 0;

  const get = async (role: string, url: string): Promise<boolean> => {
    const r = await execInPod(node, clients.get(role)!, ['timeout', '3', 'wget', '-q', '-O', '-', url]).catch(() => ({ stdout: '', exitCode: -1 }));
    return r.exitCode === 0 && r.stdout.includes('np-ok');
  };
  const passes = (role: string, url: string) => eventually(`${role} reaches ${url}`, () => get(role, url), 60_000, 300);
  const dropped = async (role: string, url: string) => assert.equal(await get(role, url), false, `${role} must not reach ${url}`);
  /** From the host (outside the node): the NodePort on the node's LAN address. */
  const fromHost = (): Promise<boolean> => new Promise((resolve) => {
    const req = http.get({ host: node.lab.address, port: nodePort, path: '/', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body.includes('np-ok')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
  const policy = (name: string, spec: Record<string, unknown>) => site.apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'default' }, spec });
  const serverUrl = () => `http://${server.status!.podIP}:8080/`;

  before(async () => {
    site = await startSite('netpol', [{ name: 'edge-np1', pool: 'site-np' }]);
    node = site.node('edge-np1');
    await site.apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'np-server', namespace: 'default', labels: { app: 'np-server' } },
      spec: {
        nodeName: 'edge-np1', terminationGracePeriodSeconds: 1,
        containers: [busybox(site, 'httpd', 'mkdir -p /www && echo np-ok > /www/index.html && exec httpd -f -p 8080 -h /www', { ports: [{ name: 'http', containerPort: 8080 }] })],
      },
    });
    for (const role of ['ok', 'no']) {
      await site.apply({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `np-client-${role}`, namespace: 'default', labels: { app: 'np-client', role } },
        spec: { nodeName: 'edge-np1', terminationGracePeriodSeconds: 1, containers: [busybox(site, 'sh', 'exec sleep 3600')] },
      });
    }
    await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'np-server', namespace: 'default' }, spec: { type: 'NodePort', selector: { app: 'np-server' }, ports: [{ port: 80, targetPort: 8080 }] } });
    [server] = await waitReadyPods(site, 'app=np-server', 1);
    for (const c of await waitReadyPods(site, 'app=np-client', 2)) clients.set(c.metadata.labels!.role!, c.status!.containerStatuses![0]!.containerID!);
    const svc = JSON.parse(await site.kubectl(['get', 'svc', 'np-server', '-o', 'json'])) as { spec: { clusterIP: string; ports: Array<{ nodePort: number }> } };
    clusterIP = svc.spec.clusterIP;
    nodePort = svc.spec.ports[0]!.nodePort;
  });

  after(async () => {
    await site?.stop();
  });

  it('no policy: everything open; default-deny ingress then blocks clients and outside traffic, but not the node (probes)', async () => {
    await passes('no', serverUrl());
    await eventually('the host reaches the NodePort', fromHost, 60_000, 300);
    await policy('np-deny', { podSelector: { matchLabels: { app: 'np-server' } }, policyTypes: ['Ingress'] });
    await eventually('default deny in force', async () => !(await get('ok', serverUrl())), 60_000, 300);
    await dropped('no', serverUrl());
    await dropped('no', `http://${clusterIP}/`);
    assert.equal(await fromHost(), false, 'outside the node: dropped');
    // The node itself (kubelet probes) still reaches the pod, as upstream CNIs allow.
    const fromNode = execFileSync('nsenter', [`--net=/run/netns/${node.lab.netns}`, '--', 'curl', '-s', '-m', '5', serverUrl()], { encoding: 'utf8' });
    assert.match(fromNode, /np-ok/);
  });

  it('an allow rule by podSelector on a named port lets one client in (by pod IP and through the ClusterIP) and not the other', async () => {
    await policy('np-allow-ok', {
      podSelector: { matchLabels: { app: 'np-server' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'ok' } } }], ports: [{ port: 'http' }] }],
    });
    await passes('ok', serverUrl());
    await passes('ok', `http://${clusterIP}/`);
    await dropped('no', serverUrl());
    await dropped('no', `http://${clusterIP}/`);
  });

  it('an ipBlock (with except) decides for the host reaching the pod through the NodePort (source seen before the masquerade)', async () => {
    const allowLan = (except: string[]) => policy('np-allow-lan', {
      podSelector: { matchLabels: { app: 'np-server' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ ipBlock: { cidr: '169.254.0.0/16', except } }], ports: [{ port: 8080, protocol: 'TCP' }] }],
    });
    await allowLan([`${site.lab.hostAddress}/32`]);
    await eventually('the policy reached the node', async () => execFileSync('nsenter', [`--net=/run/netns/${node.lab.netns}`, '--', 'nft', 'list', 'table', 'ip', 'kedge-netpol'], { encoding: 'utf8' }).includes(`${site.lab.hostAddress}`), 60_000, 300);
    assert.equal(await fromHost(), false, 'the host is excepted');
    await allowLan(['169.254.255.0/24']);
    await eventually('the host reaches the NodePort', fromHost, 60_000, 300);
    await dropped('no', serverUrl());
  });

  it('egress deny on a client blocks it even towards a pod that allows it; kept after an agent kill -9 and offline restart', async () => {
    await policy('np-egress-deny', { podSelector: { matchLabels: { role: 'ok' } }, policyTypes: ['Egress'] });
    await eventually('egress deny in force', async () => !(await get('ok', serverUrl())), 60_000, 300);
    site.lab.cutCloud(node.lab);
    await restartEdge(site, node, { ready: /network policy synced/ });
    await eventually('the agent re-applied its table offline', async () => {
      const out = execFileSync('nsenter', [`--net=/run/netns/${node.lab.netns}`, '--', 'nft', 'list', 'table', 'ip', 'kedge-netpol'], { encoding: 'utf8' });
      return (out.match(/chain (ing|eg)-/g) ?? []).length === 2 || out;
    }, 60_000, 500);
    await dropped('ok', serverUrl());
    await dropped('no', serverUrl());
    // (The host is the cut cloud's address now: the node reaching its pod shows the table is not a blanket drop.)
    assert.match(execFileSync('nsenter', [`--net=/run/netns/${node.lab.netns}`, '--', 'curl', '-s', '-m', '5', serverUrl()], { encoding: 'utf8' }), /np-ok/);
  });
});
