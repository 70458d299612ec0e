import type { Logger } from '../common/logger.js';
import type { KubeApi } from './client.js';
import type { EventRecorder } from './events.js';
import type { InformerSource } from './informers.js';
import type { ControllerMetrics } from './metrics.js';
import { WorkQueue } from './workqueue.js';
import type { DisruptionOptions } from './nodes/disruption.js';

/** What every controller gets from the manager. */
export interface ControllerContext {
  api: KubeApi;
  informers: InformerSource;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  options: ControllerOptions;
  /** Resolves once every informer has its initial list: acting on a partial cache would duplicate pods. */
  synced: Promise<void>;
}

export interface ControllerOptions {
  /** Seconds without a lease renewal before a node is considered unreachable (upstream default 40). */
  nodeMonitorGracePeriodSeconds: number;
  /** tolerationSeconds added to pods for not-ready/unreachable (upstream default 300). */
  defaultTolerationSeconds: number;
  /** How often node lifecycle checks leases (seconds). */
  nodeMonitorPeriodSeconds: number;
  /** Workers per controller. */
  workers: number;
  /**
   * Set: the node lifecycle controller behaves as kube-controller-manager's does (no edge autonomy, NoExecute taints
   * rate-limited by zone disruption mode); `kedge server --upstream-node-lifecycle` (docs/design/upstream-lifecycle.md).
   */
  upstreamNodeLifecycle?: DisruptionOptions;
}

export const defaultControllerOptions: ControllerOptions = {
  nodeMonitorGracePeriodSeconds: 40,
  defaultTolerationSeconds: 300,
  nodeMonitorPeriodSeconds: 5,
  workers: 4,
};

export interface Controller {
  readonly name: string;
  /** Registers informer handlers; called before informers start. */
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export type Reconcile = (key: string) => Promise<void | { requeueAfterMs?: number }>;

/**
 * Runs `workers` loops pulling keys from a queue and reconciling them, with retries and metrics.
 * Keys that keep failing are dropped after maxRetries (the next informer event brings them back).
 */
export class QueueRunner {
  readonly queue: WorkQueue;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly name: string,
    private readonly ctx: ControllerContext,
    private readonly reconcile: Reconcile,
    private readonly maxRetries = 15,
  ) {
    const gauge = ctx.metrics.queueDepth.labels(name);
    this.queue = new WorkQueue({ onDepth: (d) => gauge.set(d) });
  }

  run(workers = this.ctx.options.workers): void {
    for (let i = 0; i < workers; i++) this.loops.push(this.loop());
  }

  private async loop(): Promise<void> {
    await this.ctx.synced;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = this.ctx.metrics.reconcileDuration.labels(this.name).startTimer();
      try {
        this.ctx.metrics.reconcileTotal.labels(this.name).inc();
        const res = await this.reconcile(key);
        this.queue.forget(key);
        if (res && res.requeueAfterMs !== undefined) this.queue.addAfter(key, res.requeueAfterMs);
      } catch (err) {
        this.ctx.metrics.reconcileErrors.labels(this.name).inc();
        if (this.queue.numRequeues(key) < this.maxRetries) {
          this.queue.addRateLimited(key);
          this.ctx.log.debug({ controller: this.name, key, err: String(err) }, 'reconcile failed, retrying');
        } else {
          this.queue.forget(key);
          this.ctx.log.warn({ controller: this.name, key, err: String(err) }, 'reconcile failed, giving up');
        }
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.loops);
  }
}

/** "namespace/name" or "name" for cluster-scoped objects, as client-go's MetaNamespaceKeyFunc. */
export function keyOf(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : `${obj.metadata?.name}`;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
