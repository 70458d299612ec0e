/**
 * The wire shape of node-write batches (`create nodewrites.kedge.io`): served by the API server
 * (src/apiserver/node-writes.ts), sent by the cloud hub (src/cloudhub/node-write-batcher.ts).
 */
import type { V1Status } from '@kubernetes/client-node';

/** The batch endpoint: the cluster-scoped, review-like resource `nodewrites.kedge.io` (nothing is stored under it). */
export const NODE_WRITES_PATH = '/apis/kedge.io/v1alpha1/nodewrites';

export interface NodeWriteItem {
  /** The node the write is made for: it runs as system:node:<node>. */
  node: string;
  /** The object's URL path, as a PUT's (a Lease, or a `…/status` subresource). */
  path: string;
  object: Record<string, unknown> & { metadata?: { resourceVersion?: string } };
}

export interface NodeWriteBatch {
  apiVersion: 'kedge.io/v1alpha1';
  kind: 'NodeWriteBatch';
  items: NodeWriteItem[];
}

/** One item's outcome, in the batch's order: the stored resourceVersion, or the Status a PUT would have answered. */
export interface NodeWriteResult {
  code: number;
  resourceVersion?: string;
  status?: V1Status;
}

export interface NodeWriteBatchResult {
  apiVersion: 'kedge.io/v1alpha1';
  kind: 'NodeWriteBatchResult';
  results: NodeWriteResult[];
}
