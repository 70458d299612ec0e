import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { canonicalJson } from '../util/pods.js';

/** K3s's node labels: with any node `enablelb=true`, only those nodes serve; `lbpool` ties Services to nodes. */
export const EnableLbLabel = 'svccontroller.k3s.cattle.io/enablelb';
export const LbPoolLabel = 'svccontroller.k3s.cattle.io/lbpool';
/** Kedge's edge pools: a Service labelled with a pool is served by that pool's nodes only. */
export const NodePoolLabel = 'apps.openyurt.io/nodepool';
/** `spec.loadBalancerClass` this controller answers (besides none); another class belongs to another implementation. */
export const ServiceLbClass = 'kedge.io/servicelb';

/** "80/TCP": two Services collide on a node when they want the same port and protocol there. */
const portKey = (p: { port: number; protocol?: string }): string => `${p.port}/${p.protocol ?? 'TCP'}`;

export function isServiceLbService(svc: V1Service): boolean {
  if (svc.spec?.type !== 'LoadBalancer' || svc.metadata?.deletionTimestamp) return false;
  const cls = svc.spec.loadBalancerClass;
  return cls === undefined || cls === null || cls === '' || cls === ServiceLbClass;
}

function nodeReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The address clients reach a node on: ExternalIP if it has one, else InternalIP (as K3s's ServiceLB). */
export function nodeAddress(node: V1Node): string | undefined {
  const addrs = node.status?.addresses ?? [];
  return addrs.find((a) => a.type === 'ExternalIP')?.address ?? addrs.find((a) => a.type === 'InternalIP')?.address;
}

/** Nodes allowed to serve `svc`, before port conflicts: enablelb allow-list, then the Service's pool labels. */
export function eligibleNodes(svc: V1Service, nodes: readonly V1Node[]): V1Node[] {
  const allowList = nodes.some((n) => n.metadata?.labels?.[EnableLbLabel] === 'true');
  const svcLabels = svc.metadata?.labels ?? {};
  return nodes.filter((n) => {
    const labels = n.metadata?.labels ?? {};
    if (allowList ? labels[EnableLbLabel] !== 'true' : labels[EnableLbLabel] === 'false') return false;
    for (const key of [LbPoolLabel, NodePoolLabel]) {
      if (svcLabels[key] !== undefined && labels[key] !== svcLabels[key]) return false;
    }
    return nodeReady(n) && nodeAddress(n) !== undefined;
  });
}

export interface LoadBalancerPlacement {
  /** Node names holding the Service's ports (sorted). */
  nodes: string[];
  /**
   * Their addresses, as status.loadBalancer.ingress (sorted, unique); with `externalTrafficPolicy: Local` only of
   * the nodes that run a ready endpoint (K3s: "only advertise addresses of Nodes with a Pod for the Service").
   */
  ingress: string[];
  /** Eligible nodes left out because an older LB Service holds one of the ports there: node → "80/TCP by ns/name". */
  conflicts: Map<string, string>;
}

/** Older first, then by key: the Service that came first keeps its ports on a node (K3s: the later svclb pod stays Pending). */
function byAge(a: V1Service, b: V1Service): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  if (ta !== tb) return ta < tb ? -1 : 1;
  return keyOf(a) < keyOf(b) ? -1 : 1;
}

/**
 * Where every ServiceLB Service is served: its eligible nodes minus those where an older LB Service already holds
 * one of its ports. Pure, so every sync computes the same answer from the same caches.
 */
export function placeLoadBalancers(services: readonly V1Service[], nodes: readonly V1Node[], slices: readonly V1EndpointSlice[] = []): Map<string, LoadBalancerPlacement> {
  const endpointNodes = readyEndpointNodes(slices);
  const held = new Map<string, Map<string, string>>(); // node → port → holder key
  const out = new Map<string, LoadBalancerPlacement>();
  for (const svc of services.filter(isServiceLbService).sort(byAge)) {
    const ports = (svc.spec?.ports ?? []).map(portKey);
    const placement: LoadBalancerPlacement = { nodes: [], ingress: [], conflicts: new Map() };
    for (const node of eligibleNodes(svc, nodes)) {
      const name = node.metadata!.name!;
      const taken = held.get(name) ?? new Map<string, string>();
      const clash = ports.find((p) => taken.has(p));
      if (clash) {
        placement.conflicts.set(name, `${clash} by ${taken.get(clash)}`);
        continue;
      }
      for (const p of ports) taken.set(p, keyOf(svc));
      held.set(name, taken);
      placement.nodes.push(name);
      // The port is held on the node either way (K3s's svclb pod runs there); only the advertised address narrows.
      if (svc.spec?.externalTrafficPolicy !== 'Local' || endpointNodes.get(keyOf(svc))?.has(name)) placement.ingress.push(nodeAddress(node)!);
    }
    placement.nodes.sort();
    placement.ingress = [...new Set(placement.ingress)].sort();
    out.set(keyOf(svc), placement);
  }
  return out;
}

