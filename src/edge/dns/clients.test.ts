import { test } from 'node:test';
import assert from 'node:assert/strict';
import type os from 'node:os';
import { ClientPolicy } from './clients.js';

const iface = (address: string, cidr: string, family: 'IPv4' | 'IPv6' = 'IPv4'): os.NetworkInterfaceInfo =>
  ({ address, cidr, family, netmask: '', mac: '00:00:00:00:00:00', internal: false }) as os.NetworkInterfaceInfo;

test('the node, its bridges\' subnets and its pod CIDRs may ask; its LAN neighbours and the internet may not', () => {
  const policy = new ClientPolicy({
    interfaces: () => ({ eth0: [iface('192.168.1.10', '192.168.1.10/24')], kedge0: [iface('10.88.0.1', '10.88.0.1/16')], 'kedge-dns0': [iface('169.254.20.10', '169.254.20.10/32')] }),
    isBridge: (name) => name === 'kedge0',
    extraCidrs: () => ['10.244.3.0/24'],
  });
  for (const ok of ['127.0.0.1', '::1', '192.168.1.10', '10.88.4.7', '10.244.3.9', '169.254.20.10', '::ffff:10.88.0.5']) assert.ok(policy.allows(ok), ok);
  for (const no of ['192.168.1.11', '8.8.8.8', '10.244.4.1', '10.89.0.1', '2001:db8::1']) assert.ok(!policy.allows(no), no);
});
