import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { serviceProxyPorts, slicesByService } from './rules.js';
import { renderState, transaction } from './nft.js';

const svc = (name: string, spec: Record<string, unknown>): V1Service => ({ metadata: { namespace: 'default', name }, spec: { clusterIP: '10.43.0.5', ports: [{ port: 80, protocol: 'TCP' }], ...spec } }) as V1Service;
const slice = (svcName: string, eps: Array<{ ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean }>): V1EndpointSlice => ({
  metadata: { namespace: 'default', name: `${svcName}-x`, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports: [{ port: 8080, protocol: 'TCP' }],
  endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating } })),
}) as V1EndpointSlice;

test('headless and ExternalName Services are not proxied; ready endpoints are, else serving+terminating ones', () => {
  const ports = serviceProxyPorts([
    svc('headless', { clusterIP: 'None' }), svc('ext', { type: 'ExternalName', externalName: 'x.example' }), svc('web', {}), svc('draining', { clusterIP: '10.43.0.6' }),
  ], slicesByService([
    slice('web', [{ ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.2', node: 'b', ready: false }]),
    slice('draining', [{ ip: '10.244.1.9', node: 'a', ready: false, serving: true, terminating: true }]),
  ]), 'a');
  assert.deepEqual(ports.map((p) => p.id), ['default/draining:/tcp', 'default/web:/tcp']);
  assert.deepEqual(ports.find((p) => p.id === 'default/web:/tcp')!.clusterEndpoints.map((e) => e.ip), ['10.244.1.2']);
  assert.deepEqual(ports.find((p) => p.id === 'default/draining:/tcp')!.clusterEndpoints.map((e) => e.ip), ['10.244.1.9']);
});

test('internalTrafficPolicy Local keeps cluster traffic on this node; externalTrafficPolicy Local the NodePort; no endpoint → reject', () => {
  const eps = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.2', node: 'b' }])]);
  const [p] = serviceProxyPorts([svc('web', { type: 'NodePort', internalTrafficPolicy: 'Local', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] })], eps, 'b');
  assert.deepEqual(p!.clusterEndpoints.map((e) => e.ip), ['10.244.2.2']);
  assert.deepEqual(p!.externalEndpoints.map((e) => e.ip), ['10.244.2.2']);
  const [none] = serviceProxyPorts([svc('web', { internalTrafficPolicy: 'Local' })], eps, 'c');
  const st = renderState([none!], {});
  assert.deepEqual(st.noEndpointServices, ['10.43.0.5 . tcp . 80']);
  assert.deepEqual(st.serviceIps, []);
});

test('sessionAffinity ClientIP: per-endpoint affinity sets checked before the random pick, updated on the way in', () => {
  const eps = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.2', node: 'b' }])]);
  const st = renderState(serviceProxyPorts([svc('web', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })], eps, 'a'), { podCidr: '10.244.1.0/24' });
  const [svcChain] = [...st.chains].filter(([n]) => n.startsWith('svc-'));
  assert.match(svcChain![1][0]!, /^ip saddr @aff-\w+ goto ep-/);
  assert.match(svcChain![1].at(-1)!, /^numgen random mod 2 vmap/);
  assert.equal(st.sets.size, 2);
  for (const decl of st.sets.values()) assert.match(decl, /timeout 60s/);
  const local = [...st.chains].find(([n]) => n.includes('10.244.1.2'))![1];
  assert.ok(local.includes('ip saddr 10.244.1.0/24 meta mark set meta mark | 0x4000'), 'local pod → local endpoint is masqueraded (bridge hairpin)');
});

test('an incremental transaction touches only what changed and removes what went', () => {
  const one = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }])]);
  const two = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.2', node: 'b' }])]);
  const s1 = renderState(serviceProxyPorts([svc('web', {})], one, 'a'), {});
  const s2 = renderState(serviceProxyPorts([svc('web', {})], two, 'a'), {});
  assert.equal(transaction(s1, s1), null, 'nothing changed: no nft run');
  const up = transaction(s1, s2)!;
  assert.doesNotMatch(up, /delete table/);
  assert.match(up, /add chain ip kedge-proxy ep-\w+-default\/web\/\/tcp\/10\.244\.2\.2\/8080/);
  assert.doesNotMatch(up, /10\.244\.1\.2\/8080 ip saddr/, 'the unchanged endpoint chain is not rewritten');
  const down = transaction(s2, s1)!;
  assert.match(down, /delete chain ip kedge-proxy ep-\w+-default\/web\/\/tcp\/10\.244\.2\.2\/8080/);
  assert.match(transaction(null, s1)!, /^add table ip kedge-proxy\ndelete table ip kedge-proxy\n/);
});

