import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import type { Controller, ControllerContext } from '../controller.js';

/**
 * Pod garbage collection (upstream podgc), the orphan part: pods bound to a node that no longer exists can
 * never be run or finalized by a kubelet, so they are force-deleted (grace period 0). The node's absence is
 * confirmed with a live GET first — the informer may simply not have seen a new node yet.
 */
export class PodGCController implements Controller {
  readonly name = 'podgc';
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(private readonly ctx: ControllerContext, private readonly periodMs = 20_000) {}

  start(): void {
    this.ctx.informers.get<V1Pod>('pods');
    this.ctx.informers.get<V1Node>('nodes');
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.sweep().then(() => undefined).catch((err) => this.ctx.log.warn({ err: String(err) }, 'pod gc pass failed')).finally(() => (this.running = undefined));
    }, this.periodMs);
  }

  async sweep(): Promise<number> {
    await this.ctx.synced;
    const nodes = this.ctx.informers.get<V1Node>('nodes');
    const missing = new Map<string, boolean>();
    let deleted = 0;
    for (const pod of this.ctx.informers.get<V1Pod>('pods').list()) {
      const nodeName = pod.spec?.nodeName;
      if (!nodeName || nodes.get(nodeName)) continue;
      let gone = missing.get(nodeName);
      if (gone === undefined) {
        gone = !(await this.ctx.api.get({ apiVersion: 'v1', kind: 'Node', name: nodeName }));
        missing.set(nodeName, gone);
      }
      if (!gone) continue;
      try {
        await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pod.metadata!.namespace!, name: pod.metadata!.name! }, { uid: pod.metadata?.uid, gracePeriodSeconds: 0 });
        deleted++;
      } catch (err) {
        if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
      }
    }
    return deleted;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
