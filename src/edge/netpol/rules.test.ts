import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { V1NetworkPolicy, V1Pod } from '@kubernetes/client-node';
import { netpolScript, renderNetpol } from './rules.js';
import { RESOLVED_PEERS_ANNOTATION, type ResolvedPeers } from '../../protocol/network-policy.js';
import { labelSelectorMatches } from '../../common/label-selector.js';

const pod = (name: string, ip: string, labels: Record<string, string>, extra: { ns?: string; node?: string; ports?: Array<{ name: string; containerPort: number; protocol?: string }>; hostNetwork?: boolean } = {}): V1Pod => ({
  metadata: { namespace: extra.ns ?? 'default', name, labels },
  spec: { nodeName: extra.node ?? 'n1', hostNetwork: extra.hostNetwork, containers: [{ name: 'c', ports: extra.ports }] },
  status: { phase: 'Running', podIP: ip },
}) as V1Pod;

/** A policy as the hub ships it (wire names: `from`), with its resolved peers. */
const policy = (name: string, spec: Record<string, unknown>, peers?: ResolvedPeers, ns = 'default'): V1NetworkPolicy => ({
  metadata: { namespace: ns, name, ...(peers ? { annotations: { [RESOLVED_PEERS_ANNOTATION]: JSON.stringify(peers) } } : {}) },
  spec: spec as V1NetworkPolicy['spec'],
}) as V1NetworkPolicy;

const server = pod('server', '10.244.1.2', { app: 'server' }, { ports: [{ name: 'http', containerPort: 8080 }] });
const client = pod('client', '10.244.1.3', { role: 'client' });
const other = pod('other', '10.244.1.4', { role: 'other' });

test('selector semantics: matchLabels and expressions; null selects nothing, {} everything', () => {
  assert.equal(labelSelectorMatches({}, { a: '1' }), true);
  assert.equal(labelSelectorMatches(undefined, { a: '1' }), false);
  assert.equal(labelSelectorMatches({ matchLabels: { a: '1' } }, { a: '1', b: '2' }), true);
  assert.equal(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }] }, { a: '1' }), false);
  assert.equal(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['2'] }] }, {}), true);
  assert.equal(labelSelectorMatches({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }), false);
});

test('only selected pods are isolated, per direction; policyTypes defaults to Ingress (+Egress when egress rules exist)', () => {
  const st = renderNetpol([
    policy('deny-in', { podSelector: { matchLabels: { app: 'server' } } }),
    policy('eg', { podSelector: { matchLabels: { role: 'client' } }, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] }),
    policy('elsewhere', { podSelector: {} }, undefined, 'other-ns'),
  ], [server, client, other, pod('host', '192.168.1.5', {}, { hostNetwork: true }), pod('far', '10.244.2.2', { app: 'server' }, { node: 'n2' })], 'n1');
  assert.deepEqual(st.ingressPods.map((e) => e.split(' ')[0]), ['10.244.1.3', '10.244.1.2'], 'client (ingress default) and server');
  assert.deepEqual(st.egressPods.map((e) => e.split(' ')[0]), ['10.244.1.3']);
  const serverChain = st.chains.get(st.ingressPods.find((e) => e.startsWith('10.244.1.2'))!.split('jump ')[1]!)!;
  assert.deepEqual(serverChain, ['counter drop'], 'no rule: default deny');
  const egChain = st.chains.get(st.egressPods[0]!.split('jump ')[1]!)!;
  assert.deepEqual(egChain, ['udp dport 53 return', 'counter drop'], 'egress allows return so the destination ingress is still checked');
  assert.equal(st.isolatedPods, 2);
});

