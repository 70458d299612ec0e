/**
 * What a node may write about itself, as upstream's NodeRestriction admission plugin rules it: which labels a
 * node may set on its own Node (kubelet's IsKubeletLabel allow-list), and which events it may record. One
 * implementation for both enforcement points: the API server's admission (requests authenticated as
 * system:node:NAME) and the cloud hub, which writes with its own identity on a node's behalf and so must apply
 * the same rules before it does.
 */

import { NODEPOOL_LABEL, SHARED_LABEL, TENANT_LABEL } from './tenancy.js';

/** Edge nodes carry this role; the hub sets it (a node neither reports nor removes it). */
export const EDGE_ROLE_LABEL = 'node-role.kubernetes.io/edge';
/** OpenYurt NodePool membership: assigned in the cloud, never by the node (defined with the tenancy rules that read it). */
export { NODEPOOL_LABEL };
/** A NodePool name: it is the value of its members' NODEPOOL_LABEL, so a label value (at most 63 characters). */
export const NODEPOOL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/**
 * Labels the cloud assigns to edge nodes. Upstream would let a kubelet set `apps.openyurt.io/*` (it is not under
 * kubernetes.io), but pool and tenant membership steer workloads and their secrets, so here a node may not touch them.
 */
export const CLOUD_ASSIGNED_NODE_LABELS: readonly string[] = [EDGE_ROLE_LABEL, NODEPOOL_LABEL, TENANT_LABEL, SHARED_LABEL];

/** Label keys a kubelet may set on its own Node (k8s.io/kubelet/pkg/apis: kubeletLabels). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
]);
/** Label namespaces (and their subdomains) a kubelet may set: [*.]kubelet.kubernetes.io/, [*.]node.kubernetes.io/. */
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
/** Never settable by a node, whatever else allows it. */
const NODE_RESTRICTION_NAMESPACE = 'node-restriction.kubernetes.io';

function labelNamespace(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? '' : key.slice(0, slash);
}

const inNamespace = (ns: string, domain: string): boolean => ns === domain || ns.endsWith(`.${domain}`);

/** kubelet's IsKubeletLabel: a key a kubelet may set on its own Node. */
export function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  return KUBELET_LABEL_NAMESPACES.some((allowed) => inNamespace(ns, allowed));
}

/** Under kubernetes.io or k8s.io (or a subdomain): reserved, so a node may set only the kubelet's own keys there. */
function isKubernetesLabel(key: string): boolean {
  const ns = labelNamespace(key);
  return inNamespace(ns, 'kubernetes.io') || inNamespace(ns, 'k8s.io');
}

/** Whether a node may add, change or remove this label key on its own Node. */
export function nodeMayModifyLabel(key: string): boolean {
  if (CLOUD_ASSIGNED_NODE_LABELS.includes(key)) return false;
  if (inNamespace(labelNamespace(key), NODE_RESTRICTION_NAMESPACE)) return false;
  return !isKubernetesLabel(key) || isKubeletLabel(key);
}

/** Keys added, changed or removed between two label maps. */
export function modifiedLabelKeys(next: Record<string, string> | undefined, prev: Record<string, string> | undefined): string[] {
  const a = next ?? {};
  const b = prev ?? {};
  const keys = new Set<string>();
  for (const [k, v] of Object.entries(a)) if (b[k] !== v) keys.add(k);
  for (const [k, v] of Object.entries(b)) if (a[k] !== v) keys.add(k);
  return [...keys];
}

/** The label keys of a change a node may not make, sorted (as upstream lists them); empty when it may. */
export function forbiddenNodeLabelChanges(next: Record<string, string> | undefined, prev: Record<string, string> | undefined): string[] {
  return modifiedLabelKeys(next, prev).filter((k) => !nodeMayModifyLabel(k)).sort();
}

/** Upstream's messages (NodeRestriction admitNode): on create, and on update. */
export function forbiddenLabelsOnCreateMessage(node: string, keys: string[]): string {
  return `node ${JSON.stringify(node)} is not allowed to set the following labels: ${keys.join(', ')}`;
}
export function forbiddenLabelsOnUpdateMessage(keys: string[]): string {
  return `is not allowed to modify labels: ${keys.join(', ')}`;
}

/** What an Event is about, in either API version (core/v1 involvedObject, events.k8s.io/v1 regarding). */
export interface EventSubject {
  kind?: string;
  name?: string;
  namespace?: string;
}

/**
 * Whether node `node` may create or update an Event stored in `eventNamespace` about `subject`: only events about
 * its own Node (which the kubelet records in "default", the Node being cluster-scoped) or about a pod bound to it,
 * in that pod's namespace. `podNode` answers the node a pod is bound to (undefined: no such pod).
 * Returns the refusal (upstream-style, to wrap in a Forbidden) or undefined when allowed.
 */
export function nodeEventRefusal(
  node: string, eventNamespace: string, subject: EventSubject | undefined, podNode: (namespace: string, name: string) => string | undefined,
): string | undefined {
  const q = JSON.stringify(node);
  if (!subject?.kind) return `node ${q} can only record events about itself or pods bound to it`;
  if (subject.kind === 'Node') {
    if (subject.name !== node) return `node ${q} can only record events about itself, not node ${JSON.stringify(subject.name ?? '')}`;
    if (eventNamespace !== 'default') return `node ${q} can only record events about itself in namespace "default"`;
    return undefined;
  }
  if (subject.kind === 'Pod') {
    const ns = subject.namespace ?? '';
    if (ns !== eventNamespace) return `node ${q} can only record events about a pod in the pod's namespace`;
    if (!subject.name || podNode(ns, subject.name) !== node) return `node ${q} can only record events about pods with spec.nodeName set to itself`;
    return undefined;
  }
  return `node ${q} can only record events about itself or pods bound to it, not a ${subject.kind}`;
}
