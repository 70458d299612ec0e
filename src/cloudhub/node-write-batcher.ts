/**
 * The hub's side of node-write batches (src/apiserver/node-writes.ts): the status writer's PUTs of Leases, Node
 * statuses and pod statuses, collected for BATCH_WINDOW_MS (or until MAX_BATCH items) and sent as one
 * `create nodewrites.kedge.io`, each item made as the node that reported it. A PUT answers as it would alone:
 * its resourceVersion, or a KubeApiError with the item's own code and Status (a failed batch request fails each
 * of its items with its code), so the status writer's conflict and retry handling is unchanged.
 * Only `kedge server` serves the endpoint; `kedge cloud` writes one request per object.
 */
import { KubeApiError, type KubeClient } from '../common/kube-client.js';
import { NODE_WRITES_PATH, type NodeWriteBatch, type NodeWriteBatchResult, type NodeWriteItem } from '../common/node-writes.js';
/** Items per batch request: ~100 KiB of Leases, a few hundred KiB of pod statuses. */
export const MAX_BATCH = 256;
/**
 * How long the first write of a batch waits for others: at 1,000 nodes renewals arrive ~100/s, so one event-loop
 * turn rarely holds more than one; 50 ms gathers ~5 (~50 at 10,000 nodes). A Lease's renewTime is set by the edge
 * before it is sent, so the wait never ages it; a pod status reaches the API ≤ 50 ms later.
 */
export const BATCH_WINDOW_MS = 50;

interface Queued {
  item: NodeWriteItem;
  resolve: (resourceVersion: string) => void;
  reject: (err: unknown) => void;
}

export class NodeWriteBatcher {
  private queue: Queued[] = [];
  private scheduled = false;

  private timer?: NodeJS.Timeout;

  constructor(
    private readonly api: KubeClient,
    private readonly opts: { maxBatch?: number; windowMs?: number; onSent?: (items: number, ok: boolean) => void } = {},
  ) {}

  /** PUT `object` at `path` as node `node`; resolves to the written resourceVersion. */
  put(node: string, path: string, object: object): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ item: { node, path, object: object as NodeWriteItem['object'] }, resolve, reject });
      if (this.queue.length >= (this.opts.maxBatch ?? MAX_BATCH)) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        const windowMs = this.opts.windowMs ?? BATCH_WINDOW_MS;
        if (windowMs > 0) this.timer = setTimeout(() => this.flush(), windowMs);
        else setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length) void this.send(this.queue.splice(0, this.opts.maxBatch ?? MAX_BATCH));
  }

  private async send(batch: Queued[]): Promise<void> {
    let answer: NodeWriteBatchResult;
    try {
      answer = await this.api.request<NodeWriteBatchResult>('POST', NODE_WRITES_PATH, { apiVersion: 'kedge.io/v1alpha1', kind: 'NodeWriteBatch', items: batch.map((q) => q.item) } satisfies NodeWriteBatch);
      if (answer?.results?.length !== batch.length) throw new Error(`node-write batch: ${batch.length} items sent, ${answer?.results?.length ?? 0} results answered`);
    } catch (err) {
      this.opts.onSent?.(batch.length, false);
      for (const q of batch) q.reject(err);
      return;
    }
    this.opts.onSent?.(batch.length, true);
    batch.forEach((q, i) => {
      const r = answer.results[i]!;
      if (r.code >= 200 && r.code < 300 && r.resourceVersion) q.resolve(r.resourceVersion);
      else q.reject(new KubeApiError(r.code, JSON.stringify(r.status ?? {}), 'PUT', q.item.path));
    });
  }
}