/** Service key → nodes with a ready endpoint of it (EndpointSlices' nodeName). */
function readyEndpointNodes(slices: readonly V1EndpointSlice[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false || !e.nodeName) continue;
      let set = out.get(key);
      if (!set) out.set(key, (set = new Set()));
      set.add(e.nodeName);
    }
  }
  return out;
}

/**
 * K3s's ServiceLB without its svclb DaemonSet pods: a LoadBalancer Service gets the addresses of the nodes that
 * serve it in `status.loadBalancer.ingress`; each edge node's service proxy (src/edge/proxy) accepts the Service's
 * ports on its own address, as the svclb pods' hostPorts do. A Service with no node left stays Pending with a
 * Warning event saying why.
 */
export class ServiceLbController implements Controller {
  readonly name = 'servicelb';
  private readonly runner: QueueRunner;
  /** Last Pending reason reported per Service, so an unchanged reason is not re-announced on every sync. */
  private readonly reported = new Map<string, string>();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const svcs = this.ctx.informers.get<V1Service>('services');
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    // Placement depends on every LB Service and node: any change re-checks all LB Services (few, cheap).
    const all = () => { for (const s of svcs.list()) if (s.spec?.type === 'LoadBalancer') this.runner.queue.add(keyOf(s)); };
    svcs.onAdd(all);
    svcs.onUpdate(all);
    svcs.onDelete((s) => { this.reported.delete(keyOf(s)); all(); });
    // Nodes renew their status every few seconds: only a change of what placement reads re-checks the Services.
    const servingState = new Map<string, string>();
    const nodeChanged = (n: V1Node) => {
      const state = nodeServingState(n);
      if (servingState.get(keyOf(n)) === state) return;
      servingState.set(keyOf(n), state);
      all();
    };
    // externalTrafficPolicy Local advertises only nodes with a ready endpoint: slices of such Services matter.
    const slices = this.ctx.informers.get<V1EndpointSlice>('endpointslices');
    const sliceChanged = (sl: V1EndpointSlice) => {
      const name = sl.metadata?.labels?.['kubernetes.io/service-name'];
      const svc = name ? svcs.get(name, sl.metadata?.namespace) : undefined;
      if (svc?.spec?.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local') this.runner.queue.add(keyOf(svc));
    };
    slices.onAdd(sliceChanged);
    slices.onUpdate(sliceChanged);
    slices.onDelete(sliceChanged);
    nodes.onAdd(nodeChanged);
    nodes.onUpdate(nodeChanged);
    nodes.onDelete((n) => { servingState.delete(keyOf(n)); all(); });
    this.runner.run(1);
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svcs = this.ctx.informers.get<V1Service>('services');
    const svc = svcs.get(name, namespace);
    if (!svc || svc.spec?.type !== 'LoadBalancer') return;
    const ref = { apiVersion: 'v1', kind: 'Service', namespace, name };
    if (!isServiceLbService(svc)) return; // another loadBalancerClass: its implementation owns the status
    const placement = placeLoadBalancers(svcs.list(), this.ctx.informers.get<V1Node>('nodes').list(), this.ctx.informers.get<V1EndpointSlice>('endpointslices').list(namespace)).get(key)!;
    const ingress = placement.ingress.map((ip) => ({ ip, ipMode: 'VIP' }));
    if (canonicalJson(svc.status?.loadBalancer?.ingress ?? []) !== canonicalJson(ingress)) {
      // Merge patch: `ingress: []` would leave an empty list behind; null removes the field, as upstream shows Pending.
      await this.ctx.api.patchStatus(ref, { status: { loadBalancer: ingress.length ? { ingress } : { ingress: null } } });
      if (ingress.length) this.ctx.events.event(svc, 'Normal', 'UpdatedLoadBalancer', `Updated LoadBalancer with new IPs: ${placement.ingress.join(', ')}`);
    }
    const reason = ingress.length === 0 ? pendingReason(placement) : '';
    if (reason && this.reported.get(key) !== reason) this.ctx.events.event(svc, 'Warning', 'SyncLoadBalancerFailed', reason);
    this.reported.set(key, reason);
  }

  async stop(): Promise<void> {
    await this.runner.stop();
  }
}

/** The part of a Node that placement reads: a heartbeat-only status update changes nothing. */
function nodeServingState(n: V1Node): string {
  return canonicalJson({ labels: n.metadata?.labels ?? {}, ready: nodeReady(n), address: nodeAddress(n) ?? '' });
}

function pendingReason(p: LoadBalancerPlacement): string {
  if (p.nodes.length > 0) return 'externalTrafficPolicy is Local and no serving node runs a ready endpoint of this Service';
  if (p.conflicts.size === 0) return 'no ready node can serve this Service (ServiceLB: check the svccontroller.k3s.cattle.io/enablelb and lbpool labels, or the Service\'s nodepool label)';
  const detail = [...p.conflicts].sort().map(([node, why]) => `${node}: port ${why}`).join('; ');
  return `no node can serve this Service: its ports are held by other LoadBalancer Services (${detail})`;
}
