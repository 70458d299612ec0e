import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import { QueueRunner, type Controller, type ControllerContext } from '../controller.js';

/**
 * Every active namespace has a `default` ServiceAccount (upstream serviceaccounts-controller). Idempotent:
 * if the API server already creates it, our create gets AlreadyExists and nothing happens.
 */
export class ServiceAccountController implements Controller {
  readonly name = 'serviceaccount';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const nss = this.ctx.informers.get<V1Namespace>('namespaces');
    const sas = this.ctx.informers.get<V1ServiceAccount>('serviceaccounts');
    const q = this.runner.queue;
    nss.onAdd((ns) => q.add(ns.metadata!.name!));
    nss.onUpdate((ns) => q.add(ns.metadata!.name!));
    sas.onDelete((sa) => {
      if (sa.metadata?.name === 'default') q.add(sa.metadata.namespace!);
    });
    this.runner.run(2);
  }

  private async sync(nsName: string): Promise<void> {
    const ns = this.ctx.informers.get<V1Namespace>('namespaces').get(nsName);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase === 'Terminating') return;
    if (this.ctx.informers.get<V1ServiceAccount>('serviceaccounts').get('default', nsName)) return;
    try {
      await this.ctx.api.create<V1ServiceAccount>({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: nsName } });
    } catch (err) {
      const code = errorCode(err);
      if (code === 409) return; // already there (server-created or informer lag)
      if (code === 403 || code === 404) return; // namespace terminating / gone
      throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
