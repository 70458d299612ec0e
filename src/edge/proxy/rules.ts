/**
 * What the node's service proxy should do, computed from the local store's Services, EndpointSlices and this node's
 * Node — a pure function (unit-tested), rendered into nftables chains by nft.ts. Semantics follow kube-proxy:
 * - ClusterIP (also of NodePort/LoadBalancer Services) and NodePort (on the node's own addresses) per port and
 *   protocol; headless (`clusterIP: None`) and ExternalName Services are not proxied.
 * - LoadBalancer: each `status.loadBalancer.ingress[].ip` on the Service port, as external traffic (kube-proxy's
 *   load-balancer IPs). With ServiceLB (src/controllers/services/servicelb.ts) those are the serving nodes' own
 *   addresses, so a node accepts the Service port on its address as the svclb pods' hostPorts do in K3s.
 * - Endpoints: IPv4 slices of the Service (`kubernetes.io/service-name`), `ready` ones (unset = ready); when none is
 *   ready, the serving-and-terminating ones (kube-proxy's fallback). The hub already sent this node only the
 *   endpoints it should use (topologyKeys, PreferClose hints: src/cloudhub/endpoint-filter.ts).
 * - `internalTrafficPolicy: Local` (cluster traffic) and `externalTrafficPolicy: Local` (NodePort traffic): only
 *   endpoints with `nodeName` = this node, none → rejected.
 * - `sessionAffinity: ClientIP`: a client keeps its endpoint for `timeoutSeconds` (default 10800).
 * - A service port with no usable endpoint is rejected (ICMP), as kube-proxy does.
 */
import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

export type L4 = 'tcp' | 'udp' | 'sctp';

export interface ProxyEndpoint {
  ip: string;
  port: number;
  /** On this node (internalTrafficPolicy/externalTrafficPolicy Local, hairpin masquerade). */
  local: boolean;
}

export interface ProxyServicePort {
  /** `namespace/name:portName/protocol`: stable, human-readable identity. */
  id: string;
  protocol: L4;
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** IPv4 `status.loadBalancer.ingress` addresses: traffic to them on `port` is external traffic. */
  loadBalancerIPs?: string[];
  /** Endpoints for traffic to the ClusterIP (internalTrafficPolicy applied). */
  clusterEndpoints: ProxyEndpoint[];
  /** Endpoints for traffic to the NodePort and load-balancer IPs (externalTrafficPolicy applied). */
  externalEndpoints: ProxyEndpoint[];
  /** NodePort traffic keeps its client address (externalTrafficPolicy Local): not masqueraded. */
  externalLocal: boolean;
  /** sessionAffinity ClientIP timeout in seconds, or undefined. */
  affinitySeconds?: number;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const DEFAULT_AFFINITY_SECONDS = 10800;

function l4(protocol: string | undefined): L4 | undefined {
  const p = (protocol ?? 'TCP').toLowerCase();
  return p === 'tcp' || p === 'udp' || p === 'sctp' ? p : undefined;
}

/** Usable endpoints of one service port from its slices: ready, else serving+terminating (kube-proxy's fallback). */
function endpointsFor(slices: V1EndpointSlice[], portName: string, protocol: L4, nodeName: string): ProxyEndpoint[] {
  const ready: ProxyEndpoint[] = [];
  const terminating: ProxyEndpoint[] = [];
  const seen = new Set<string>();
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const port = (s.ports ?? []).find((p) => (p.name ?? '') === portName && l4(p.protocol) === protocol);
    if (port?.port === undefined) continue;
    for (const e of s.endpoints ?? []) {
      const ip = e.addresses?.[0];
      if (!ip) continue;
      const key = `${ip}:${port.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const ep = { ip, port: port.port, local: e.nodeName === nodeName };
      if (e.conditions?.ready !== false) ready.push(ep);
      else if (e.conditions?.serving === true && e.conditions.terminating === true) terminating.push(ep);
    }
  }
  const out = ready.length ? ready : terminating;
  return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** Every proxied service port, sorted by id. `slicesByService` is keyed `namespace/name`. */
export function serviceProxyPorts(services: Iterable<V1Service>, slicesByService: Map<string, V1EndpointSlice[]>, nodeName: string): ProxyServicePort[] {
  const out: ProxyServicePort[] = [];
  for (const svc of services) {
    const spec = svc.spec;
    const clusterIP = spec?.clusterIP;
    if (!spec || spec.type === 'ExternalName' || !clusterIP || clusterIP === 'None') continue;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(clusterIP)) continue; // IPv6 ClusterIPs: not proxied (IPv4 only)
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const slices = slicesByService.get(key) ?? [];
    const loadBalancerIPs = spec.type === 'LoadBalancer'
      ? [...new Set((svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)))].sort()
      : [];
    const affinitySeconds = spec.sessionAffinity === 'ClientIP' ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS : undefined;
    for (const p of spec.ports ?? []) {
      const protocol = l4(p.protocol);
      if (!protocol || !p.port) continue;
      const all = endpointsFor(slices, p.name ?? '', protocol, nodeName);
      const localOnly = all.filter((e) => e.local);
      const externalLocal = spec.externalTrafficPolicy === 'Local';
      out.push({
        id: `${key}:${p.name ?? ''}/${protocol}`,
        protocol,
        clusterIP,
        port: p.port,
        ...(p.nodePort && (spec.type === 'NodePort' || spec.type === 'LoadBalancer') ? { nodePort: p.nodePort } : {}),
        ...(loadBalancerIPs.length ? { loadBalancerIPs } : {}),
        clusterEndpoints: spec.internalTrafficPolicy === 'Local' ? localOnly : all,
        externalEndpoints: externalLocal ? localOnly : all,
        externalLocal,
        ...(affinitySeconds !== undefined ? { affinitySeconds } : {}),
      });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Group slices by their Service (`namespace/name`). */
export function slicesByService(slices: Iterable<V1EndpointSlice>): Map<string, V1EndpointSlice[]> {
  const m = new Map<string, V1EndpointSlice[]>();
  for (const s of slices) {
    const name = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!name) continue;
    const k = `${s.metadata?.namespace}/${name}`;
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(s);
  }
  return m;
}

/** A short stable tag for chain and set names (nft names must be identifiers; ids carry '/', ':' freely). */
export function tag(s: string): string {
  return createHash('sha256').update(s).digest('base64url').replace(/[-_]/g, 'x').slice(0, 10).toUpperCase();
}