test('peers: resolved selector IPs in a set, ipBlock with except; ports: number, endPort, protocol only, named (destination pod)', () => {
  const st = renderNetpol([policy('allow', {
    podSelector: { matchLabels: { app: 'server' } },
    policyTypes: ['Ingress'],
    ingress: [
      { from: [{ podSelector: { matchLabels: { role: 'client' } } }, { ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.5.0/24'] } }], ports: [{ port: 'http' }, { port: 9000, endPort: 9010, protocol: 'TCP' }] },
      { from: [{ namespaceSelector: {} }], ports: [{ protocol: 'UDP' }, { port: 'nope' }] },
    ],
  }, { ingress: [{ ips: ['10.244.1.3', '10.244.2.9'] }, { ips: ['10.244.1.3'] }], egress: [] })], [server], 'n1');
  const chain = st.chains.get(st.ingressPods[0]!.split('jump ')[1]!)!;
  const set0 = [...st.sets.keys()].find((k) => k.endsWith('-0'))!;
  const set1 = [...st.sets.keys()].find((k) => k.endsWith('-1'))!;
  assert.deepEqual(st.sets.get(set0)!.elements, ['10.244.1.3', '10.244.2.9']);
  assert.deepEqual(chain, [
    `ip saddr @${set0} tcp dport { 8080 } accept`,
    `ip saddr @${set0} tcp dport 9000-9010 accept`,
    'ip saddr 192.168.0.0/16 ip saddr != { 192.168.5.0/24 } tcp dport { 8080 } accept',
    'ip saddr 192.168.0.0/16 ip saddr != { 192.168.5.0/24 } tcp dport 9000-9010 accept',
    `ip saddr @${set1} meta l4proto udp accept`,
    'counter drop',
  ], 'a named port the pod does not have matches nothing');
});

test('egress: named ports match the hub-resolved destination pods; an ipBlock-only rule has no named port match; no annotation → no selector peer', () => {
  const st = renderNetpol([
    policy('eg', {
      podSelector: { matchLabels: { role: 'client' } },
      policyTypes: ['Egress'],
      egress: [
        { to: [{ podSelector: { matchLabels: { app: 'server' } } }], ports: [{ port: 'http' }] },
        { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 'http' }] },
      ],
    }, { ingress: [], egress: [{ ips: ['10.244.1.2'], namedPorts: { 'tcp/http': ['10.244.1.2,tcp,8080', 'bad'] } }, { ips: [] }] }),
    policy('unresolved', { podSelector: { matchLabels: { role: 'other' } }, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }] }] }),
  ], [client, other], 'n1');
  const clientChain = st.chains.get(st.egressPods.find((e) => e.startsWith('10.244.1.3'))!.split('jump ')[1]!)!;
  const named = [...st.sets.entries()].find(([k]) => k.endsWith('-0-p0'))!;
  assert.deepEqual(named[1], { type: 'ipv4_addr . inet_proto . inet_service', elements: ['10.244.1.2 . tcp . 8080'] });
  assert.deepEqual(clientChain, [`ip daddr . meta l4proto . th dport @${named[0]} return`, 'counter drop']);
  const otherChain = st.chains.get(st.egressPods.find((e) => e.startsWith('10.244.1.4'))!.split('jump ')[1]!)!;
  const unresolvedSet = otherChain[0]!.match(/@(\S+)/)![1]!;
  assert.deepEqual(st.sets.get(unresolvedSet)!.elements, [], 'no resolved peers: the selector peer matches nothing (fails closed)');
});

