import type { V1Namespace } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, type Controller, type ControllerContext } from '../controller.js';

export const KubernetesFinalizer = 'kubernetes';

/**
 * Namespace deletion: a namespace being deleted keeps the `kubernetes` finalizer in spec.finalizers until
 * everything in it is gone. We delete every namespaced object the server serves (found through discovery, so
 * CRDs are included), wait until the lists come back empty, then remove our finalizer through /finalize.
 */
export class NamespaceController implements Controller {
  readonly name = 'namespace';
  private readonly runner: QueueRunner;
  private kinds?: { at: number; list: Array<{ apiVersion: string; kind: string }> };

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const nss = this.ctx.informers.get<V1Namespace>('namespaces');
    const q = this.runner.queue;
    const on = (ns: V1Namespace) => {
      if (ns.metadata?.deletionTimestamp) q.add(keyOf(ns));
    };
    nss.onAdd(on);
    nss.onUpdate(on);
    this.runner.run(2);
  }

  private async discover(): Promise<Array<{ apiVersion: string; kind: string }>> {
    // Discovery changes rarely (CRDs); refresh at most every 10s.
    if (!this.kinds || Date.now() - this.kinds.at > 10_000) this.kinds = { at: Date.now(), list: await this.ctx.api.namespacedKinds() };
    return this.kinds.list;
  }

  private async sync(name: string): Promise<void | { requeueAfterMs?: number }> {
    const ns = this.ctx.informers.get<V1Namespace>('namespaces').get(name);
    if (!ns?.metadata?.deletionTimestamp) return;
    const finalizers = ns.spec?.finalizers ?? [];
    if (!finalizers.includes(KubernetesFinalizer)) return;
    let remaining = 0;
    for (const { apiVersion, kind } of await this.discover()) {
      if (kind === 'Event' && apiVersion !== 'v1') continue; // same objects as core/v1 events
      let items;
      try {
        items = await this.ctx.api.listObjects(apiVersion, kind, name);
      } catch (err) {
        if (isNotFound(err) || errorCode(err) === 405) continue;
        throw err;
      }
      for (const o of items) {
        remaining++;
        if (o.metadata?.deletionTimestamp) continue;
        try {
          await this.ctx.api.delete({ apiVersion, kind, namespace: name, name: o.metadata!.name! }, { propagationPolicy: 'Background' });
        } catch (err) {
          if (!isNotFound(err) && errorCode(err) !== 409) throw err;
        }
      }
    }
    if (remaining > 0) return { requeueAfterMs: 1000 };
    try {
      await this.ctx.api.finalizeNamespace(ns, finalizers.filter((f) => f !== KubernetesFinalizer));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
