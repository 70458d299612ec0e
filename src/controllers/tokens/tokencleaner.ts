import type { V1Secret } from '@kubernetes/client-node';
import { bootstrapTokenExpiry } from '../../common/bootstrap-token-expiry.js';
import { errorCode } from '../client.js';
import { QueueRunner, type Controller, type ControllerContext } from '../controller.js';

/** Where bootstrap tokens live (kubeadm's layout, src/pki/bootstrap-token.ts). */
const NAMESPACE = 'kube-system';
const MAX_WAIT_MS = 24 * 60 * 60_000;

/**
 * Deletes bootstrap-token Secrets once their `expiration` has passed, as kube-controller-manager's tokencleaner does:
 * an expired token is already refused at authentication and at join; this removes its Secret so `kedge token list`
 * and the Secret list do not grow with every join. Each token is requeued for its own expiry (no periodic scan).
 *
 * Several servers: it runs under the controller manager's Lease, so one server deletes; a delete carries the
 * Secret's uid as precondition, so a token re-created under the same name is never taken for the expired one.
 */
export class TokenCleanerController implements Controller {
  readonly name = 'tokencleaner';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext, private readonly now: () => number = Date.now) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const tokens = this.ctx.informers.get<V1Secret>('bootstraptokens');
    const q = this.runner.queue;
    tokens.onAdd((s) => q.add(s.metadata!.name!));
    tokens.onUpdate((s) => q.add(s.metadata!.name!));
    this.runner.run(1);
  }

  private async sync(name: string): Promise<void | { requeueAfterMs?: number }> {
    const secret = this.ctx.informers.get<V1Secret>('bootstraptokens').get(name, NAMESPACE);
    if (!secret || secret.metadata?.deletionTimestamp) return;
    const expiry = bootstrapTokenExpiry(secret);
    if (expiry === undefined || Number.isNaN(expiry)) return; // never expires, or unreadable: refused at use, kept for the operator
    const left = expiry - this.now();
    // At most a day at a time: a timer past ~24.8 days would fire at once (setTimeout's limit) and spin.
    if (left > 0) return { requeueAfterMs: Math.min(left, MAX_WAIT_MS) };
    try {
      await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Secret', namespace: NAMESPACE, name }, { uid: secret.metadata?.uid });
      this.ctx.log.info({ secret: `${NAMESPACE}/${name}` }, 'deleted expired bootstrap token');
    } catch (err) {
      const code = errorCode(err);
      if (code === 404 || code === 409) return; // already gone, or a new token of that name: its own add event brings it back
      throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
