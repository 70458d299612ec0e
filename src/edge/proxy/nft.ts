/**
 * The service proxy's nftables table (`ip kedge-proxy`), rendered from the proxied service ports (rules.ts) and
 * changed in one `nft -f` transaction per batch: only chains whose rules changed are flushed and refilled, the
 * dispatch maps are refilled, chains and sets no longer wanted are deleted. The first apply after a start replaces
 * the whole table (what a crashed agent left is not trusted). Layout, like kube-proxy's nftables mode:
 *
 *   nat prerouting/output → services: `ip daddr . l4proto . port` vmap @service-ips (ClusterIPs; load-balancer IPs
 *     to the ext- chain), and for the
 *     node's own addresses `l4proto . port` vmap @service-nodeports → svc-… / ext-… chain per service port
 *   svc-… / ext-…: sessionAffinity checks (`ip saddr @aff-…`), then `numgen random mod N` over the endpoints' chains
 *   ep-…: masquerade mark when the client is the endpoint itself (hairpin) or on this node's pod subnet and the
 *     endpoint is local (the reply would otherwise bypass conntrack on the bridge), affinity update, `dnat to IP:port`
 *   nat postrouting: masquerade what carries the mark (0x4000 as kube-proxy's); filter forward/output/input: reject
 *     new connections to a service port without endpoints.
 */
import { spawn } from 'node:child_process';
import { tag, type ProxyEndpoint, type ProxyServicePort } from './rules.js';

export const TABLE = 'kedge-proxy';
const FAMILY = 'ip';
export const MASQ_MARK = '0x4000';

export interface NftState {
  /** Non-base chains and their rules. */
  chains: Map<string, string[]>;
  /** Sets that belong to a chain (affinity): name → declaration body. */
  sets: Map<string, string>;
  serviceIps: string[];
  serviceNodePorts: string[];
  noEndpointServices: string[];
  noEndpointNodePorts: string[];
}

export interface RenderContext {
  /** This node's pod CIDR (spec.podCIDR), if known: local pods reaching a local endpoint are masqueraded. */
  podCidr?: string;
}

function readable(id: string): string {
  return id.replace(/[^a-zA-Z0-9/._-]/g, '/');
}

function endpointChain(sp: ProxyServicePort, ep: ProxyEndpoint): string {
  return `ep-${tag(`${sp.id}|${ep.ip}:${ep.port}`)}-${readable(sp.id)}/${ep.ip}/${ep.port}`;
}

function affinitySet(sp: ProxyServicePort, ep: ProxyEndpoint): string {
  return `aff-${tag(`${sp.id}|${ep.ip}:${ep.port}`)}`;
}

/** The rules that pick one endpoint (affinity first, then random), or none when there is no endpoint. */
function dispatch(sp: ProxyServicePort, eps: ProxyEndpoint[]): string[] {
  const rules: string[] = [];
  if (sp.affinitySeconds !== undefined) for (const ep of eps) rules.push(`ip saddr @${affinitySet(sp, ep)} goto ${endpointChain(sp, ep)}`);
  if (eps.length === 1) rules.push(`goto ${endpointChain(sp, eps[0]!)}`);
  else if (eps.length > 1) rules.push(`numgen random mod ${eps.length} vmap { ${eps.map((ep, i) => `${i} : goto ${endpointChain(sp, ep)}`).join(', ')} }`);
  return rules;
}

