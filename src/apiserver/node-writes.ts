/**
 * Node-write batches: many writes an edge hub makes on behalf of its nodes (Lease renewals, Node and pod
 * statuses) in one request, each item run as the node that sent it. docs/design/fleet-scale.md §12.
 *
 * Why: every edge renews its Lease every 10 s; as one HTTP request each, a renewal paid request parsing and
 * response writing on two threads, authentication and a full object in the answer — most of its cost
 * (bench:heartbeats). A batch pays those once for up to MAX_ITEMS writes; the items still take every step of a
 * PUT (ApiHandler.putInProcess): RequestInfo, authorization, tenancy, decoding and field checks, managedFields,
 * admission (NodeRestriction among it), optimistic concurrency, one watch event per object, request metrics; and
 * the SQLite store's group commit puts the items' writes, issued together, in one transaction.
 *
 * Not a side door: the caller must be allowed to impersonate each item's node (`system:node:NAME` in
 * `system:nodes`, the checks upstream's impersonation filter makes), and each item is authorized as that node:
 * upstream's Node authorizer rules for the three kinds of write a batch carries (a node's own Lease in
 * kube-node-lease; `nodes/status` and `pods/status`, whose object NodeRestriction then checks is the node's own
 * or bound to it), else RBAC decides for the node as for any request. Items are PUTs only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Status } from '@kubernetes/client-node';
import { NODE_WRITES_PATH, type NodeWriteBatchResult, type NodeWriteItem, type NodeWriteResult } from '../common/node-writes.js';
import type { KubeObject } from '../apimachinery/object.js';
import { badRequest, toStatusError } from '../apimachinery/status.js';
import type { UserInfo } from './auth/types.js';
import { parseJson, readBody } from './body.js';
import type { RequestInfo } from './request-info.js';
import { sendJson } from './respond.js';

export function isNodeWritesRequest(info: RequestInfo): boolean {
  return info.isResourceRequest && info.group === 'kedge.io' && info.version === 'v1alpha1' && info.resource === 'nodewrites' && !info.namespace && !info.name && !info.subresource;
}

/** At most this many items in one batch (a hub sends up to 256). */
export const MAX_NODE_WRITE_ITEMS = 1000;
export { NODE_WRITES_PATH };
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
/** Upstream's node names are DNS subdomains; anything else cannot be a node's identity. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** What a batch needs of the request pipeline (ApiHandler). */
export interface NodeWritePipeline {
  impersonateAs(caller: UserInfo, name: string, groups: string[]): Promise<UserInfo>;
  /** RBAC's decision for `user`; throws the Forbidden Status upstream answers. */
  authorize(user: UserInfo, info: RequestInfo): Promise<void>;
  putInProcess(user: UserInfo, path: string, raw: unknown, manager: string, authorize: (user: UserInfo, info: RequestInfo) => Promise<void>): Promise<KubeObject>;
}

/**
 * Upstream's Node authorizer for the writes a batch carries: a node updates its own Lease in kube-node-lease,
 * and `nodes/status` / `pods/status` (which objects: NodeRestriction admission decides). Undefined: not decided
 * here (RBAC decides); a string: denied with that reason.
 */
export function nodeAuthorizerDecision(node: string, info: RequestInfo): 'allow' | string | undefined {
  if (info.verb !== 'update') return undefined;
  if (info.group === 'coordination.k8s.io' && info.resource === 'leases' && !info.subresource) {
    if (info.namespace !== NODE_LEASE_NAMESPACE) return `can only access leases in the "${NODE_LEASE_NAMESPACE}" system namespace`;
    if (info.name !== node) return 'can only access node lease with the same name as the requesting node';
    return 'allow';
  }
  if (info.group === '' && info.subresource === 'status' && (info.resource === 'nodes' || info.resource === 'pods')) return 'allow';
  return undefined;
}

/** The batch's items, checked for shape (a bad batch is refused whole, before anything is written). */
export function parseNodeWriteBatch(raw: unknown): NodeWriteItem[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('a node-write batch is a JSON object with "items"');
  const items = (raw as { items?: unknown }).items;
  if (!Array.isArray(items)) throw badRequest('a node-write batch needs "items" (an array)');
  if (items.length > MAX_NODE_WRITE_ITEMS) throw badRequest(`a node-write batch carries at most ${MAX_NODE_WRITE_ITEMS} items, got ${items.length}`);
  return items.map((item: unknown, i) => {
    const it = item as Partial<NodeWriteItem> | null;
    if (it === null || typeof it !== 'object') throw badRequest(`items[${i}]: an object with node, path and object`);
    if (typeof it.node !== 'string' || !NODE_NAME.test(it.node)) throw badRequest(`items[${i}].node: a node name (DNS subdomain), got ${JSON.stringify(it.node)?.slice(0, 100)}`);
    if (typeof it.path !== 'string' || !it.path.startsWith('/')) throw badRequest(`items[${i}].path: an object's URL path`);
    if (it.object === null || typeof it.object !== 'object' || Array.isArray(it.object)) throw badRequest(`items[${i}].object: the object to write`);
    return { node: it.node, path: it.path, object: it.object as NodeWriteItem['object'] };
  });
}

export class NodeWrites {
  constructor(private readonly pipeline: NodeWritePipeline, private readonly maxBodyBytes = MAX_BATCH_BYTES) {}

  /** POST NODE_WRITES_PATH by `caller` (already authenticated and allowed to create nodewrites). */
  async serve(req: IncomingMessage, res: ServerResponse, caller: UserInfo, manager: string): Promise<void> {
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (ctype !== 'application/json') throw badRequest(`a node-write batch is application/json, got ${JSON.stringify(ctype)}`);
    const items = parseNodeWriteBatch(parseJson((await readBody(req, this.maxBodyBytes)).toString('utf8')));
    sendJson(req, res, 200, await this.write(caller, items, manager));
  }

  /** Every item written as its node, concurrently (their store writes share a commit); one item's failure is its own. */
  async write(caller: UserInfo, items: NodeWriteItem[], manager: string): Promise<NodeWriteBatchResult> {
    const identities = new Map<string, Promise<UserInfo>>();
    const identity = (node: string) => {
      let p = identities.get(node);
      if (!p) identities.set(node, (p = this.pipeline.impersonateAs(caller, `${NODE_USER_PREFIX}${node}`, [NODES_GROUP])));
      return p;
    };
    const authorize = async (user: UserInfo, info: RequestInfo) => {
      const node = user.username.slice(NODE_USER_PREFIX.length);
      const decision = nodeAuthorizerDecision(node, info);
      if (decision === 'allow') return;
      // Denied by the node rules, or not theirs to decide: RBAC answers (with upstream's Forbidden text); a denial
      // by the node rules is kept only when RBAC denies too.
      try {
        await this.pipeline.authorize(user, info);
      } catch (err) {
        if (typeof decision === 'string') {
          const se = toStatusError(err);
          se.status.message = `${se.status.message}: ${decision}`;
        }
        throw err;
      }
    };
    const results = await Promise.all(items.map(async (item): Promise<NodeWriteResult> => {
      try {
        const user = await identity(item.node);
        const written = await this.pipeline.putInProcess(user, item.path, item.object as KubeObject, manager, authorize);
        return { code: 200, resourceVersion: written.metadata?.resourceVersion };
      } catch (err) {
        const se = toStatusError(err);
        return { code: se.code, status: se.status as V1Status };
      }
    }));
    return { apiVersion: 'kedge.io/v1alpha1', kind: 'NodeWriteBatchResult', results };
  }
}
