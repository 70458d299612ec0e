/**
 * Topology hints on EndpointSlice endpoints, as upstream's EndpointSlice controller sets them (issue 14):
 * - `service.kubernetes.io/topology-mode: Auto` (or the older `service.kubernetes.io/topology-aware-hints: auto`):
 *   topology-aware routing. Endpoints are shared among zones in proportion to the allocatable CPU of the Ready nodes
 *   in each zone (control-plane nodes left out): every ready endpoint starts hinted to its own zone, then zones with
 *   more than their share give endpoints to zones with less. No hints (and a `TopologyAwareHintsDisabled` reason) when
 *   a node lacks a zone or CPU, fewer than 2 zones have nodes, there are fewer ready endpoints than zones, the minimum
 *   per zone cannot be met within the 20% overload threshold, or a ready endpoint has no zone.
 * - otherwise `spec.trafficDistribution: PreferClose` / `PreferSameZone`: each ready endpoint hinted to its own zone;
 *   `PreferSameNode` adds its node (`forNodes`).
 * - otherwise no hints.
 * Consumers (the hub's endpoint filter, kube-proxy) use hints only when every endpoint has one for the node's zone.
 */
import type { V1Endpoint, V1Node, V1Service } from '@kubernetes/client-node';
import { milliValueOf } from '../../common/quantity.js';
import { TOPOLOGY_MODE_ANNOTATION, ZONE_LABEL } from '../../common/topology.js';

const LEGACY_HINTS_ANNOTATION = 'service.kubernetes.io/topology-aware-hints';
/** The most any endpoint may be overloaded by the allocation (upstream's overloadThreshold). */
const OVERLOAD_THRESHOLD = 0.2;
const CLOSE_DISTRIBUTIONS = new Set(['PreferClose', 'PreferSameZone', 'PreferSameNode']);

export interface HintResult {
  /** The endpoints with their hints set (copies; `hints` removed where none apply). */
  endpoints: V1Endpoint[];
  /** Why Auto hints are off, for a Warning event (undefined when hints apply or were not asked for). */
  disabledReason?: string;
}

const isReady = (e: V1Endpoint) => e.conditions?.ready === true;
const withoutHints = (eps: V1Endpoint[]): V1Endpoint[] => eps.map(({ hints: _h, ...rest }) => rest);

/** The Service asks for topology-aware routing's Auto hints. */
export function autoHintsRequested(svc: V1Service): boolean {
  const a = svc.metadata?.annotations ?? {};
  const mode = a[TOPOLOGY_MODE_ANNOTATION] ?? a[LEGACY_HINTS_ANNOTATION];
  return mode === 'Auto' || mode === 'auto';
}

