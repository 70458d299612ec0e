/**
 * Upstream's NodeRestriction admission for requests authenticated as a node (system:node:NAME in group
 * system:nodes): a node writes only its own Node, may not change its taints, and may set only the labels a
 * kubelet may set on itself (src/common/node-restriction.ts: one rule for this and for the cloud hub); it records
 * events only about itself and pods bound to it. RBAC decides whether a node may write at all; this decides what.
 */
import type { UserInfo } from './types.js';
import { forbidden } from '../../apimachinery/status.js';
import {
  forbiddenLabelsOnCreateMessage, forbiddenLabelsOnUpdateMessage, forbiddenNodeLabelChanges, nodeEventRefusal, type EventSubject,
} from '../../common/node-restriction.js';

const NODE_USER_PREFIX = 'system:node:';
const NODES_GROUP = 'system:nodes';

/** upstream's nodeidentifier: the node name of a node's user, or undefined for anyone else ('' = a node we cannot name). */
export function nodeIdentity(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES_GROUP) || !user.username.startsWith(NODE_USER_PREFIX)) return undefined;
  return user.username.slice(NODE_USER_PREFIX.length);
}

interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: { taints?: unknown; configSource?: unknown };
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
  async admit(def: { group: string; kind: string }, obj: unknown, old: unknown | null, ctx: { user: UserInfo; namespace: string }): Promise<void> {
    const node = nodeIdentity(ctx.user);
    if (node === undefined) return;
    if (def.group === '' && def.kind === 'Node') return this.admitNode(node, obj as NodeLike, old as NodeLike | null);
    if (def.kind === 'Event' && (def.group === '' || def.group === 'events.k8s.io')) return this.admitEvent(node, def.group, obj as EventLike, ctx.namespace);
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
