import type { V1Node, V1Pod, V1PodAffinityTerm } from '@kubernetes/client-node';
import { findUntoleratedTaint, labelSelectorMatches, nodeSelectorTermMatches, tolerates, type Labels } from '../util/selectors.js';
import { hostPortsConflict, podHostPorts, podRequests, type ClusterState, type NodeInfo } from './cluster-state.js';

/** Upstream's per-plugin failure texts, so FailedScheduling events read exactly as kube-scheduler's. */
export const Reasons = {
  unschedulable: 'node(s) were unschedulable',
  nodeName: "node(s) didn't match the requested node name",
  affinity: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  podAffinity: "node(s) didn't match pod affinity rules",
  podAntiAffinity: "node(s) didn't match pod anti-affinity rules",
  existingAntiAffinity: "node(s) didn't satisfy existing pods anti-affinity rules",
  tooManyPods: 'Too many pods',
  cpu: 'Insufficient cpu',
  memory: 'Insufficient memory',
  /** Kedge's tenancy (docs/design/tenancy.md): a node of another tenant, or a shared node the tenant may not use. */
  tenant: "node(s) didn't belong to the pod's tenant",
  volumeNodeAffinity: 'node(s) had volume node affinity conflict',
} as const;

export interface ScheduleResult {
  nodeName?: string;
  /** set when no node fits */
  message?: string;
  reasons?: Map<string, number>;
}

export interface SchedulingContext {
  state: ClusterState;
  /** Labels of a namespace (for namespaceSelector in pod affinity terms). */
  namespaceLabels: (ns: string) => Labels;
  /** Whether a node may take this pod as far as tenancy goes (absent: no tenancy). */
  tenantAdmits?: (node: V1Node) => boolean;
  /** Whether the node satisfies the node affinity of the pod's bound PersistentVolumes (absent: none). */
  volumesAdmit?: (node: V1Node) => boolean;
}

/** Node labels that carry a topology value for a pod's term, or undefined when the node lacks the key. */
function topo(info: NodeInfo, key: string): string | undefined {
  return info.node.metadata?.labels?.[key];
}

function termNamespaces(term: V1PodAffinityTerm, podNs: string, ctx: SchedulingContext): (ns: string) => boolean {
  const list = term.namespaces ?? [];
  const sel = term.namespaceSelector;
  if (list.length === 0 && !sel) return (ns) => ns === podNs;
  const allBySelector = sel && !sel.matchLabels && !(sel.matchExpressions?.length);
  return (ns) =>
    list.includes(ns) || Boolean(allBySelector) || (sel !== undefined && sel !== null && labelSelectorMatches(sel, ctx.namespaceLabels(ns)));
}

/** For one term: the set of topology values where at least one matching pod runs. */
function domainsWithMatchingPods(term: V1PodAffinityTerm, podNs: string, ctx: SchedulingContext): Set<string> {
  const nsOk = termNamespaces(term, podNs, ctx);
  const out = new Set<string>();
  for (const info of ctx.state.nodes.values()) {
    const value = topo(info, term.topologyKey);
    if (value === undefined || out.has(value)) continue;
    for (const p of info.pods.values()) {
      if (p.metadata?.deletionTimestamp) continue;
      if (nsOk(p.metadata?.namespace ?? '') && labelSelectorMatches(term.labelSelector, p.metadata?.labels)) {
        out.add(value);
        break;
      }
    }
  }
  return out;
}

function nodeAffinityOk(pod: V1Pod, info: NodeInfo): boolean {
  const labels = info.node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const req = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req && !req.nodeSelectorTerms.some((t) => nodeSelectorTermMatches(t, info.node.metadata!.name!, labels))) return false;
  return true;
}

