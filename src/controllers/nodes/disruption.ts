import type { V1Node } from '@kubernetes/client-node';

/**
 * Zones and disruption modes as kube-controller-manager's node lifecycle controller has them
 * (pkg/controller/nodelifecycle: ComputeZoneState, handleDisruption, the per-zone NoExecute tainter's rate):
 * a zone whose nodes are all not Ready is in full disruption and no node of it gets a NoExecute taint (the
 * network, not the nodes, is the likelier cause); when every zone is, the controller assumes the control plane
 * lost its network and takes the NoExecute taints off every node. A zone with more than two not-Ready nodes and at
 * least `unhealthyZoneThreshold` of them not Ready is partially disrupted: its nodes are tainted at the secondary
 * rate when the zone is larger than `largeClusterSizeThreshold`, else not at all. Otherwise NoExecute taints are
 * added at `nodeEvictionRate` per second per zone (token bucket of burst 1, so the first one is immediate).
 */
export interface DisruptionOptions {
  /** --node-eviction-rate: NoExecute taints per second per healthy zone (upstream 0.1). */
  nodeEvictionRate: number;
  /** --secondary-node-eviction-rate: per second in a partially disrupted large zone (upstream 0.01). */
  secondaryNodeEvictionRate: number;
  /** --unhealthy-zone-threshold: fraction of not-Ready nodes (and more than 2) that makes a zone partially disrupted (0.55). */
  unhealthyZoneThreshold: number;
  /** --large-cluster-size-threshold: zones up to this size stop tainting in partial disruption (50). */
  largeClusterSizeThreshold: number;
}

export const upstreamDisruptionDefaults: DisruptionOptions = {
  nodeEvictionRate: 0.1,
  secondaryNodeEvictionRate: 0.01,
  unhealthyZoneThreshold: 0.55,
  largeClusterSizeThreshold: 50,
};

export type ZoneState = 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** Upstream's zone key: region and zone labels (topology.kubernetes.io, falling back to the deprecated beta ones). */
export function zoneKey(node: V1Node): string {
  const l = node.metadata?.labels ?? {};
  const region = l['topology.kubernetes.io/region'] ?? l['failure-domain.beta.kubernetes.io/region'] ?? '';
  const zone = l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone'] ?? '';
  return region || zone ? `${region}:\0:${zone}` : '';
}

export function zoneState(ready: number, notReady: number, threshold: number): ZoneState {
  if (notReady > 0 && ready === 0) return 'FullDisruption';
  if (notReady > 2 && notReady / (ready + notReady) >= threshold) return 'PartialDisruption';
  return 'Normal';
}

const isReady = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Per zone: its state and whether a node of it may be given a NoExecute taint now (consuming the zone's token). */
export class ZoneTainter {
  private readonly nextTaintAt = new Map<string, number>();
  private states = new Map<string, { state: ZoneState; size: number }>();
  /** Every zone is fully disrupted: upstream's "master disruption mode". */
  allFullyDisrupted = false;

  constructor(private readonly o: DisruptionOptions) {}

  /** Recomputes every zone's state from all nodes' Ready conditions. */
  observe(nodes: readonly V1Node[]): void {
    const counts = new Map<string, { ready: number; notReady: number }>();
    for (const n of nodes) {
      const k = zoneKey(n);
      let c = counts.get(k);
      if (!c) counts.set(k, (c = { ready: 0, notReady: 0 }));
      if (isReady(n)) c.ready++;
      else c.notReady++;
    }
    this.states = new Map([...counts].map(([k, c]) => [k, { state: zoneState(c.ready, c.notReady, this.o.unhealthyZoneThreshold), size: c.ready + c.notReady }]));
    this.allFullyDisrupted = this.states.size > 0 && [...this.states.values()].every((s) => s.state === 'FullDisruption');
  }

  state(node: V1Node): ZoneState {
    return this.states.get(zoneKey(node))?.state ?? 'Normal';
  }

  /** The taints-per-second this node's zone allows now (0 = none). */
  rate(node: V1Node): number {
    const z = this.states.get(zoneKey(node));
    if (this.allFullyDisrupted || !z || z.state === 'FullDisruption') return z ? 0 : this.o.nodeEvictionRate;
    if (z.state === 'PartialDisruption') return z.size > this.o.largeClusterSizeThreshold ? this.o.secondaryNodeEvictionRate : 0;
    return this.o.nodeEvictionRate;
  }

  /** Takes the zone's token if the rate allows a NoExecute taint now. */
  tryTaint(node: V1Node, now: number): boolean {
    const rate = this.rate(node);
    if (!(rate > 0)) return false;
    const k = zoneKey(node);
    if (now < (this.nextTaintAt.get(k) ?? 0)) return false;
    this.nextTaintAt.set(k, now + 1000 / rate);
    return true;
  }
}
