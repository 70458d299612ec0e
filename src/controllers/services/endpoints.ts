import type {
  V1Node,
  CoreV1EndpointPort as V1EndpointPort,
  V1Endpoints,
  V1EndpointSlice,
  V1EndpointAddress,
  V1Pod,
  V1Service,
  V1ServicePort,
  V1Endpoint as DiscoveryV1Endpoint,
  DiscoveryV1EndpointPort,
} from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { canonicalJson, isPodReady } from '../util/pods.js';
import { labelSelectorMatches } from '../util/selectors.js';
import { ZONE_LABEL } from '../../common/topology.js';
import { autoHintsRequested, withTopologyHints } from './hints.js';
import type { SharedInformer } from '../informers.js';

export const ServiceNameLabel = 'kubernetes.io/service-name';

const ManagedByLabel = 'endpointslice.kubernetes.io/managed-by';
const ManagedBy = 'endpointslice-controller.k8s.io';

/** A Service port's target on one pod: a number, or a named container port (undefined if the pod lacks it). */
function targetPort(sp: V1ServicePort, pod: V1Pod): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(String(t))) return Number(t);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === t && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

interface Member {
  pod: V1Pod;
  ip: string;
  ready: boolean;
  terminating: boolean;
  ports: Array<{ name?: string; port: number; protocol: string; appProtocol?: string }>;
}

/**
 * A pod's DNS hostname under a Service (`<hostname>.<subdomain>.<ns>.svc`): set when the pod names the Service as its
 * subdomain and has a hostname, as upstream's endpoint and EndpointSlice controllers do; cluster DNS serves it.
 */
export function endpointHostname(svc: V1Service, pod: V1Pod): string | undefined {
  const hostname = pod.spec?.hostname;
  return hostname && pod.spec?.subdomain === svc.metadata?.name && pod.metadata?.namespace === svc.metadata?.namespace ? hostname : undefined;
}

/** Pods a Service selects, with readiness as EndpointSlice conditions express it. */
export function serviceMembers(svc: V1Service, pods: readonly V1Pod[]): Member[] {
  const sel = svc.spec?.selector;
  if (!sel) return [];
  const out: Member[] = [];
  for (const pod of pods) {
    if (!labelSelectorMatches({ matchLabels: sel }, pod.metadata?.labels)) continue;
    const ip = pod.status?.podIP;
    if (!ip || !pod.spec?.nodeName) continue;
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const terminating = Boolean(pod.metadata?.deletionTimestamp);
    const ports: Member['ports'] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = targetPort(sp, pod);
      if (port !== undefined) ports.push({ name: sp.name, port, protocol: sp.protocol ?? 'TCP', appProtocol: sp.appProtocol });
    }
    out.push({ pod, ip, ready: isPodReady(pod) && !terminating, terminating, ports });
  }
  return out.sort((a, b) => (a.pod.metadata!.name! < b.pod.metadata!.name! ? -1 : 1));
}

/**
 * Endpoints and EndpointSlices for Services with a selector, following pod readiness. One EndpointSlice per
 * Service and address family (we do not split at 100 endpoints; a single slice holds them all).
 */
export class EndpointsController implements Controller {
  readonly name = 'endpoints';
  private readonly runner: QueueRunner;
  /** Per Service, why its topology hints are off (an event is recorded when this changes). */
  private readonly hintsDisabled = new Map<string, string>();

