/**
 * NetworkPolicy → nftables, a pure function of the node's NetworkPolicies (as the hub ships them, peers resolved:
 * src/protocol/network-policy.ts) and its own pods. Upstream's semantics
 * (kubernetes.io/docs/concepts/services-networking/network-policies):
 * - A pod selected by a policy whose policyTypes include Ingress (Egress) is isolated for that direction; it then
 *   accepts only what the union of those policies' rules allow. Pods no policy selects are not touched.
 * - A rule allows a connection when one of its peers matches (none listed: any peer) and one of its ports does (none
 *   listed: any port). Peers: the hub's resolved IPs for podSelector / namespaceSelector peers, `ipBlock` with
 *   `except`. Ports: number, `endPort` range, protocol only, or a name resolved against the destination pod's
 *   container ports (for egress the hub resolves it against the destination pods).
 * - Replies and related packets of an allowed connection pass (conntrack), so a rule allows a connection, not packets.
 *
 * Layout (own table `ip kedge-netpol`, one base chain on the forward hook, after the proxy's DNAT):
 *   forward: ct established,related accept → `ip saddr vmap @egress-pods` (jump to the pod's egress chain, whose allow
 *   verdict is `return` so the destination's ingress is still checked) → `ip daddr vmap @ingress-pods` (allow: accept).
 *   Each isolated pod's chain ends in `drop`, as upstream's CNIs (Calico, Cilium) drop rather than reject.
 */
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort, V1Pod } from '@kubernetes/client-node';
import { tag } from '../proxy/rules.js';
import { labelSelectorMatches } from '../../common/label-selector.js';
import {
  l4, namedPortKey, namedPortsOf, podNetworkIp, policyDirections, readResolvedPeers,
  type L4Protocol, type ResolvedRule,
} from '../../protocol/network-policy.js';

export const NETPOL_TABLE = 'kedge-netpol';
const T = `ip ${NETPOL_TABLE}`;

interface Direction {
  name: 'ingress' | 'egress';
  /** The peer's address in a packet of this direction (ingress: the source). */
  peer: 'saddr' | 'daddr';
  allow: 'accept' | 'return';
  chainPrefix: string;
}
const INGRESS: Direction = { name: 'ingress', peer: 'saddr', allow: 'accept', chainPrefix: 'ing' };
const EGRESS: Direction = { name: 'egress', peer: 'daddr', allow: 'return', chainPrefix: 'eg' };

/** The rendered table: named sets, per-pod chains, dispatch map elements. */
export interface NetpolState {
  /** Set name → `type …;` declaration and its elements. */
  sets: Map<string, { type: string; elements: string[] }>;
  chains: Map<string, string[]>;
  ingressPods: string[];
  egressPods: string[];
  /** Counts for logs and metrics. */
  isolatedPods: number;
  policies: number;
}

const isSelectorPeer = (p: V1NetworkPolicyPeer): boolean => p.podSelector != null || p.namespaceSelector != null;

/** nft matches for one rule's peers; `[]` = matches nothing, `['']` = any peer. */
function peerMatches(peers: V1NetworkPolicyPeer[] | undefined, dir: Direction, peerSet: string | undefined): string[] {
  if (!peers?.length) return [''];
  const out: string[] = [];
  if (peerSet && peers.some(isSelectorPeer)) out.push(`ip ${dir.peer} @${peerSet}`);
  for (const p of peers) {
    const b = p.ipBlock;
    if (!b || isSelectorPeer(p) || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(b.cidr)) continue; // IPv6 blocks: IPv4-only table
    const except = (b.except ?? []).filter((c) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(c));
    out.push(`ip ${dir.peer} ${b.cidr}${except.length ? ` ip ${dir.peer} != { ${except.join(', ')} }` : ''}`);
  }
  return out;
}

/**
 * nft matches for one rule's numbered and protocol-only ports, plus (ingress) named ports resolved on `pod`;
 * `['']` = any port. Egress named ports are matched with the peer (namedPortRules).
 */
