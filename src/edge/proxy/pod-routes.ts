/**
 * Pod-to-pod between the nodes of one pool, host-gw style (as flannel's host-gw backend): a route to each peer node's
 * pod CIDR (spec.podCIDR) via its InternalIP, which must be on the same link. Peers are the Nodes in the local store
 * with this node's `apps.openyurt.io/nodepool` label; a node without a pool routes to nobody. Across pools there are
 * no routes (not supported: pools are sites, usually without a shared L2).
 *
 * Routes carry protocol number 199 (`ip route … proto 199`), so the agent recognises its own after a restart and
 * `kedge edge cleanup` removes exactly those.
 */
import { execFile } from 'node:child_process';
import type { V1Node } from '@kubernetes/client-node';
import { NODEPOOL_LABEL } from '../../common/node-restriction.js';
import { formatIpv4Cidr, parseIpv4, parseIpv4Cidr } from '../../common/ipv4.js';

export const ROUTE_PROTO = '199';

export interface PodRoute {
  dst: string;
  via: string;
}

export function internalIp(node: V1Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP' && parseIpv4(a.address) !== null)?.address;
}

/** The routes this node should have, sorted by destination. */
export function wantedRoutes(nodes: Iterable<V1Node>, self: string): PodRoute[] {
  const all = [...nodes];
  const me = all.find((n) => n.metadata?.name === self);
  const pool = me?.metadata?.labels?.[NODEPOOL_LABEL];
  if (pool === undefined) return [];
  const out: PodRoute[] = [];
  for (const n of all) {
    if (n.metadata?.name === self || n.metadata?.labels?.[NODEPOOL_LABEL] !== pool) continue;
    const range = n.spec?.podCIDR ? parseIpv4Cidr(n.spec.podCIDR) : null;
    const via = internalIp(n);
    if (!range || !via) continue;
    out.push({ dst: formatIpv4Cidr(range), via });
  }
  return out.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
}

function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout)));
  });
}

/** The routes the agent installed (protocol 199). */
export async function installedRoutes(): Promise<PodRoute[]> {
  const rows = JSON.parse((await ip(['-j', '-4', 'route', 'show', 'proto', ROUTE_PROTO])) || '[]') as Array<{ dst: string; gateway?: string }>;
  return rows.filter((r) => r.gateway).map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, via: r.gateway! }));
}

/** Make the installed routes exactly `want`; returns what changed. */
export async function syncRoutes(want: PodRoute[]): Promise<{ added: PodRoute[]; removed: PodRoute[] }> {
  const have = await installedRoutes();
  const key = (r: PodRoute) => `${r.dst} ${r.via}`;
  const haveKeys = new Set(have.map(key));
  const wantKeys = new Set(want.map(key));
  const wantDst = new Set(want.map((r) => r.dst));
  const added = want.filter((r) => !haveKeys.has(key(r)));
  const removed = have.filter((r) => !wantKeys.has(key(r)) && !wantDst.has(r.dst));
  for (const r of added) await ip(['route', 'replace', r.dst, 'via', r.via, 'proto', ROUTE_PROTO]);
  for (const r of removed) await ip(['route', 'del', r.dst, 'proto', ROUTE_PROTO]);
  return { added, removed };
}
