/**
 * What the hub sends each node of NetworkPolicy (docs/design/network-policy.md): the policies of the namespaces that
 * have pods on the node, each with its peer selectors resolved into pod IPs (src/protocol/network-policy.ts). The
 * hub resolves because it holds every pod and Namespace already (the shared cache); an edge would otherwise need
 * the labels of every pod in the cluster and every Namespace, which is most of the cluster for one node's rules.
 *
 * Incremental: a policy is re-resolved only when a pod (or Namespace) that one of its peers selects, before or after
 * the change, changed its IP, labels, named ports or namespace; the per-node scoped log (desired.ts) then sends it
 * only to the nodes with pods in its namespace, and only when its resolved content changed. A pod's status update
 * that leaves those alone costs a fingerprint comparison. Resolving one policy costs one pass over the pods of the
 * namespaces its peers name (all pods for a namespaceSelector); bytes on the wire grow with the peers' IPs (~14 B
 * each).
 */
import { createHash } from 'node:crypto';
import type { V1NetworkPolicy, V1NetworkPolicyPeer, V1Pod } from '@kubernetes/client-node';
import type { CachedObject, SharedCache } from './cache.js';
import { objectKey } from '../protocol/keys.js';
import { labelSelectorMatches } from '../common/label-selector.js';
import {
  NETWORK_POLICY_RESOURCE, RESOLVED_PEERS_ANNOTATION, namedPortKey, namedPorts, namedPortsOf, podNetworkIp,
  type ResolvedPeers, type ResolvedRule,
} from '../protocol/network-policy.js';

export const NETPOL_PREFIX = `/registry/${NETWORK_POLICY_RESOURCE}/`;

interface Shipped {
  sig: string;
  obj: CachedObject;
}

type Labels = Record<string, string> | undefined;
const labelsOf = (o: CachedObject | undefined): Labels => (o?.metadata as { labels?: Record<string, string> } | undefined)?.labels;

/** What about a pod decides whether a policy's resolution changes. */
function fingerprint(pod: V1Pod | undefined): string {
  if (!pod) return '';
  const ip = podNetworkIp(pod);
  if (!ip) return '';
  const ports = (pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).filter((p) => p.name).map((p) => `${p.name}/${p.protocol ?? 'TCP'}/${p.containerPort}`));
  return JSON.stringify([ip, pod.metadata?.namespace, pod.metadata?.labels ?? {}, ports]);
}

const rulesOf = (np: V1NetworkPolicy) => [
  ...(np.spec?.ingress ?? []).map((r) => (r as { from?: V1NetworkPolicyPeer[] }).from),
  ...(np.spec?.egress ?? []).map((r) => r.to),
];

/** The shipped resourceVersion: the cloud's plus a tag of the resolved content (opaque to clients, as slices'). */
export function variantVersion(rv: string | undefined, sig: string): string {
  return `${rv ?? ''}-${createHash('sha256').update(sig).digest('hex').slice(0, 10)}`;
}

export class NetpolFeed {
  private readonly policiesByNs = new Map<string, Set<string>>();
  private readonly podsByNs = new Map<string, Set<string>>();
  /** namespace → node → its pods there. */
  private readonly nodesByNs = new Map<string, Map<string, number>>();
  private readonly nsOfNode = new Map<string, Set<string>>();
  private readonly shipped = new Map<string, Shipped>();

  constructor(private readonly cache: SharedCache) {}

  /** The policy keys a node should hold (those of namespaces with its pods). */
  *policyKeysFor(node: string): Iterable<string> {
    for (const ns of this.nsOfNode.get(node) ?? []) yield* this.policiesByNs.get(ns) ?? [];
  }

  policiesIn(ns: string): string[] {
    return [...(this.policiesByNs.get(ns) ?? [])];
  }

  /** Nodes that should hold the policies of `ns`. */
  nodesIn(ns: string): string[] {
    return [...(this.nodesByNs.get(ns)?.keys() ?? [])];
  }