function portMatches(ports: V1NetworkPolicyPort[] | undefined, dir: Direction, pod: V1Pod): string[] {
  if (!ports?.length) return [''];
  const out: string[] = [];
  for (const p of ports) {
    const proto = l4(p.protocol);
    if (!proto) continue;
    if (p.port === undefined || p.port === null) out.push(`meta l4proto ${proto}`);
    else if (typeof p.port === 'number' || /^\d+$/.test(String(p.port))) {
      const n = Number(p.port);
      out.push(`${proto} dport ${p.endPort !== undefined && p.endPort > n ? `${n}-${p.endPort}` : n}`);
    } else if (dir.name === 'ingress') {
      const resolved = [...new Set(namedPortsOf(pod, String(p.port), proto))].sort((a, b) => a - b);
      if (resolved.length) out.push(`${proto} dport { ${resolved.join(', ')} }`);
    }
  }
  return out;
}

/** Egress named ports: a set of `ip . protocol . port` of the destination pods (hub-resolved), one rule per port name. */
function namedPortRules(ports: V1NetworkPolicyPort[] | undefined, peers: V1NetworkPolicyPeer[] | undefined, resolved: ResolvedRule | undefined, setName: (i: number) => string, st: NetpolState): string[] {
  // An ipBlock peer has no pod to resolve a name against: a named port matches only pods (documented).
  if (peers?.length && !peers.some(isSelectorPeer)) return [];
  const rules: string[] = [];
  (ports ?? []).forEach((p, i) => {
    const proto = l4(p.protocol);
    if (!proto || typeof p.port !== 'string' || /^\d+$/.test(p.port)) return;
    const elements = (resolved?.namedPorts?.[namedPortKey(p.port, proto)] ?? []).map(namedElement).filter((e): e is string => e !== undefined);
    const name = setName(i);
    if (!st.sets.has(name)) st.sets.set(name, { type: 'ipv4_addr . inet_proto . inet_service', elements });
    rules.push(`ip daddr . meta l4proto . th dport @${name}`);
  });
  return rules;
}

/** `ip,protocol,port` → an nft concatenation element, or undefined when malformed. */
function namedElement(s: string): string | undefined {
  const [ip, proto, port] = s.split(',');
  if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !l4(proto) || !/^\d+$/.test(port ?? '')) return undefined;
  return `${ip} . ${l4(proto) as L4Protocol} . ${port}`;
}

/** One pod's chain for one direction: the rules of every policy selecting it, then drop. */
function podChain(pod: V1Pod, policies: V1NetworkPolicy[], dir: Direction, st: NetpolState): string[] {
  const rules: string[] = [];
  for (const np of policies) {
    const npTag = tag(`${np.metadata?.namespace}/${np.metadata?.name}`);
    const resolved = readResolvedPeers(np)?.[dir.name];
    const list = (dir.name === 'ingress' ? np.spec?.ingress : np.spec?.egress) ?? [];
    list.forEach((rule, r) => {
      // Stored objects carry the wire name `from` (client-node's type calls it `_from`).
      const peers = dir.name === 'ingress' ? (rule as { from?: V1NetworkPolicyPeer[] }).from : (rule as { to?: V1NetworkPolicyPeer[] }).to;
      const setName = `${dir.chainPrefix}-${npTag}-${r}`;
      const hasSelectorPeers = (peers ?? []).some(isSelectorPeer);
      if (hasSelectorPeers && !st.sets.has(setName)) st.sets.set(setName, { type: 'ipv4_addr', elements: [...(resolved?.[r]?.ips ?? [])].filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)) });
      const peerM = peerMatches(peers, dir, hasSelectorPeers ? setName : undefined);
      const portM = portMatches(rule.ports, dir, pod);
      for (const pm of peerM) for (const qm of portM) rules.push(`${[pm, qm].filter(Boolean).join(' ')} ${dir.allow}`.trim());
      if (dir.name === 'egress') {
        for (const m of namedPortRules(rule.ports, peers, resolved?.[r], (i) => `${setName}-p${i}`, st)) rules.push(`${m} ${dir.allow}`);
      }
    });
  }
  rules.push('counter drop');
  return rules;
}