const netnsUsable = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    execFileSync('busybox', ['httpd', '--help'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

/**
 * Real packets: a "node" namespace with a bridge (br_netfilter on, as the enforcer sets it) and three "pod" namespaces
 * on it, the table applied with `nft -f` in the node namespace, TCP connections between the pods.
 */
test('real packets on a bridge: default deny, allow by podSelector, egress deny, established replies pass', { skip: netnsUsable ? false : 'needs root, nft and busybox' }, async () => {
  const id = `${process.pid % 10000}`;
  const nodeNs = `np-node-${id}`;
  const pods = [{ ns: `np-srv-${id}`, ip: '10.244.1.2' }, { ns: `np-cli-${id}`, ip: '10.244.1.3' }, { ns: `np-oth-${id}`, ip: '10.244.1.4' }];
  const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const dir = mkdtempSync(path.join(tmpdir(), 'np-'));
  writeFileSync(path.join(dir, 'index.html'), 'ok\n');
  const servers: ChildProcess[] = [];
  try {
    sh('ip', 'netns', 'add', nodeNs);
    sh('ip', 'netns', 'exec', nodeNs, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1');
    sh('ip', '-n', nodeNs, 'link', 'add', 'br0', 'type', 'bridge');
    sh('ip', '-n', nodeNs, 'addr', 'add', '10.244.1.1/24', 'dev', 'br0');
    sh('ip', '-n', nodeNs, 'link', 'set', 'br0', 'up');
    for (const [i, p] of pods.entries()) {
      sh('ip', 'netns', 'add', p.ns);
      sh('ip', '-n', nodeNs, 'link', 'add', `veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.ns);
      sh('ip', '-n', nodeNs, 'link', 'set', `veth${i}`, 'master', 'br0', 'up');
      sh('ip', '-n', p.ns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0');
      sh('ip', '-n', p.ns, 'link', 'set', 'eth0', 'up');
      sh('ip', '-n', p.ns, 'link', 'set', 'lo', 'up');
      sh('ip', '-n', p.ns, 'route', 'add', 'default', 'via', '10.244.1.1');
      const srv = spawn('ip', ['netns', 'exec', p.ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', dir], { stdio: 'ignore' });
      servers.push(srv);
    }
    // A TCP connect + HTTP GET from inside a pod namespace (node, not busybox wget: its static build crashes here). The
    // whole answer is read: busybox writes headers and body apart, and on a loaded machine they arrive in two reads.
    const client = "const s=require('net').connect(8080,process.argv[1]);s.setTimeout(3000,()=>process.exit(2));s.on('connect',()=>s.write('GET / HTTP/1.0\\r\\n\\r\\n'));let b='';s.on('data',(d)=>{b+=d});s.on('end',()=>process.exit(b.includes('ok')?0:3));s.on('error',()=>process.exit(1))";
    const reachFrom = (netns: string, to: string): boolean => {
      try {
        execFileSync('ip', ['netns', 'exec', netns, process.execPath, '-e', client, to], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    const reach = (from: number, to: string): boolean => reachFrom(pods[from]!.ns, to);
    // An expected connection is retried (a loaded machine may miss a timeout; load never makes a dropped one pass).
    const reachable = async (from: string, to: string): Promise<boolean> => {
      for (let i = 0; i < 5; i++) if (reachFrom(from, to)) return true; else await new Promise((r) => setTimeout(r, 200));
      return false;
    };
    const apply = (policies: V1NetworkPolicy[]) => execFileSync('ip', ['netns', 'exec', nodeNs, 'nft', '-f', '-'], { input: netpolScript(renderNetpol(policies, podObjs, 'n1')) });
    const podObjs = [
      pod('server', pods[0]!.ip, { app: 'server' }, { ports: [{ name: 'http', containerPort: 8080 }] }),
      pod('client', pods[1]!.ip, { role: 'client' }),
      pod('other', pods[2]!.ip, { role: 'other' }),
    ];
    assert.ok(await reachable(pods[1]!.ns, pods[0]!.ip) && await reachable(pods[2]!.ns, pods[0]!.ip), 'no policy: everything open');
    apply([policy('deny', { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'] })]);
    assert.equal(reach(1, pods[0]!.ip), false, 'default deny ingress');
    assert.ok(await reachable(pods[0]!.ns, pods[1]!.ip), 'the isolated server still connects out (egress not isolated; replies pass)');
    assert.ok(await reachable(nodeNs, pods[0]!.ip), 'the node reaches its pods (probes)');
    apply([policy('allow', {
      podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'http' }] }],
    }, { ingress: [{ ips: [pods[1]!.ip] }], egress: [] })]);
    assert.ok(await reachable(pods[1]!.ns, pods[0]!.ip), 'allowed client by podSelector + named port');
    assert.equal(reach(2, pods[0]!.ip), false, 'the other client is not');
    apply([policy('no-egress', { podSelector: { matchLabels: { role: 'client' } }, policyTypes: ['Egress'] })]);
    assert.equal(reach(1, pods[0]!.ip), false, 'egress deny');
    assert.ok(await reachable(pods[2]!.ns, pods[0]!.ip), 'other pods unaffected');
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    for (const p of pods) try { sh('ip', 'netns', 'del', p.ns); } catch { /* not created */ }
    try { sh('ip', 'netns', 'del', nodeNs); } catch { /* not created */ }
    rmSync(dir, { recursive: true, force: true });
  }
});
