/**
 * Issue 14, node-local DNS on a real containerd node: the agent (in its node's network namespace) joined with
 * `--cluster-dns 169.254.20.10` puts that address on kedge-dns0 and answers there; a client pod gets the resolv.conf
 * the kubelet writes and resolves Services by name with busybox nslookup (its own resolver, which asks the given server
 * and applies no search list: names are asked fully qualified; the search list is checked in the file, and applying it
 * is the libc's job — the static busybox here has no NSS DNS for wget). Then the node's cloud link is cut, the agent is killed and started again offline, and the pod
 * still resolves the same names.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { busybox, execInPod, restartEdge, siteSkipReason, startSite, waitReadyPods, type PodInfo, type Site, type SiteNode } from './cluster.js';

const skip = siteSkipReason();
const DNS_IP = '169.254.20.10';
let site: Site;
let node: SiteNode;
let client: PodInfo;
let server: PodInfo;
let clusterIP = '';

before(async () => {
  if (skip) return;
  site = await startSite('svc-dns', [{ name: 'dns-a', pool: 'dns-pool', flags: ['--cluster-dns', DNS_IP] }]);
  node = site.node('dns-a');
  await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dnsweb', namespace: 'default' }, spec: { selector: { app: 'dnsweb' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
  await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dnsweb-hl', namespace: 'default' }, spec: { clusterIP: 'None', selector: { app: 'dnsweb' }, ports: [{ name: 'http', port: 8080 }] } });
  await site.apply({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dnsweb-0', namespace: 'default', labels: { app: 'dnsweb' } },
    spec: { nodeName: 'dns-a', hostname: 'web-0', subdomain: 'dnsweb-hl', containers: [busybox(site, 'web', 'exec httpd -f -p 8080')] },
  });
  await site.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'dns-client', namespace: 'default', labels: { app: 'dns-client' } }, spec: { nodeName: 'dns-a', containers: [busybox(site, 'c', 'exec sleep 3600')] } });
  [server] = await waitReadyPods(site, 'app=dnsweb', 1);
  [client] = await waitReadyPods(site, 'app=dns-client', 1);
  clusterIP = (await site.kubectl(['get', 'svc', 'dnsweb', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
});

after(async () => {
  await site?.stop();
});

async function inClient(cmd: string[]): Promise<string> {
  const r = await execInPod(node, client.status!.containerStatuses![0]!.containerID!, cmd);
  return `${r.stdout}${r.stderr}`;
}

/** busybox nslookup prints the answers after "Name:"; returns the addresses it printed for the name. */
async function lookup(name: string): Promise<string> {
  const out = await inClient(['nslookup', name, DNS_IP]);
  // On a timeout the agent's own words say why (address, bind, refused client).
  if (/timed out|no servers/.test(out)) return `${out}\nagent log:\n${node.proc.tail(40)}`;
  return out;
}

async function checkNames(): Promise<void> {
  assert.match(await lookup('dnsweb.default.svc.cluster.local'), new RegExp(`Address:\\s*${clusterIP.replace(/\./g, '\\.')}`));
  const podIP = server.status!.podIP!.replace(/\./g, '\\.');
  assert.match(await lookup('web-0.dnsweb-hl.default.svc.cluster.local'), new RegExp(`Address:\\s*${podIP}`), 'hostname.subdomain of the pod');
  assert.match(await lookup('dnsweb-hl.default.svc.cluster.local'), new RegExp(`Address:\\s*${podIP}`), 'headless: the ready endpoint');
  assert.match(await lookup('nope.default.svc.cluster.local'), /NXDOMAIN|can't find/);
}

test('a pod gets the kubelet\'s resolv.conf and resolves Services by name through its node', { skip }, async () => {
  const resolv = await inClient(['cat', '/etc/resolv.conf']);
  assert.match(resolv, new RegExp(`^nameserver ${DNS_IP.replace(/\./g, '\\.')}$`, 'm'));
  assert.match(resolv, /^search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\b/m);
  assert.match(resolv, /^options ndots:5$/m);
  await checkNames();
});

test('with the node cut from the cloud and its agent restarted offline, the pod still resolves the names', { skip }, async () => {
  site.lab.cutCloud(node.lab);
  await restartEdge(site, node, { ready: /node DNS on/ });
  await checkNames();
  site.lab.healCloud(node.lab);
});