const nftUsable = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

test('nft accepts the full and the incremental scripts (checked in a private network namespace)', { skip: nftUsable ? false : 'needs root and nft' }, () => {
  const ns = `kedge-proxy-test-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const eps = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.2', node: 'b' }])]);
    // A LoadBalancer with an ingress address (ServiceLB): its address:port joins service-ips towards the ext- chain.
    const lbWeb: V1Service = { ...svc('web', { type: 'LoadBalancer', sessionAffinity: 'ClientIP', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] }), status: { loadBalancer: { ingress: [{ ip: '192.168.7.1' }] } } };
    const s1 = renderState(serviceProxyPorts([lbWeb], eps, 'a'), { podCidr: '10.244.1.0/24' });
    const s2 = renderState(serviceProxyPorts([svc('web', {})], slicesByService([]), 'a'), {});
    const nft = (script: string) => execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script });
    nft(transaction(null, s1)!);
    assert.match(execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'map', 'ip', 'kedge-proxy', 'service-ips'], { encoding: 'utf8' }), /192\.168\.7\.1 \. tcp \. 80 : goto ext-/);
    nft(transaction(s1, s2)!);
    const listed = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'kedge-proxy'], { encoding: 'utf8' });
    assert.match(listed, /10\.43\.0\.5 \. tcp \. 80/);
    assert.doesNotMatch(listed, /chain ep-/);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

test('LoadBalancer ingress IPs (ServiceLB: node addresses) take the Service port through the external path', () => {
  const eps = slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }])]);
  const lb = (name: string, ips: string[], extra: Record<string, unknown> = {}): V1Service => ({
    ...svc(name, { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }], ...extra }),
    status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
  });
  const [p] = serviceProxyPorts([lb('web', ['192.168.1.20', '192.168.1.10', 'fd00::1', '192.168.1.10'])], eps, 'a');
  assert.deepEqual(p!.loadBalancerIPs, ['192.168.1.10', '192.168.1.20'], 'IPv4 only, unique, sorted');
  const st = renderState([p!], {});
  const ext = [...st.chains.keys()].find((n) => n.startsWith('ext-'))!;
  assert.ok(st.serviceIps.includes(`192.168.1.10 . tcp . 80 : goto ${ext}`));
  assert.ok(st.serviceIps.includes(`192.168.1.20 . tcp . 80 : goto ${ext}`));
  assert.match(st.chains.get(ext)![0]!, /meta mark set meta mark \| 0x4000/, 'external traffic is masqueraded (policy Cluster)');
  // Pending (no ingress) → only ClusterIP and NodePort; no endpoints → the LB address:port is rejected.
  assert.equal(serviceProxyPorts([lb('web', [])], eps, 'a')[0]!.loadBalancerIPs, undefined);
  const none = renderState(serviceProxyPorts([lb('web', ['192.168.1.10'])], new Map(), 'a'), {});
  assert.ok(none.noEndpointServices.includes('192.168.1.10 . tcp . 80'));
  // A second Service claiming the same address and port (a hand-written status) does not break the map.
  const both = renderState(serviceProxyPorts([lb('web', ['192.168.1.10']), lb('zzz', ['192.168.1.10'], { clusterIP: '10.43.0.9' })], slicesByService([slice('web', [{ ip: '10.244.1.2', node: 'a' }]), slice('zzz', [{ ip: '10.244.1.3', node: 'a' }])]), 'a'), {});
  assert.equal(both.serviceIps.filter((e) => e.startsWith('192.168.1.10 . tcp . 80')).length, 1);
});