  /** A policy changed: returns its namespace (its nodes get the new version). */
  onPolicy(key: string, obj: CachedObject, deleted: boolean): string | undefined {
    const ns = obj.metadata.namespace;
    if (!ns) return undefined;
    let set = this.policiesByNs.get(ns);
    if (deleted) set?.delete(key);
    else {
      if (!set) this.policiesByNs.set(ns, (set = new Set()));
      set.add(key);
    }
    this.shipped.delete(key);
    return ns;
  }

  /** A Namespace's labels changed: the policies with a namespaceSelector peer are resolved again. */
  onNamespace(obj: CachedObject, old: CachedObject | undefined, deleted: boolean): string[] {
    if (!deleted && JSON.stringify(labelsOf(obj) ?? {}) === JSON.stringify(labelsOf(old) ?? {})) return [];
    const out: string[] = [];
    for (const keys of this.policiesByNs.values()) for (const k of keys) {
      const np = this.cache.get(k) as V1NetworkPolicy | undefined;
      if (np && rulesOf(np).some((peers) => (peers ?? []).some((p) => p.namespaceSelector != null))) {
        this.shipped.delete(k);
        out.push(k);
      }
    }
    return out;
  }

  /**
   * A pod changed: keeps the namespace indexes; returns the (node, namespace) pairs whose membership flipped and the
   * policies whose resolution may have changed (already invalidated).
   */
  onPod(key: string, obj: CachedObject, old: CachedObject | undefined, deleted: boolean): { flips: Array<[string, string]>; policies: string[] } {
    const now = deleted ? undefined : (obj as unknown as V1Pod);
    const was = old as unknown as V1Pod | undefined;
    const flips: Array<[string, string]> = [];
    const nodeNs = (p: V1Pod | undefined) => (p?.spec?.nodeName && p.metadata?.namespace ? [p.spec.nodeName, p.metadata.namespace] as const : undefined);
    const before = nodeNs(was);
    const after = nodeNs(now);
    if (before?.[0] !== after?.[0] || before?.[1] !== after?.[1]) {
      if (before && this.count(before[0], before[1], -1) === 0) flips.push([before[0], before[1]]);
      if (after && this.count(after[0], after[1], +1) === 1) flips.push([after[0], after[1]]);
    }
    const ns = obj.metadata.namespace ?? '';
    if (deleted) this.podsByNs.get(ns)?.delete(key);
    else {
      let s = this.podsByNs.get(ns);
      if (!s) this.podsByNs.set(ns, (s = new Set()));
      s.add(key);
    }
    if (fingerprint(was) === fingerprint(now)) return { flips, policies: [] };
    const policies: string[] = [];
    for (const keys of this.policiesByNs.values()) for (const k of keys) {
      const np = this.cache.get(k) as V1NetworkPolicy | undefined;
      if (np && (this.mayResolveTo(np, was) || this.mayResolveTo(np, now))) {
        this.shipped.delete(k);
        policies.push(k);
      }
    }
    return { flips, policies };
  }

  private count(node: string, ns: string, delta: number): number {
    let m = this.nodesByNs.get(ns);
    if (!m) this.nodesByNs.set(ns, (m = new Map()));
    const n = (m.get(node) ?? 0) + delta;
    let nss = this.nsOfNode.get(node);
    if (!nss) this.nsOfNode.set(node, (nss = new Set()));
    if (n <= 0) {
      m.delete(node);
      nss.delete(ns);
      if (!m.size) this.nodesByNs.delete(ns);
      if (!nss.size) this.nsOfNode.delete(node);
    } else {
      m.set(node, n);
      nss.add(ns);
    }
    return Math.max(n, 0);
  }

  /** Whether the pod is (or could be, through a named port of a rule without peers) part of the policy's resolution. */
  private mayResolveTo(np: V1NetworkPolicy, pod: V1Pod | undefined): boolean {
    if (!pod || !podNetworkIp(pod)) return false;
    const egressNamedAll = (np.spec?.egress ?? []).some((r) => !r.to?.length && namedPorts(r.ports).length > 0);
    return egressNamedAll || rulesOf(np).some((peers) => (peers ?? []).some((p) => this.peerSelects(np, p, pod)));
  }

