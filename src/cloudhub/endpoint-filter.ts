/**
 * Which endpoints of an EndpointSlice a node should use, decided at the hub so a node is sent only those (issue 14):
 * - OpenYurt's `openyurt.io/topologyKeys` Service annotation (as YurtHub's servicetopology filter):
 *   `kubernetes.io/hostname` → endpoints on the same node; `openyurt.io/nodepool` or `kubernetes.io/zone` → endpoints
 *   on nodes of the same NodePool. Strict: a node with none of them gets none (traffic never leaves the node/pool).
 * - Upstream topology-aware routing (`spec.trafficDistribution: PreferClose`/`PreferSameZone`/`PreferSameNode`, or the
 *   `service.kubernetes.io/topology-mode` annotation): when every endpoint carries `hints.forZones` and at least one
 *   names the node's zone (`topology.kubernetes.io/zone`), only those; otherwise all (kube-proxy's rule).
 * The annotation wins over hints. A slice of a Service with neither is the same for every node ("unscoped").
 */
import type { V1Endpoint, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { TOPOLOGY_MODE_ANNOTATION, ZONE_LABEL } from '../common/topology.js';

export const TOPOLOGY_KEYS_ANNOTATION = 'openyurt.io/topologyKeys';
export { TOPOLOGY_MODE_ANNOTATION, ZONE_LABEL };

export type TopologyScope = 'node' | 'pool';

/** trafficDistribution values whose zone hints kube-proxy honours (PreferSameNode's node hints are not applied here). */
const ZONE_DISTRIBUTIONS = new Set(['PreferClose', 'PreferSameZone', 'PreferSameNode']);

/** The Service's OpenYurt topology scope, or undefined (no annotation, or a key it does not know). */
export function topologyScope(svc: V1Service | undefined): TopologyScope | undefined {
  const v = svc?.metadata?.annotations?.[TOPOLOGY_KEYS_ANNOTATION];
  if (!v) return undefined;
  if (v.includes('kubernetes.io/hostname')) return 'node';
  if (v.includes('openyurt.io/nodepool') || v.includes('kubernetes.io/zone')) return 'pool';
  return undefined;
}

function usesHints(svc: V1Service | undefined, slice: V1EndpointSlice): boolean {
  const spec = svc?.spec as (V1Service['spec'] & { trafficDistribution?: string }) | undefined;
  const mode = svc?.metadata?.annotations?.[TOPOLOGY_MODE_ANNOTATION];
  const close = spec?.trafficDistribution !== undefined && ZONE_DISTRIBUTIONS.has(spec.trafficDistribution);
  if (!close && (mode === undefined || mode === '' || mode === 'Disabled')) return false;
  const eps = slice.endpoints ?? [];
  return eps.length > 0 && eps.every((e) => (e.hints?.forZones?.length ?? 0) > 0);
}

/** Whether nodes may get different versions of this slice (then it is sent per node, filtered). */
export function isScopedSlice(svc: V1Service | undefined, slice: V1EndpointSlice): boolean {
  return topologyScope(svc) !== undefined || usesHints(svc, slice);
}

export interface NodePlace {
  name: string;
  pool?: string;
  zone?: string;
}

/** The endpoints `node` should use; `poolOf` gives an endpoint's node's pool. */
export function endpointsForNode(svc: V1Service | undefined, slice: V1EndpointSlice, node: NodePlace, poolOf: (nodeName: string) => string | undefined): V1Endpoint[] {
  const eps = slice.endpoints ?? [];
  const scope = topologyScope(svc);
  if (scope === 'node') return eps.filter((e) => e.nodeName === node.name);
  if (scope === 'pool') {
    if (node.pool === undefined) return eps.filter((e) => e.nodeName === node.name);
    return eps.filter((e) => e.nodeName !== undefined && (e.nodeName === node.name || poolOf(e.nodeName) === node.pool));
  }
  if (usesHints(svc, slice) && node.zone !== undefined) {
    const mine = eps.filter((e) => e.hints?.forZones?.some((z) => z.name === node.zone));
    if (mine.length) return mine;
  }
  return eps;
}
