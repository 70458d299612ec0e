/**
 * ResourceQuota usage as upstream's quota evaluators count it, shared by the API server's ResourceQuota admission
 * (src/apiserver/admission/limits.ts) and the resource quota controller (src/controllers/quota): what one object
 * adds to each quota resource name, and which objects count at all.
 */
import { podQosClass } from './qos.js';
import { addQuantities, compareQuantities, formatQuantity, parseQuantity, tryParseQuantity, type Quantity } from './quantity.js';

/** The object shape this module reads (wire JSON). */
export interface QuotaObject {
  metadata?: { deletionTimestamp?: string | null };
  spec?: {
    activeDeadlineSeconds?: number | null;
    priorityClassName?: string;
    containers?: Array<{ resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } }>;
    initContainers?: Array<{ resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> } }>;
    resources?: { requests?: Record<string, unknown> };
    type?: string;
  };
  status?: { phase?: string };
}

export const ZERO = parseQuantity('0');
const ONE = parseQuantity('1');

/** Core resources with a short quota name of their own (`pods`, not only `count/pods`). */
const CORE_COUNTED = ['pods', 'configmaps', 'secrets', 'services', 'persistentvolumeclaims', 'replicationcontrollers', 'resourcequotas'];
const COMPUTE = ['cpu', 'memory', 'ephemeral-storage'];

/** `count/<resource>` for the core group, `count/<resource>.<group>` otherwise (upstream's object count names). */
export const countName = (group: string, resource: string): string => `count/${group ? `${resource}.${group}` : resource}`;

type Resources = { requests?: Record<string, unknown>; limits?: Record<string, unknown> } | undefined;

/**
 * A pod's effective requests or limits: the sum over app containers, or the largest init container's value when
 * larger (upstream's PodRequests/PodLimits, without overhead).
 */
export function podResourceSum(pod: QuotaObject, which: 'requests' | 'limits', name: string): Quantity | undefined {
  const value = (r: Resources) => tryParseQuantity(r?.[which]?.[name]);
  let sum: Quantity | undefined;
  for (const c of pod.spec?.containers ?? []) {
    const v = value(c.resources);
    if (v) sum = addQuantities(sum ?? ZERO, v);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const v = value(c.resources);
    if (v && (!sum || compareQuantities(v, sum) > 0)) sum = v;
  }
  return sum;
}

/** A pod that no longer holds resources: quota stops counting it (upstream's QuotaV1Pod). */
export function podIsTerminal(pod: QuotaObject): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed' || !!pod.metadata?.deletionTimestamp;
}

/** What one object of group/resource adds to each quota resource name. A terminal pod adds nothing. */
export function usageOf(group: string, resource: string, obj: QuotaObject): Map<string, Quantity> {
  const u = new Map<string, Quantity>();
  if (group === '' && resource === 'pods' && podIsTerminal(obj)) return u;
  u.set(countName(group, resource), ONE);
  if (group !== '') return u;
  if (CORE_COUNTED.includes(resource)) u.set(resource, ONE);
  if (resource === 'pods') {
    for (const name of COMPUTE) {
      const req = podResourceSum(obj, 'requests', name);
      const lim = podResourceSum(obj, 'limits', name);
      if (req) { u.set(`requests.${name}`, req); u.set(name, req); }
      if (lim) u.set(`limits.${name}`, lim);
    }
  }
  if (resource === 'services') {
    if (obj.spec?.type === 'LoadBalancer') u.set('services.loadbalancers', ONE);
    if (obj.spec?.type === 'NodePort' || obj.spec?.type === 'LoadBalancer') u.set('services.nodeports', ONE);
  }
  if (resource === 'persistentvolumeclaims') {
    const s = tryParseQuantity(obj.spec?.resources?.requests?.storage);
    if (s) u.set('requests.storage', s);
  }
  return u;
}

/**
 * Quota names a pod must state a value for once a quota limits them (upstream: `must specify requests.cpu`): the
 * compute resources tracked by `hard` that some container of the pod leaves unset.
 */
export function missingPodResources(pod: QuotaObject, hard: Iterable<string>): string[] {
  const out: string[] = [];
  const containers = pod.spec?.containers ?? [];
  for (const k of hard) {
    const m = /^(requests\.|limits\.)?(cpu|memory|ephemeral-storage)$/.exec(k);
    if (!m) continue;
    const which = m[1] === 'limits.' ? 'limits' : 'requests';
    if (containers.some((c) => tryParseQuantity(c.resources?.[which]?.[m[2]!]) === undefined)) out.push(k);
  }
  return out.sort();
}

/** Adds `add` into `into` for the names in `keys` (all names when keys is undefined). */
export function accumulate(into: Map<string, Quantity>, add: Map<string, Quantity>, keys?: Set<string>): void {
  for (const [k, v] of add) if (!keys || keys.has(k)) into.set(k, addQuantities(into.get(k) ?? ZERO, v));
}

/** status.used for a quota: every hard name, zero when nothing counts toward it. */
export function usedStatus(hard: Record<string, unknown>, used: Map<string, Quantity>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(hard).sort()) out[k] = formatQuantity(used.get(k) ?? ZERO);
  return out;
}

/** The part of a ResourceQuota's spec that decides which objects it counts. */
export interface QuotaScopeSpec {
  scopes?: string[];
  scopeSelector?: { matchExpressions?: Array<{ scopeName: string; operator: string; values?: string[] }> };
}

/** Whether one scope (with a selector's operator and values) holds for a pod (upstream's podMatchesScopeFunc). */
function podInScope(pod: QuotaObject, scope: string, operator = 'Exists', values: string[] = []): boolean {
  switch (scope) {
    case 'Terminating': return typeof pod.spec?.activeDeadlineSeconds === 'number' && pod.spec.activeDeadlineSeconds >= 0;
    case 'NotTerminating': return !(typeof pod.spec?.activeDeadlineSeconds === 'number' && pod.spec.activeDeadlineSeconds >= 0);
    case 'BestEffort': return podQosClass(pod.spec as never) === 'BestEffort';
    case 'NotBestEffort': return podQosClass(pod.spec as never) !== 'BestEffort';
    case 'PriorityClass': {
      const name = pod.spec?.priorityClassName ?? '';
      if (operator === 'Exists') return name !== '';
      if (operator === 'DoesNotExist') return name === '';
      if (operator === 'In') return values.includes(name);
      if (operator === 'NotIn') return !values.includes(name);
      return false;
    }
    default: return false; // CrossNamespacePodAffinity: not evaluated (README)
  }
}

/**
 * Whether a quota counts this object: an unscoped quota counts everything; a quota with scopes or a scope selector
 * counts only pods in every scope (upstream: scoped quotas track pods and their compute resources only).
 */
export function quotaCounts(quota: QuotaScopeSpec, group: string, resource: string, obj: QuotaObject): boolean {
  const scopes = quota.scopes ?? [];
  const exprs = quota.scopeSelector?.matchExpressions ?? [];
  if (!scopes.length && !exprs.length) return true;
  if (group !== '' || resource !== 'pods') return false;
  return scopes.every((sc) => podInScope(obj, sc)) && exprs.every((e) => podInScope(obj, e.scopeName, e.operator, e.values));
}