/** Precomputed per-pod data shared by all node checks of one scheduling attempt. */
interface PodPlan {
  req: ReturnType<typeof podRequests>;
  ports: string[];
  affinity: Array<{ term: V1PodAffinityTerm; domains: Set<string>; selfMatch: boolean }>;
  anti: Array<{ term: V1PodAffinityTerm; domains: Set<string> }>;
  /** topologyKey → values forbidden by existing pods' anti-affinity terms that select this pod */
  existingAnti: Map<string, Set<string>>;
}

function plan(pod: V1Pod, ctx: SchedulingContext): PodPlan {
  const ns = pod.metadata?.namespace ?? 'default';
  const aff = pod.spec?.affinity;
  const affinity = (aff?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((term) => ({
    term,
    domains: domainsWithMatchingPods(term, ns, ctx),
    selfMatch: termNamespaces(term, ns, ctx)(ns) && labelSelectorMatches(term.labelSelector, pod.metadata?.labels),
  }));
  const anti = (aff?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((term) => ({
    term,
    domains: domainsWithMatchingPods(term, ns, ctx),
  }));
  const existingAnti = new Map<string, Set<string>>();
  for (const info of ctx.state.nodes.values()) {
    for (const p of info.pods.values()) {
      const terms = p.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
      if (!terms) continue;
      for (const t of terms) {
        const v = topo(info, t.topologyKey);
        if (v === undefined) continue;
        if (!termNamespaces(t, p.metadata?.namespace ?? '', ctx)(ns)) continue;
        if (!labelSelectorMatches(t.labelSelector, pod.metadata?.labels)) continue;
        let s = existingAnti.get(t.topologyKey);
        if (!s) existingAnti.set(t.topologyKey, (s = new Set()));
        s.add(v);
      }
    }
  }
  return { req: podRequests(pod), ports: podHostPorts(pod), affinity, anti, existingAnti };
}

/** Runs the filters in upstream's order; returns the reasons a node does not fit (empty = fits). */
function filter(pod: V1Pod, info: NodeInfo, p: PodPlan): string[] {
  const node = info.node;
  const name = node.metadata!.name!;
  const tolerations = pod.spec?.tolerations ?? [];
  if (node.spec?.unschedulable) {
    const ok = tolerations.some((t) => tolerates(t, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }));
    if (!ok) return [Reasons.unschedulable];
  }
  if (pod.spec?.nodeName && pod.spec.nodeName !== name) return [Reasons.nodeName];
  const reasons: string[] = [];
  if (!nodeAffinityOk(pod, info)) return [Reasons.affinity];
  const taint = findUntoleratedTaint(node.spec?.taints, tolerations, ['NoSchedule', 'NoExecute']);
  if (taint) return [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`];
  if (p.ports.some((hp) => info.hostPorts.some((used) => hostPortsConflict(hp, used)))) reasons.push(Reasons.ports);
  const alloc = info.allocatable;
  if (info.requested.pods + 1 > alloc.pods) reasons.push(Reasons.tooManyPods);
  if (p.req.cpuMillis > 0 && info.requested.cpuMillis + p.req.cpuMillis > alloc.cpuMillis) reasons.push(Reasons.cpu);
  if (p.req.memory > 0 && info.requested.memory + p.req.memory > alloc.memory) reasons.push(Reasons.memory);
  if (reasons.length) return reasons;
  for (const [key, values] of p.existingAnti) {
    const v = topo(info, key);
    if (v !== undefined && values.has(v)) return [Reasons.existingAntiAffinity];
  }
  for (const a of p.affinity) {
    const v = topo(info, a.term.topologyKey);
    // The first pod of a group that selects itself may go anywhere the topology key exists (upstream rule).
    const firstOfGroup = a.domains.size === 0 && a.selfMatch;
    if (v === undefined || (!a.domains.has(v) && !firstOfGroup)) return [Reasons.podAffinity];
  }
  for (const a of p.anti) {
    const v = topo(info, a.term.topologyKey);
    if (v !== undefined && a.domains.has(v)) return [Reasons.podAntiAffinity];
  }
  return [];
}

/** Higher is better. Preferred node affinity and pod affinity weights, PreferNoSchedule taints, balance. */
function score(pod: V1Pod, info: NodeInfo, p: PodPlan, ctx: SchedulingContext, ownerUid: string | undefined): number {
  const labels = info.node.metadata?.labels ?? {};
  const name = info.node.metadata!.name!;
  let s = 0;
  for (const pref of pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    if (nodeSelectorTermMatches(pref.preference, name, labels)) s += pref.weight * 10;
  }
  const ns = pod.metadata?.namespace ?? 'default';
  for (const w of pod.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    const v = labels[w.podAffinityTerm.topologyKey];
    if (v !== undefined && domainsWithMatchingPodsCached(w.podAffinityTerm, ns, ctx).has(v)) s += w.weight * 10;
  }
  for (const w of pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    const v = labels[w.podAffinityTerm.topologyKey];
    if (v !== undefined && domainsWithMatchingPodsCached(w.podAffinityTerm, ns, ctx).has(v)) s -= w.weight * 10;
  }
  const prefer = (info.node.spec?.taints ?? []).filter((t) => t.effect === 'PreferNoSchedule');
  for (const t of prefer) if (!(pod.spec?.tolerations ?? []).some((tol) => tolerates(tol, t))) s -= 50;
  // Least allocated: fewer pods / less CPU requested scores higher (0..100).
  const alloc = info.allocatable;
  const podFrac = (info.requested.pods + 1) / Math.max(alloc.pods, 1);
  const cpuFrac = Number.isFinite(alloc.cpuMillis) && alloc.cpuMillis > 0 ? (info.requested.cpuMillis + p.req.cpuMillis) / alloc.cpuMillis : podFrac;
  s += 100 * (1 - (podFrac + cpuFrac) / 2);
  // Spread replicas of the same owner across nodes.
  if (ownerUid) s -= (info.owners.get(ownerUid) ?? 0) * 20;
  return s;
}

// Preferred terms are evaluated per node; memoise per attempt through a WeakMap keyed by the term object.
let memo = new WeakMap<V1PodAffinityTerm, Set<string>>();
function domainsWithMatchingPodsCached(term: V1PodAffinityTerm, ns: string, ctx: SchedulingContext): Set<string> {
  let d = memo.get(term);
  if (!d) memo.set(term, (d = domainsWithMatchingPods(term, ns, ctx)));
  return d;
}

/** Picks a node for the pod, or explains (upstream wording) why none fits. */
export function schedulePod(pod: V1Pod, ctx: SchedulingContext): ScheduleResult {
  memo = new WeakMap();
  const p = plan(pod, ctx);
  const reasons = new Map<string, number>();
  const ownerUid = pod.metadata?.ownerReferences?.find((o) => o.controller)?.uid;
  let best: string | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const [name, info] of ctx.state.nodes) {
    const fails = ctx.tenantAdmits && !ctx.tenantAdmits(info.node) ? [Reasons.tenant]
      : ctx.volumesAdmit && !ctx.volumesAdmit(info.node) ? [Reasons.volumeNodeAffinity] : filter(pod, info, p);
    if (fails.length) {
      for (const r of fails) reasons.set(r, (reasons.get(r) ?? 0) + 1);
      continue;
    }
    const s = score(pod, info, p, ctx, ownerUid);
    if (s > bestScore) {
      bestScore = s;
      best = name;
    }
  }
  if (best) return { nodeName: best };
  return { message: formatFitError(ctx.state.nodes.size, reasons), reasons };
}

/** "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) were unschedulable." — reasons sorted as upstream. */
export function formatFitError(total: number, reasons: Map<string, number>): string {
  if (total === 0) return 'no nodes available to schedule pods';
  const parts = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).sort();
  return `0/${total} nodes are available: ${parts.join(', ')}.`;
}
