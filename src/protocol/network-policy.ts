/**
 * NetworkPolicy as the hub ships it to edge nodes (docs/design/network-policy.md). The hub resolves every peer
 * selector (podSelector, namespaceSelector, both) into the IPs of the pods it selects, wherever they run, and ships
 * the policy with those addresses in one annotation; the edge matches `spec.podSelector` against its own pods and
 * renders nftables rules. Edges thus need neither other nodes' pods nor Namespace labels, and a policy whose
 * selected peers did not change is not re-sent.
 */
import type { V1NetworkPolicy, V1NetworkPolicyPort, V1Pod } from '@kubernetes/client-node';

/** Set by the hub on every shipped NetworkPolicy (a user-written value is replaced, never trusted). */
export const RESOLVED_PEERS_ANNOTATION = 'kedge.io/resolved-peers';
export const NETWORK_POLICY_RESOURCE = 'networkpolicies.networking.k8s.io';

export type L4Protocol = 'tcp' | 'udp' | 'sctp';

/** The selector peers of one rule, resolved. */
export interface ResolvedRule {
  /** IPs of the pods the rule's podSelector / namespaceSelector peers select (sorted; ipBlock peers are not here). */
  ips: string[];
  /**
   * Egress only, for each named port of the rule: `ip,protocol,port` of the destination pods (of the rule's selector
   * peers, or of every pod when the rule has no `to`) whose container port has that name and protocol.
   */
  namedPorts?: Record<string, string[]>;
}

export interface ResolvedPeers {
  ingress: ResolvedRule[];
  egress: ResolvedRule[];
}

export function l4(protocol: string | undefined): L4Protocol | undefined {
  const p = (protocol ?? 'TCP').toLowerCase();
  return p === 'tcp' || p === 'udp' || p === 'sctp' ? p : undefined;
}

/** Which directions a policy isolates: `policyTypes`, or upstream's default (Ingress, plus Egress when it has egress rules). */
export function policyDirections(np: V1NetworkPolicy): { ingress: boolean; egress: boolean } {
  const types = np.spec?.policyTypes;
  if (types?.length) return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  return { ingress: true, egress: (np.spec?.egress?.length ?? 0) > 0 };
}

/** Whether a pod takes part in policy enforcement: a pod-network IPv4 address, not finished (its IP may be reused). */
export function podNetworkIp(pod: V1Pod): string | undefined {
  if (pod.spec?.hostNetwork) return undefined;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const ip = pod.status?.podIP;
  return ip && /^\d+\.\d+\.\d+\.\d+$/.test(ip) ? ip : undefined;
}

/** The `(protocol, port)` pairs a named port resolves to on one pod (its containers' ports of that name and protocol). */
export function namedPortsOf(pod: V1Pod, name: string, protocol: L4Protocol): number[] {
  const out: number[] = [];
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === name && l4(p.protocol) === protocol) out.push(p.containerPort);
  return out;
}

/** The named ports of a policy port list (those whose `port` is a string), with their protocol. */
export function namedPorts(ports: V1NetworkPolicyPort[] | undefined): Array<{ name: string; protocol: L4Protocol }> {
  const out: Array<{ name: string; protocol: L4Protocol }> = [];
  for (const p of ports ?? []) {
    const protocol = l4(p.protocol);
    if (typeof p.port === 'string' && !/^\d+$/.test(p.port) && protocol) out.push({ name: p.port, protocol });
  }
  return out;
}

/** The key of a named port in ResolvedRule.namedPorts. */
export function namedPortKey(name: string, protocol: L4Protocol): string {
  return `${protocol}/${name}`;
}

/** Reads the hub's annotation; undefined when absent or malformed (the edge then treats the selector peers as none). */
export function readResolvedPeers(np: V1NetworkPolicy): ResolvedPeers | undefined {
  const raw = np.metadata?.annotations?.[RESOLVED_PEERS_ANNOTATION];
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as ResolvedPeers;
    if (!Array.isArray(v.ingress) || !Array.isArray(v.egress)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}