export function renderState(ports: ProxyServicePort[], ctx: RenderContext): NftState {
  const st: NftState = { chains: new Map(), sets: new Map(), serviceIps: [], serviceNodePorts: [], noEndpointServices: [], noEndpointNodePorts: [] };
  const claimed = new Set<string>();
  const claim = (key: string): boolean => !claimed.has(key) && Boolean(claimed.add(key));
  for (const sp of ports) {
    const svcChain = `svc-${tag(sp.id)}-${readable(sp.id)}`;
    if (sp.clusterEndpoints.length) {
      st.chains.set(svcChain, dispatch(sp, sp.clusterEndpoints));
      st.serviceIps.push(`${sp.clusterIP} . ${sp.protocol} . ${sp.port} : goto ${svcChain}`);
    } else {
      st.noEndpointServices.push(`${sp.clusterIP} . ${sp.protocol} . ${sp.port}`);
    }
    const lbIps = sp.loadBalancerIPs ?? [];
    if (sp.nodePort !== undefined || lbIps.length) {
      if (sp.externalEndpoints.length) {
        const extChain = `ext-${tag(sp.id)}-${readable(sp.id)}`;
        // Traffic from outside the node keeps its source only with externalTrafficPolicy Local (no second hop).
        st.chains.set(extChain, [...(sp.externalLocal ? [] : [`meta mark set meta mark | ${MASQ_MARK}`]), ...dispatch(sp, sp.externalEndpoints)]);
        if (sp.nodePort !== undefined) st.serviceNodePorts.push(`${sp.protocol} . ${sp.nodePort} : goto ${extChain}`);
        // Load-balancer IPs share the service-ips map with ClusterIPs (kube-proxy's layout) but take the external path.
        // Two Services claiming one address and port (a status written by hand): the first keeps it, as nft maps
        // hold one verdict per key and a duplicate would fail the whole transaction.
        for (const ip of lbIps) if (claim(`${ip} . ${sp.protocol} . ${sp.port}`)) st.serviceIps.push(`${ip} . ${sp.protocol} . ${sp.port} : goto ${extChain}`);
      } else {
        if (sp.nodePort !== undefined) st.noEndpointNodePorts.push(`${sp.protocol} . ${sp.nodePort}`);
        for (const ip of lbIps) if (claim(`${ip} . ${sp.protocol} . ${sp.port}`)) st.noEndpointServices.push(`${ip} . ${sp.protocol} . ${sp.port}`);
      }
    }
    const used = new Map<string, ProxyEndpoint>();
    for (const ep of [...sp.clusterEndpoints, ...sp.externalEndpoints]) used.set(`${ep.ip}:${ep.port}`, ep);
    for (const ep of used.values()) {
      const rules = [`ip saddr ${ep.ip} meta mark set meta mark | ${MASQ_MARK}`];
      if (ep.local) rules.push(ctx.podCidr ? `ip saddr ${ctx.podCidr} meta mark set meta mark | ${MASQ_MARK}` : `meta mark set meta mark | ${MASQ_MARK}`);
      if (sp.affinitySeconds !== undefined) {
        const set = affinitySet(sp, ep);
        st.sets.set(set, `type ipv4_addr; flags dynamic,timeout; timeout ${sp.affinitySeconds}s;`);
        rules.push(`update @${set} { ip saddr }`);
      }
      rules.push(`meta l4proto ${sp.protocol} dnat to ${ep.ip}:${ep.port}`);
      st.chains.set(endpointChain(sp, ep), rules);
    }
  }
  return st;
}

const T = `${FAMILY} ${TABLE}`;

/** The fixed part: base chains, dispatch maps, reject sets. */
function skeleton(): string[] {
  return [
    `add table ${T}`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `add map ${T} service-nodeports { type inet_proto . inet_service : verdict; }`,
    `add set ${T} no-endpoint-services { type ipv4_addr . inet_proto . inet_service; }`,
    `add set ${T} no-endpoint-nodeports { type inet_proto . inet_service; }`,
    `add chain ${T} services`,
    `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${T} services ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @service-nodeports`,
    `add chain ${T} nat-prerouting { type nat hook prerouting priority -100; policy accept; }`,
    `add rule ${T} nat-prerouting jump services`,
    `add chain ${T} nat-output { type nat hook output priority -100; policy accept; }`,
    `add rule ${T} nat-output jump services`,
    `add chain ${T} nat-postrouting { type nat hook postrouting priority 100; policy accept; }`,
    `add rule ${T} nat-postrouting meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark ^ ${MASQ_MARK} masquerade fully-random`,
    `add chain ${T} reject-services`,
    `add rule ${T} reject-services ip daddr . meta l4proto . th dport @no-endpoint-services reject`,
    `add rule ${T} reject-services ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport @no-endpoint-nodeports reject`,
    `add chain ${T} filter-forward { type filter hook forward priority -110; policy accept; }`,
    `add rule ${T} filter-forward ct state new jump reject-services`,
    `add chain ${T} filter-output { type filter hook output priority -110; policy accept; }`,
    `add rule ${T} filter-output ct state new jump reject-services`,
    `add chain ${T} filter-input { type filter hook input priority -110; policy accept; }`,
    `add rule ${T} filter-input ct state new jump reject-services`,
  ];
}