/** Share of allocatable CPU per zone among Ready, non-control-plane nodes; a string says why there is none. */
export function cpuRatiosByZone(nodes: Iterable<V1Node>): Map<string, number> | string {
  const byZone = new Map<string, number>();
  let total = 0;
  for (const n of nodes) {
    const labels = n.metadata?.labels ?? {};
    if ('node-role.kubernetes.io/control-plane' in labels || 'node-role.kubernetes.io/master' in labels) continue;
    if (!n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const zone = labels[ZONE_LABEL];
    const cpu = milliValueOf(n.status?.allocatable?.cpu);
    if (!zone || cpu <= 0) return 'Insufficient Node information: allocatable CPU or zone not specified on one or more nodes';
    byZone.set(zone, (byZone.get(zone) ?? 0) + cpu);
    total += cpu;
  }
  if (byZone.size < 2) return 'Nodes only ready in one zone';
  return new Map([...byZone].map(([z, cpu]) => [z, cpu / total]));
}

/** Endpoints each zone should serve (desired, at least its minimum), or why no allocation stays under the threshold. */
function allocations(ratios: Map<string, number>, ready: number): Map<string, { minimum: number; desired: number }> | string {
  if (ratios.size > ready) return `Insufficient number of endpoints (${ready} endpoints, ${ratios.size} zones)`;
  const out = new Map<string, { minimum: number; desired: number }>();
  let remaining = ready;
  for (const [zone, ratio] of ratios) {
    const desired = ratio * ready;
    const minimum = Math.ceil(desired / (1 + OVERLOAD_THRESHOLD));
    remaining -= minimum;
    if (remaining < 0) return `Unable to allocate minimum required endpoints to each zone without exceeding overload threshold (${ready} endpoints, ${ratios.size} zones)`;
    out.set(zone, { minimum, desired: Math.max(desired, minimum) });
  }
  return out;
}

/** How many endpoints each zone gives away and receives, in whole endpoints (a zone over its share gives). */
function transfers(alloc: Map<string, { desired: number }>, hinted: Map<string, number>): { giving: Map<string, number>; receiving: Map<string, number> } {
  const give = new Map<string, number>();
  const take = new Map<string, number>();
  for (const [zone, a] of alloc) {
    const have = hinted.get(zone) ?? 0;
    if (have > a.desired) give.set(zone, have - a.desired);
    else if (have < a.desired) take.set(zone, a.desired - have);
  }
  const most = (m: Map<string, number>): [string, number] => [...m].reduce<[string, number]>((best, cur) => (cur[1] > best[1] ? cur : best), ['', 0]);
  const giving = new Map<string, number>();
  const receiving = new Map<string, number>();
  for (;;) {
    const [g, ng] = most(give);
    const [r, nr] = most(take);
    if (!g || !r || (ng < 1 && nr < 1) || ng < 0.5 || nr < 0.5) break;
    giving.set(g, (giving.get(g) ?? 0) + 1);
    give.set(g, ng - 1);
    receiving.set(r, (receiving.get(r) ?? 0) + 1);
    take.set(r, nr - 1);
  }
  return { giving, receiving };
}

function autoHints(endpoints: V1Endpoint[], nodes: Iterable<V1Node>): HintResult {
  const ratios = cpuRatiosByZone(nodes);
  if (typeof ratios === 'string') return { endpoints: withoutHints(endpoints), disabledReason: ratios };
  const ready = endpoints.filter(isReady);
  const alloc = allocations(ratios, ready.length);
  if (typeof alloc === 'string') return { endpoints: withoutHints(endpoints), disabledReason: alloc };
  if (ready.some((e) => !e.zone)) return { endpoints: withoutHints(endpoints), disabledReason: 'One or more endpoints do not have a zone specified' };
  const hinted = new Map<string, number>();
  const out = endpoints.map((e): V1Endpoint => {
    const { hints: _h, ...rest } = e;
    if (!isReady(e)) return rest;
    hinted.set(e.zone!, (hinted.get(e.zone!) ?? 0) + 1);
    return { ...rest, hints: { forZones: [{ name: e.zone! }] } };
  });
  const { giving, receiving } = transfers(alloc, hinted);
  for (const e of out) {
    if (!isReady(e) || !giving.size || !receiving.size) continue;
    const left = giving.get(e.zone!);
    if (!left) continue;
    const to = [...receiving.keys()].sort()[0]!;
    e.hints = { forZones: [{ name: to }] };
    if (left === 1) giving.delete(e.zone!);
    else giving.set(e.zone!, left - 1);
    const want = receiving.get(to)!;
    if (want === 1) receiving.delete(to);
    else receiving.set(to, want - 1);
  }
  return { endpoints: out };
}

function closeHints(endpoints: V1Endpoint[], sameNode: boolean): V1Endpoint[] {
  return endpoints.map((e) => {
    const { hints: _h, ...rest } = e;
    if (!isReady(e)) return rest;
    const forZones = e.zone ? [{ name: e.zone }] : undefined;
    const forNodes = sameNode && e.nodeName ? [{ name: e.nodeName }] : undefined;
    if (!forZones && !forNodes) return rest;
    return { ...rest, hints: { ...(forZones ? { forZones } : {}), ...(forNodes ? { forNodes } : {}) } as V1Endpoint['hints'] };
  });
}

/** The endpoints of `svc`'s slice with the hints its topology settings call for. */
export function withTopologyHints(svc: V1Service, endpoints: V1Endpoint[], nodes: () => Iterable<V1Node>): HintResult {
  if (autoHintsRequested(svc)) return autoHints(endpoints, nodes());
  const dist = (svc.spec as (V1Service['spec'] & { trafficDistribution?: string }) | undefined)?.trafficDistribution;
  if (dist && CLOSE_DISTRIBUTIONS.has(dist)) return { endpoints: closeHints(endpoints, dist === 'PreferSameNode') };
  return { endpoints: withoutHints(endpoints) };
}
