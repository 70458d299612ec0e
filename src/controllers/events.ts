import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { KubeApi } from './client.js';
import { isNotFound } from './client.js';
import { EventCorrelator, type CorrelatorOptions } from '../common/event-correlator.js';

export interface EventRecorder {
  /** Records a core/v1 Event about obj; repeats of the same event bump count instead of creating new ones. */
  event(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
  flush(): Promise<void>;
}

/**
 * Events are best effort (as upstream): writes are fire-and-forget and never fail a reconcile. Repeats are
 * correlated as client-go's recorder does (src/common/event-correlator.ts): an identical event bumps the count
 * of the Event already written, similar ones are combined, a flood about one object is rate-limited, so a pod
 * that stays unschedulable does not flood the API and `kubectl describe` shows `(xN over …)`.
 */
export class ApiEventRecorder implements EventRecorder {
  private readonly correlator: EventCorrelator;
  /** The write chain per Event: an update must not overtake the create it counts on. */
  private readonly chains: Map<string, Promise<void>>;

  constructor(private readonly api: KubeApi, private readonly component: string, correlator: CorrelatorOptions | ApiEventRecorder = {}) {
    if (correlator instanceof ApiEventRecorder) {
      this.correlator = correlator.correlator;
      this.chains = correlator.chains;
    } else {
      this.correlator = new EventCorrelator(correlator);
      this.chains = new Map();
    }
  }

  /**
   * The same recorder reporting as another component: each upstream controller has its own (`deployment-controller`,
   * `default-scheduler`, …) and `kubectl get events` shows that name; the correlation and write chains stay shared,
   * so one flush() covers them all.
   */
  forComponent(component: string): ApiEventRecorder {
    return new ApiEventRecorder(this.api, component, this);
  }

  event(obj: KubernetesObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const md = obj.metadata ?? {};
    const correlated = this.correlator.correlate({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: md.namespace || 'default' },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: md.name, namespace: md.namespace, uid: md.uid, resourceVersion: md.resourceVersion },
      reason,
      message,
      type,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.component,
    });
    if (!correlated) return; // spam-filtered
    const ev = correlated.event;
    const ref = { apiVersion: 'v1', kind: 'Event', namespace: ev.metadata!.namespace!, name: ev.metadata!.name! };
    const write = async (): Promise<void> => {
      if (correlated.update) {
        try {
          await this.api.patch(ref, { count: ev.count, lastTimestamp: ev.lastTimestamp, message: ev.message });
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // Gone (the API server's event TTL): write it anew with its count, as upstream does.
        }
      }
      await this.api.create<CoreV1Event>(ev);
    };
    const key = `${ref.namespace}/${ref.name}`;
    const chained = (this.chains.get(key) ?? Promise.resolve()).then(write).catch(() => {});
    this.chains.set(key, chained);
    void chained.finally(() => {
      if (this.chains.get(key) === chained) this.chains.delete(key);
    });
  }

  async flush(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
  }
}
