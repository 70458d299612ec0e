/**
 * The cluster DNS address on this node. Upstream's node-local-dns puts a link-local address (169.254.20.10) on a
 * dummy interface so every pod reaches it through its default route to the node and nothing outside the node's
 * link can route to it; Kedge does the same with `kedge-dns0` when the address is not already the node's (on `lo`
 * when the kernel has no dummy driver).
 * The interface stays when the agent stops: pods keep it in their resolv.conf, and the next start answers there.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { promisify } from 'node:util';
import type { Logger } from '../../common/logger.js';

export const DNS_INTERFACE = 'kedge-dns0';
const run = promisify(execFile);

export function isLocalAddress(ip: string): boolean {
  return Object.values(os.networkInterfaces()).some((addrs) => (addrs ?? []).some((a) => a.address.replace(/%.*$/, '') === ip));
}

/** Makes `ip` an address of this node (on kedge-dns0) unless it is one already. Needs CAP_NET_ADMIN. */
export async function ensureDnsAddress(ip: string, log: Logger): Promise<void> {
  if (isLocalAddress(ip)) return;
  const prefix = net.isIPv6(ip) ? 128 : 32;
  const ipCmd = async (...args: string[]) => {
    try {
      await run('ip', args);
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? err);
      if (!/File exists|already assigned/i.test(stderr)) throw new Error(`ip ${args.join(' ')}: ${stderr.trim()}`);
    }
  };
  let device = DNS_INTERFACE;
  try {
    await ipCmd('link', 'add', DNS_INTERFACE, 'type', 'dummy');
  } catch (err) {
    // A kernel without the dummy driver (some VM kernels): loopback holds the address just as well; packets from the
    // pods' bridge to a local address are delivered whatever interface has it.
    if (!/Unknown device type|not supported/i.test(String(err))) throw err;
    device = 'lo';
  }
  await ipCmd('addr', 'add', `${ip}/${prefix}`, 'dev', device);
  if (device === DNS_INTERFACE) await ipCmd('link', 'set', DNS_INTERFACE, 'up');
  log.info({ address: ip, interface: device }, 'cluster DNS address added');
}
