import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { podDnsConfig, type PodDnsSettings } from './pod-dns.js';
import { parseResolvConf } from './resolv-conf.js';
import { sandboxConfig } from '../podmanager/runtime-config.js';

const host = parseResolvConf('# host\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example lab.example\noptions rotate timeout:1\n');
const settings: PodDnsSettings = { clusterDns: ['169.254.20.10'], clusterDomain: 'cluster.local', hostResolvConf: () => host };
const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({ metadata: { name: 'p', namespace: 'shop', uid: 'u' }, spec: { containers: [], ...spec } });

test('ClusterFirst (the default): cluster DNS, the namespace search path then the host search, ndots:5', () => {
  assert.deepEqual(podDnsConfig(pod(), settings), {
    servers: ['169.254.20.10'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'],
    options: ['ndots:5'],
  });
});

test('hostNetwork: ClusterFirst means the host resolvers, ClusterFirstWithHostNet the cluster DNS', () => {
  assert.deepEqual(podDnsConfig(pod({ hostNetwork: true }), settings), { servers: ['10.0.0.2', '10.0.0.3'], searches: ['corp.example', 'lab.example'], options: ['rotate', 'timeout:1'] });
  assert.deepEqual(podDnsConfig(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).servers, ['169.254.20.10']);
});

test('Default is the host resolv.conf; None is only dnsConfig; no cluster DNS configured falls back to Default', () => {
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'Default' }), settings).servers, ['10.0.0.2', '10.0.0.3']);
  assert.deepEqual(podDnsConfig(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }] } }), settings), {
    servers: ['1.1.1.1'], searches: ['x.example'], options: ['ndots:2'],
  });
  assert.deepEqual(podDnsConfig(pod(), { ...settings, clusterDns: [] }).servers, ['10.0.0.2', '10.0.0.3']);
});

test('dnsConfig is merged: servers and searches appended without duplicates, options by name, kubelet limits', () => {
  const c = podDnsConfig(pod({ dnsConfig: { nameservers: ['169.254.20.10', '8.8.8.8', '9.9.9.9', '1.1.1.1'], searches: ['cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } }), settings);
  assert.deepEqual(c.servers, ['169.254.20.10', '8.8.8.8', '9.9.9.9'], 'at most 3 nameservers');
  assert.deepEqual(c.searches, ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example']);
  assert.deepEqual(c.options, ['ndots:2', 'edns0']);
  const many = podDnsConfig(pod({ dnsConfig: { searches: Array.from({ length: 40 }, (_, i) => `s${i}.example`) } }), settings);
  assert.equal(many.searches.length, 32);
});

test('the sandbox config carries it when the node has cluster DNS, and only the pod dnsConfig otherwise (runtime copies the host file)', () => {
  assert.deepEqual(sandboxConfig('n', pod(), '/tmp/p', 0, settings).dnsConfig?.servers, ['169.254.20.10']);
  assert.equal(sandboxConfig('n', pod(), '/tmp/p', 0).dnsConfig, undefined);
});

test('resolv.conf parsing: comments, the last search line wins, invalid nameservers skipped', () => {
  const r = parseResolvConf('nameserver 127.0.0.53 # stub\nnameserver not-an-ip\nsearch a.example\ndomain b.example\noptions edns0 trust-ad\n;comment');
  assert.deepEqual(r, { nameservers: ['127.0.0.53'], searches: ['b.example'], options: ['edns0', 'trust-ad'] });
});
