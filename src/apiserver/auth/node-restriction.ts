/**
 * Upstream's NodeRestriction admission for requests authenticated as a node (system:node:NAME in group
 * system:nodes): a node writes only its own Node, may not change its taints, and may set only the labels a
 * kubelet may set on itself (src/common/node-restriction.ts: one rule for this and for the cloud hub); it records
 * events only about itself and pods bound to it; it updates the status of pods bound to it only (labels
 * untouched), creates only mirror pods bound to itself that reference no Secret, ConfigMap or claim, and writes
 * only its own Lease in kube-node-lease. RBAC decides whether a node may write at all; this decides what.
 */
import type { UserInfo } from './types.js';
import { forbidden } from '../../apimachinery/status.js';
import {
  forbiddenLabelsOnCreateMessage, forbiddenLabelsOnUpdateMessage, forbiddenNodeLabelChanges, nodeEventRefusal, type EventSubject,
} from '../../common/node-restriction.js';

const NODE_USER_PREFIX = 'system:node:';
const NODES_GROUP = 'system:nodes';
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** Static pods' API copies: the only pods upstream lets a node create. */
const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/**
 * Whether a pod spec names any Secret or ConfigMap: every reference field in PodSpec (volumes, projected sources,
 * env valueFrom, envFrom, imagePullSecrets, CSI/CephFS/… secret refs) has "secret" or "configMap" in its key.
 */
function referencedKinds(spec: unknown): { secrets: boolean; configMaps: boolean } {
  const found = { secrets: false, configMaps: false };
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    for (const [k, child] of Object.entries(v)) {
      const named = child !== undefined && child !== null && !(Array.isArray(child) && child.length === 0);
      if (named && /secret/i.test(k)) found.secrets = true;
      if (named && /configmap/i.test(k)) found.configMaps = true;
      walk(child);
    }
  };
  walk(spec);
  return found;
}

/** upstream's nodeidentifier: the node name of a node's user, or undefined for anyone else ('' = a node we cannot name). */
export function nodeIdentity(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES_GROUP) || !user.username.startsWith(NODE_USER_PREFIX)) return undefined;
  return user.username.slice(NODE_USER_PREFIX.length);
}

interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { taints?: unknown; configSource?: unknown };
}

interface PodLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { nodeName?: string; volumes?: Array<{ persistentVolumeClaim?: unknown; ephemeral?: unknown }> } & Record<string, unknown>;
}

interface EventLike {
  metadata?: { name?: string; namespace?: string };
  involvedObject?: EventSubject;
  regarding?: EventSubject;
}

/** Which node a pod is bound to (undefined: no such pod). */
export type PodNodeLookup = (namespace: string, name: string) => Promise<string | undefined>;

export class NodeRestriction {
  constructor(private readonly podNode: PodNodeLookup) {}

  /** Throws a Forbidden StatusError when a node may not make this write; returns for everyone else. */
  async admit(def: { group: string; kind: string }, obj: unknown, old: unknown | null, ctx: { user: UserInfo; namespace: string; subresource: string }): Promise<void> {
    const node = nodeIdentity(ctx.user);
    if (node === undefined) return;
    if (def.group === '' && def.kind === 'Node') return this.admitNode(node, obj as NodeLike, old as NodeLike | null);
    if (def.kind === 'Event' && (def.group === '' || def.group === 'events.k8s.io')) return this.admitEvent(node, def.group, obj as EventLike, ctx.namespace);
    if (def.group === '' && def.kind === 'Pod') return this.admitPod(node, obj as PodLike, old as PodLike | null, ctx.subresource);
    if (def.group === 'coordination.k8s.io' && def.kind === 'Lease') return this.admitLease(node, obj as NodeLike & { metadata?: { namespace?: string } });
  }

