/**
 * Who may query the node's DNS: this node and its pods, nobody else (an open resolver on an edge node's public
 * address would be an amplification reflector and would leak the cluster's service names). Allowed sources:
 * loopback, the node's own addresses, the node's pod CIDRs (Node spec.podCIDRs, `kedge edge join --pod-cidr`) and
 * the subnets of the node's Linux bridges (the pods' CNI bridge, kedge0 / cni0: pods reach the node through it). The set is re-read every 30 s and, at
 * most every 5 s, when an unknown source asks (a bridge that came up after the start).
 * Refused UDP queries are dropped without an answer (no reflection); refused TCP connections are closed.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

export interface ClientPolicyOptions {
  /** Extra CIDRs allowed, read at every rebuild (the node's spec.podCIDRs: its pods, whatever the CNI's bridge). */
  extraCidrs?: () => string[];
  /** Test seam: the interfaces to read (default os.networkInterfaces()). */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Test seam: is this interface a Linux bridge (default /sys/class/net/NAME/bridge exists)? */
  isBridge?: (name: string) => boolean;
}

export class ClientPolicy {
  private allowed = new net.BlockList();
  private builtAt = 0;
  private missAt = 0;

  constructor(private readonly o: ClientPolicyOptions = {}) {
    this.rebuild();
  }

  allows(address: string): boolean {
    const ip = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
    const family = net.isIPv6(ip) ? 'ipv6' : 'ipv4';
    const now = Date.now();
    if (now - this.builtAt > 30_000) this.rebuild();
    if (this.allowed.check(ip, family)) return true;
    if (now - this.missAt > 5000) {
      this.missAt = now;
      this.rebuild();
      return this.allowed.check(ip, family);
    }
    return false;
  }

  private rebuild(): void {
    const list = new net.BlockList();
    list.addSubnet('127.0.0.0', 8, 'ipv4');
    list.addAddress('::1', 'ipv6');
    const interfaces = (this.o.interfaces ?? os.networkInterfaces)();
    const isBridge = this.o.isBridge ?? ((name: string) => existsSync(`/sys/class/net/${name}/bridge`));
    for (const [name, addrs] of Object.entries(interfaces)) {
      const bridge = isBridge(name);
      for (const a of addrs ?? []) {
        const family = a.family === 'IPv6' ? 'ipv6' : 'ipv4';
        const ip = a.address.replace(/%.*$/, '');
        list.addAddress(ip, family);
        if (bridge && a.cidr) list.addSubnet(ip, Number(a.cidr.split('/')[1]), family);
      }
    }
    for (const cidr of this.o.extraCidrs?.() ?? []) {
      const [ip, bits] = cidr.split('/');
      if (ip && net.isIP(ip)) list.addSubnet(ip, Number(bits ?? (net.isIPv6(ip) ? 128 : 32)), net.isIPv6(ip) ? 'ipv6' : 'ipv4');
    }
    this.allowed = list;
    this.builtAt = Date.now();
  }
}