/** Policies, keyed by `namespace/name`, and the node's pods → the table's content. */
export function renderNetpol(policies: Iterable<V1NetworkPolicy>, pods: Iterable<V1Pod>, nodeName: string): NetpolState {
  const st: NetpolState = { sets: new Map(), chains: new Map(), ingressPods: [], egressPods: [], isolatedPods: 0, policies: 0 };
  const byNs = new Map<string, V1NetworkPolicy[]>();
  for (const np of [...policies].sort((a, b) => key(a).localeCompare(key(b)))) {
    const ns = np.metadata?.namespace ?? '';
    let l = byNs.get(ns);
    if (!l) byNs.set(ns, (l = []));
    l.push(np);
    st.policies++;
  }
  const seenIps = new Set<string>();
  for (const pod of [...pods].sort((a, b) => key(a).localeCompare(key(b)))) {
    if (pod.spec?.nodeName !== nodeName) continue;
    const ip = podNetworkIp(pod);
    // Two pods claiming one address (a stale status): the first keeps it, a map holds one verdict per key.
    if (!ip || seenIps.has(ip)) continue;
    seenIps.add(ip);
    const selecting = (byNs.get(pod.metadata?.namespace ?? '') ?? []).filter((np) => labelSelectorMatches(np.spec?.podSelector, pod.metadata?.labels));
    const podTag = tag(key(pod));
    let isolated = false;
    for (const dir of [INGRESS, EGRESS]) {
      const applying = selecting.filter((np) => policyDirections(np)[dir.name]);
      if (!applying.length) continue;
      isolated = true;
      const chain = `${dir.chainPrefix}-${podTag}`;
      st.chains.set(chain, podChain(pod, applying, dir, st));
      (dir === INGRESS ? st.ingressPods : st.egressPods).push(`${ip} : jump ${chain}`);
    }
    if (isolated) st.isolatedPods++;
  }
  return st;
}

function key(o: { metadata?: { namespace?: string; name?: string } }): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function elements(target: string, items: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += 500) out.push(`add element ${T} ${target} { ${items.slice(i, i + 500).join(', ')} }`);
  return out;
}

/**
 * The `nft -f` script that replaces the whole table with `st`, in one transaction (atomic: packets see the old rules
 * or the new, never none). A node's table is small (its own pods), so replacing beats diffing, and a restarted agent
 * leaves nothing stale.
 */
export function netpolScript(st: NetpolState): string {
  const lines = [
    `add table ${T}`,
    `delete table ${T}`,
    `add table ${T}`,
    `add map ${T} ingress-pods { type ipv4_addr : verdict; }`,
    `add map ${T} egress-pods { type ipv4_addr : verdict; }`,
  ];
  for (const [name, s] of st.sets) {
    lines.push(`add set ${T} ${name} { type ${s.type}; }`);
    lines.push(...elements(name, [...new Set(s.elements)]));
  }
  for (const name of st.chains.keys()) lines.push(`add chain ${T} ${name}`);
  for (const [name, rules] of st.chains) for (const r of rules) lines.push(`add rule ${T} ${name} ${r}`);
  lines.push(...elements('ingress-pods', st.ingressPods), ...elements('egress-pods', st.egressPods));
  // The base chain last: it hooks in with every chain and set it jumps to already in place.
  lines.push(
    `add chain ${T} forward { type filter hook forward priority filter; policy accept; }`,
    `add rule ${T} forward ct state established,related accept`,
    `add rule ${T} forward ip saddr vmap @egress-pods`,
    `add rule ${T} forward ip daddr vmap @ingress-pods`,
  );
  return lines.join('\n') + '\n';
}

/** Removes the table (`kedge edge cleanup`). */
export function netpolCleanupScript(): string {
  return `add table ${T}\ndelete table ${T}\n`;
}