  private peerSelects(np: V1NetworkPolicy, peer: V1NetworkPolicyPeer, pod: V1Pod): boolean {
    if (peer.podSelector == null && peer.namespaceSelector == null) return false;
    const ns = pod.metadata?.namespace ?? '';
    const nsOk = peer.namespaceSelector != null
      ? labelSelectorMatches(peer.namespaceSelector, labelsOf(this.cache.get(objectKey('namespaces', undefined, ns))))
      : ns === np.metadata?.namespace;
    return nsOk && (peer.podSelector == null || labelSelectorMatches(peer.podSelector, pod.metadata?.labels));
  }

  /** The pods a rule's selector peers select (every pod when `all`). */
  private selected(np: V1NetworkPolicy, peers: V1NetworkPolicyPeer[] | undefined, all: boolean): V1Pod[] {
    const selectorPeers = (peers ?? []).filter((p) => p.podSelector != null || p.namespaceSelector != null);
    if (!all && !selectorPeers.length) return [];
    const namespaces = all || selectorPeers.some((p) => p.namespaceSelector != null) ? [...this.podsByNs.keys()] : [np.metadata?.namespace ?? ''];
    const out: V1Pod[] = [];
    for (const ns of namespaces) for (const k of this.podsByNs.get(ns) ?? []) {
      const pod = this.cache.get(k) as unknown as V1Pod | undefined;
      if (pod && podNetworkIp(pod) && (all || selectorPeers.some((p) => this.peerSelects(np, p, pod)))) out.push(pod);
    }
    return out;
  }

  /** Resolve a policy's rules into IPs (and, for egress named ports, destination `ip,protocol,port`). */
  resolve(np: V1NetworkPolicy): ResolvedPeers {
    const rule = (peers: V1NetworkPolicyPeer[] | undefined, ports: Parameters<typeof namedPorts>[0], egress: boolean): ResolvedRule => {
      const pods = this.selected(np, peers, false);
      const out: ResolvedRule = { ips: [...new Set(pods.map((p) => podNetworkIp(p)!))].sort() };
      const named = egress ? namedPorts(ports) : [];
      if (named.length) {
        const dests = peers?.length ? pods : this.selected(np, undefined, true);
        out.namedPorts = {};
        for (const { name, protocol } of named) {
          out.namedPorts[namedPortKey(name, protocol)] = [...new Set(dests.flatMap((p) => namedPortsOf(p, name, protocol).map((port) => `${podNetworkIp(p)},${protocol},${port}`)))].sort();
        }
      }
      return out;
    };
    return {
      ingress: (np.spec?.ingress ?? []).map((r) => rule((r as { from?: V1NetworkPolicyPeer[] }).from, r.ports, false)),
      egress: (np.spec?.egress ?? []).map((r) => rule(r.to, r.ports, true)),
    };
  }

  private shippedFor(key: string): Shipped | undefined {
    const obj = this.cache.get(key);
    if (!obj) return undefined;
    let s = this.shipped.get(key);
    if (s && s.obj.metadata.uid === obj.metadata.uid) return s;
    const resolved = JSON.stringify(this.resolve(obj as unknown as V1NetworkPolicy));
    const sig = JSON.stringify([obj.metadata.uid, obj.metadata.resourceVersion, resolved]);
    const { managedFields: _mf, ...metadata } = obj.metadata as CachedObject['metadata'] & { managedFields?: unknown; annotations?: Record<string, string> };
    // The hub's annotation replaces any a user wrote: an edge trusts only the hub's resolution.
    const annotations = { ...(metadata.annotations ?? {}), [RESOLVED_PEERS_ANNOTATION]: resolved };
    s = { sig, obj: { ...obj, metadata: { ...metadata, annotations, resourceVersion: variantVersion(obj.metadata.resourceVersion, sig) } } as CachedObject };
    this.shipped.set(key, s);
    return s;
  }

  /** The content signature `node` should hold of a policy, or undefined when it should hold none. */
  want(node: string, key: string): string | undefined {
    const ns = key.slice(NETPOL_PREFIX.length).split('/')[0]!;
    if (!this.nodesByNs.get(ns)?.has(node)) return undefined;
    return this.shippedFor(key)?.sig;
  }

  /** The policy as edges receive it. */
  objectFor(key: string): CachedObject | undefined {
    return this.shippedFor(key)?.obj;
  }
}