  private admitPod(node: string, pod: PodLike, old: PodLike | null, subresource: string): void {
    const refuse = (why: string) => forbidden({ group: '', resource: 'pods' }, pod.metadata?.name ?? '', why);
    const q = JSON.stringify(node);
    if (subresource === 'status') {
      if (!old) throw refuse('unexpected operation "CREATE"');
      if (old.spec?.nodeName !== node) throw refuse(`node ${q} can only update pod status for pods with spec.nodeName set to itself`);
      if (JSON.stringify(old.metadata?.labels ?? {}) !== JSON.stringify(pod.metadata?.labels ?? {})) throw refuse(`node ${q} cannot update labels through pod status`);
      return;
    }
    if (subresource) throw refuse(`unexpected pod subresource ${JSON.stringify(subresource)}, only 'status' and 'eviction' are allowed`);
    if (old) throw refuse(`unexpected operation "UPDATE", node ${q} can only create and delete mirror pods`);
    if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] === undefined) {
      throw refuse(`pod does not have ${JSON.stringify(MIRROR_POD_ANNOTATION)} annotation, node ${q} can only create mirror pods`);
    }
    if (pod.spec?.nodeName !== node) throw refuse(`node ${q} can only create pods with spec.nodeName set to itself`);
    const refs = referencedKinds(pod.spec ?? {});
    if (refs.secrets) throw refuse(`node ${q} can not create pods that reference secrets`);
    if (refs.configMaps) throw refuse(`node ${q} can not create pods that reference configmaps`);
    if ((pod.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim || v.ephemeral)) throw refuse(`node ${q} can not create pods that reference persistentvolumeclaims`);
  }

  private admitLease(node: string, lease: { metadata?: { name?: string; namespace?: string } }): void {
    const refuse = (why: string) => forbidden({ group: 'coordination.k8s.io', resource: 'leases' }, lease.metadata?.name ?? '', why);
    if (lease.metadata?.namespace !== NODE_LEASE_NAMESPACE) throw refuse(`can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`);
    if (lease.metadata?.name !== node) throw refuse('can only access node lease with the same name as the requesting node');
  }

  private admitNode(node: string, obj: NodeLike, old: NodeLike | null): void {
    const name = obj.metadata?.name ?? '';
    const refuse = (why: string) => forbidden({ group: '', resource: 'nodes' }, name, why);
    if (!node) throw refuse(`could not determine node from user "${NODE_USER_PREFIX}"`);
    if (name !== node) throw refuse(`node ${JSON.stringify(node)} is not allowed to modify node ${JSON.stringify(name)}`);
    if (!old) {
      if (obj.spec?.configSource) throw refuse(`node ${JSON.stringify(node)} is not allowed to create pods with a non-nil configSource`);
      const labels = forbiddenNodeLabelChanges(obj.metadata?.labels, undefined);
      if (labels.length) throw refuse(forbiddenLabelsOnCreateMessage(node, labels));
      return;
    }
    if (obj.spec?.configSource && JSON.stringify(obj.spec.configSource) !== JSON.stringify(old.spec?.configSource)) {
      throw refuse(`node ${JSON.stringify(node)} is not allowed to update configSource to a new non-nil configSource`);
    }
    if (JSON.stringify(obj.spec?.taints ?? []) !== JSON.stringify(old.spec?.taints ?? [])) throw refuse(`node ${JSON.stringify(node)} is not allowed to modify taints`);
    const labels = forbiddenNodeLabelChanges(obj.metadata?.labels, old.metadata?.labels);
    if (labels.length) throw refuse(forbiddenLabelsOnUpdateMessage(labels));
  }

  private async admitEvent(node: string, group: string, ev: EventLike, requestNamespace: string): Promise<void> {
    const namespace = ev.metadata?.namespace || requestNamespace;
    const subject = ev.involvedObject ?? ev.regarding;
    let boundTo: string | undefined;
    if (subject?.kind === 'Pod' && subject.name && subject.namespace === namespace) boundTo = await this.podNode(namespace, subject.name);
    const why = node ? nodeEventRefusal(node, namespace, subject, () => boundTo) : `could not determine node from user "${NODE_USER_PREFIX}"`;
    if (why) throw forbidden({ group, resource: 'events' }, ev.metadata?.name ?? '', why);
  }
}