function elements(name: string, items: string[]): string[] {
  const out = [`flush ${name.startsWith('service-') ? 'map' : 'set'} ${T} ${name}`];
  for (let i = 0; i < items.length; i += 500) out.push(`add element ${T} ${name} { ${items.slice(i, i + 500).join(', ')} }`);
  return out;
}

/**
 * The nft script taking the table from `prev` (what the last successful apply left; null = unknown: replace the
 * table) to `next`, or null when nothing changed.
 */
export function transaction(prev: NftState | null, next: NftState): string | null {
  const lines: string[] = [];
  if (prev === null) {
    // `add` first so the delete never fails on a fresh node.
    lines.push(`add table ${T}`, `delete table ${T}`, ...skeleton());
  }
  const before = prev ?? { chains: new Map<string, string[]>(), sets: new Map<string, string>() };
  for (const [name, decl] of next.sets) if (before.sets.get(name) !== decl) {
    if (before.sets.has(name)) lines.push(`delete set ${T} ${name}`); // a changed timeout: sets cannot be altered
    lines.push(`add set ${T} ${name} { ${decl} }`);
  }
  for (const name of next.chains.keys()) if (!before.chains.has(name)) lines.push(`add chain ${T} ${name}`);
  for (const [name, rules] of next.chains) {
    const old = before.chains.get(name);
    if (old && old.length === rules.length && old.every((r, i) => r === rules[i])) continue;
    if (old) lines.push(`flush chain ${T} ${name}`);
    for (const r of rules) lines.push(`add rule ${T} ${name} ${r}`);
  }
  const same = (a: string[] | undefined, b: string[]) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
  const p = prev;
  if (!p || !same(p.serviceIps, next.serviceIps)) lines.push(...elements('service-ips', next.serviceIps));
  if (!p || !same(p.serviceNodePorts, next.serviceNodePorts)) lines.push(...elements('service-nodeports', next.serviceNodePorts));
  if (!p || !same(p.noEndpointServices, next.noEndpointServices)) lines.push(...elements('no-endpoint-services', next.noEndpointServices));
  if (!p || !same(p.noEndpointNodePorts, next.noEndpointNodePorts)) lines.push(...elements('no-endpoint-nodeports', next.noEndpointNodePorts));
  // Gone chains are flushed first (they may jump to each other), then deleted; then their sets.
  const gone = [...before.chains.keys()].filter((n) => !next.chains.has(n));
  for (const n of gone) lines.push(`flush chain ${T} ${n}`);
  for (const n of gone) lines.push(`delete chain ${T} ${n}`);
  for (const n of before.sets.keys()) if (!next.sets.has(n)) lines.push(`delete set ${T} ${n}`);
  return lines.length ? lines.join('\n') + '\n' : null;
}

/** The script that removes everything the proxy installed (`kedge edge cleanup`). */
export function cleanupScript(): string {
  return `add table ${T}\ndelete table ${T}\n`;
}

/** Run `nft -f -` with `script` on stdin; rejects with nft's error output. */
export function runNft(script: string, nftPath = 'nft'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(nftPath, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    // nft may exit before reading all of stdin (a bad path, a failing script); the EPIPE that follows is
    // reported by the exit code below, and must not escape as an uncaught stream error.
    child.stdin.on('error', () => {});
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f failed (exit ${code}): ${err.trim().slice(0, 2000)}`))));
    child.stdin.end(script);
  });
}
