import { randomBytes } from 'node:crypto';
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { KubeApi } from './client.js';

export interface EventRecorder {
  /** Records a core/v1 Event about obj; repeats of the same event bump count instead of creating new ones. */
  event(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
  flush(): Promise<void>;
}

/**
 * Events are best effort (as upstream): writes are fire-and-forget and never fail a reconcile. Identical events
 * (same object, reason, message) within the cache window are aggregated into one Event with a count, like the
 * upstream event correlator does, so a pod that stays unschedulable does not flood the API.
 */
export class ApiEventRecorder implements EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; first: string }>();
  private pending = new Set<Promise<unknown>>();

  constructor(private readonly api: KubeApi, private readonly component: string, private readonly maxCache = 4096) {}

  event(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const md = obj.metadata ?? {};
    const namespace = md.namespace || 'default';
    const key = `${md.uid ?? md.name}|${reason}|${message}`;
    const now = new Date().toISOString();
    const prev = this.seen.get(key);
    let p: Promise<unknown>;
    if (prev) {
      prev.count++;
      p = this.api.patch(
        { apiVersion: 'v1', kind: 'Event', namespace: prev.namespace, name: prev.name },
        { count: prev.count, lastTimestamp: now },
      );
    } else {
      const name = `${md.name}.${randomBytes(8).toString('hex')}`;
      if (this.seen.size >= this.maxCache) this.seen.delete(this.seen.keys().next().value as string);
      this.seen.set(key, { name, namespace, count: 1, first: now });
      const ev: CoreV1Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: md.name,
          namespace: md.namespace,
          uid: md.uid,
          resourceVersion: md.resourceVersion,
        },
        reason,
        message,
        type,
        count: 1,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now as unknown as Date,
        lastTimestamp: now as unknown as Date,
      };
      p = this.api.create(ev);
    }
    const tracked = p.catch(() => {}).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