  constructor(private readonly ctx: ControllerContext, private readonly which: { endpoints: boolean; slices: boolean }) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const svcs = this.ctx.informers.get<V1Service>('services');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    if (this.which.slices) this.ctx.informers.get<V1EndpointSlice>('endpointslices');
    if (this.which.endpoints) this.ctx.informers.get<V1Endpoints>('endpoints');
    const q = this.runner.queue;
    svcs.onAdd((s) => q.add(keyOf(s)));
    svcs.onUpdate((s) => q.add(keyOf(s)));
    svcs.onDelete((s) => q.add(keyOf(s)));
    const forPod = (p: V1Pod) => {
      for (const s of svcs.list(p.metadata?.namespace)) {
        if (s.spec?.selector && labelSelectorMatches({ matchLabels: s.spec.selector }, p.metadata?.labels)) q.add(keyOf(s));
      }
    };
    // Label changes can move a pod out of a Service: check against old and new by re-syncing all candidates.
    pods.onAdd(forPod);
    pods.onUpdate(forPod);
    pods.onDelete(forPod);
    const prevLabels = new Map<string, string>();
    pods.onUpdate((p) => {
      const k = keyOf(p);
      const l = canonicalJson(p.metadata?.labels ?? {});
      const before = prevLabels.get(k);
      if (before !== undefined && before !== l) for (const s of svcs.list(p.metadata?.namespace)) q.add(keyOf(s));
      prevLabels.set(k, l);
    });
    pods.onAdd((p) => prevLabels.set(keyOf(p), canonicalJson(p.metadata?.labels ?? {})));
    pods.onDelete((p) => prevLabels.delete(keyOf(p)));
    if (this.which.slices) this.watchNodeTopology(svcs);
    this.runner.run();
  }

  /**
   * Endpoints carry their node's zone, and Auto hints follow the zones' Ready CPU: a node's zone changing re-syncs
   * every Service; its readiness or CPU changing re-syncs the Services with topology-mode Auto (heartbeats change neither).
   */
  private watchNodeTopology(svcs: SharedInformer<V1Service>): void {
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const seen = new Map<string, { zone: string; health: string }>();
    const onNode = (n: V1Node, gone = false) => {
      const name = n.metadata!.name!;
      const zone = gone ? '' : n.metadata?.labels?.[ZONE_LABEL] ?? '';
      const health = gone ? '' : `${n.status?.conditions?.find((c) => c.type === 'Ready')?.status}|${n.status?.allocatable?.cpu ?? ''}`;
      const before = seen.get(name);
      if (gone) seen.delete(name);
      else seen.set(name, { zone, health });
      if (!before && !zone) return;
      const all = svcs.list();
      if (before?.zone !== zone) for (const svc of all) this.runner.queue.add(keyOf(svc));
      else if (before?.health !== health) for (const svc of all) if (autoHintsRequested(svc)) this.runner.queue.add(keyOf(svc));
    };
    nodes.onAdd((n) => onNode(n));
    nodes.onUpdate((n) => onNode(n));
    nodes.onDelete((n) => onNode(n, true));
  }

  private async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.ctx.informers.get<V1Service>('services').get(name, namespace);
    if (!svc || !svc.spec?.selector) {
      // Deleted Service: the GC removes slices owned by it; Endpoints share the name and go with it upstream.
      if (!svc && this.which.endpoints) {
        const ep = this.ctx.informers.get<V1Endpoints>('endpoints').get(name, namespace);
        if (ep) await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Endpoints', namespace, name }).catch((e) => { if (!isNotFound(e)) throw e; });
      }
      return;
    }
    const members = serviceMembers(svc, this.ctx.informers.get<V1Pod>('pods').list(namespace));
    if (this.which.endpoints) await this.syncEndpoints(svc, members);
    if (this.which.slices) await this.syncSlice(svc, members);
  }

  private async syncEndpoints(svc: V1Service, members: Member[]): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    // Group by port set, as upstream's subsets (usually one subset).
    const groups = new Map<string, { ports: V1EndpointPort[]; addresses: V1EndpointAddress[]; notReadyAddresses: V1EndpointAddress[] }>();
    for (const m of members) {
      if (m.terminating) continue;
      const ports = m.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol }));
      const k = canonicalJson(ports);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ports, addresses: [], notReadyAddresses: [] }));
      const hostname = endpointHostname(svc, m.pod);
      const addr: V1EndpointAddress = {
        ip: m.ip,
        ...(hostname ? { hostname } : {}),
        nodeName: m.pod.spec?.nodeName,
        targetRef: { kind: 'Pod', namespace: ns, name: m.pod.metadata!.name!, uid: m.pod.metadata!.uid! },
      };
      (m.ready ? g.addresses : g.notReadyAddresses).push(addr);
    }
    const subsets = [...groups.values()].map((g) => ({
      ...(g.addresses.length ? { addresses: g.addresses } : {}),
      ...(g.notReadyAddresses.length ? { notReadyAddresses: g.notReadyAddresses } : {}),
      ports: g.ports,
    }));
    const labels = { ...(svc.metadata?.labels ?? {}) };
    const existing = this.ctx.informers.get<V1Endpoints>('endpoints').get(name, ns);
    if (!existing) {
      try {
        await this.ctx.api.create<V1Endpoints>({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace: ns, labels }, subsets });
      } catch (err) {
        if (errorCode(err) !== 409) throw err;
        await this.ctx.api.patch({ apiVersion: 'v1', kind: 'Endpoints', namespace: ns, name }, { subsets });
      }
      return;
    }
    if (canonicalJson(existing.subsets ?? []) === canonicalJson(subsets)) return;
    await this.ctx.api.patch({ apiVersion: 'v1', kind: 'Endpoints', namespace: ns, name }, { subsets });
  }

  private async syncSlice(svc: V1Service, members: Member[]): Promise<void> {
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const unhinted: DiscoveryV1Endpoint[] = members.map((m) => {
      const zone = nodes.get(m.pod.spec!.nodeName!)?.metadata?.labels?.[ZONE_LABEL];
      return {
        addresses: [m.ip],
        ...(endpointHostname(svc, m.pod) ? { hostname: endpointHostname(svc, m.pod) } : {}),
        conditions: { ready: m.ready, serving: !m.terminating ? m.ready : isPodReady(m.pod), terminating: m.terminating },
        nodeName: m.pod.spec?.nodeName,
        ...(zone ? { zone } : {}),
        targetRef: { kind: 'Pod', namespace: ns, name: m.pod.metadata!.name!, uid: m.pod.metadata!.uid! },
      };
    });
    const hinted = withTopologyHints(svc, unhinted, () => nodes.list());
    const endpoints = hinted.endpoints;
    this.noteHintsDisabled(svc, hinted.disabledReason);
    const first = members[0];
    const ports: DiscoveryV1EndpointPort[] = first
      ? first.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol, ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }))
      : [];
    const mine = this.ctx.informers
      .get<V1EndpointSlice>('endpointslices')
      .list(ns)
      .filter((s) => s.metadata?.labels?.[ServiceNameLabel] === name && s.metadata?.labels?.[ManagedByLabel] === ManagedBy);
    const [slice, ...extra] = mine;
    for (const s of extra) {
      await this.ctx.api.delete({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespace: ns, name: s.metadata!.name! }).catch((e) => { if (!isNotFound(e)) throw e; });
    }
    const labels = { ...(svc.metadata?.labels ?? {}), [ServiceNameLabel]: name, [ManagedByLabel]: ManagedBy };
    if (!slice) {
      await this.ctx.api.create<V1EndpointSlice>({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          generateName: `${name}-`,
          namespace: ns,
          labels,
          ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
        },
        addressType: 'IPv4',
        endpoints,
        ports,
      });
      return;
    }
    if (canonicalJson(slice.endpoints ?? []) === canonicalJson(endpoints) && canonicalJson(slice.ports ?? []) === canonicalJson(ports)) return;
    await this.ctx.api.patch(
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespace: ns, name: slice.metadata!.name! },
      { metadata: { labels }, endpoints, ports },
    );
  }

  /** Upstream's TopologyAwareHintsDisabled event, once per Service per reason. */
  private noteHintsDisabled(svc: V1Service, reason: string | undefined): void {
    const key = keyOf(svc);
    if (reason === this.hintsDisabled.get(key)) return;
    if (reason === undefined) return void this.hintsDisabled.delete(key);
    this.hintsDisabled.set(key, reason);
    this.ctx.events.event({ ...svc, apiVersion: 'v1', kind: 'Service' }, 'Warning', 'TopologyAwareHintsDisabled', `${reason}, addressType: IPv4`);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
