/**
 * Resource quota controller (kube-controller-manager's `resourcequota`): keeps each ResourceQuota's status.hard equal
 * to spec.hard and status.used equal to what the namespace's objects use (src/common/quota.ts counts them, as the
 * API server's admission does). Admission adds a created object at once; this controller gives usage back when
 * objects go away (replenishment, on pod/service/claim events) and recounts everything on a resync.
 */
import type { KubernetesObject, V1ResourceQuota } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import type { ResourceName } from '../informers.js';
import { accumulate, podIsTerminal, quotaCounts, usageOf, usedStatus, type QuotaObject, type QuotaScopeSpec } from '../../common/quota.js';
import type { Quantity } from '../../common/quantity.js';

/** Upstream recounts every quota on `--resource-quota-sync-period` (5m); replenishment events make most recounts sooner. */
const RESYNC_MS = 5 * 60_000;

interface Counted { group: string; resource: string; apiVersion: string; kind: string; informer?: ResourceName }

/** The namespaced resources whose objects this controller counts (pods, services and claims from informers). */
const COUNTED: readonly Counted[] = [
  { group: '', resource: 'pods', apiVersion: 'v1', kind: 'Pod', informer: 'pods' },
  { group: '', resource: 'services', apiVersion: 'v1', kind: 'Service', informer: 'services' },
  { group: '', resource: 'persistentvolumeclaims', apiVersion: 'v1', kind: 'PersistentVolumeClaim', informer: 'persistentvolumeclaims' },
  { group: '', resource: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap' },
  { group: '', resource: 'secrets', apiVersion: 'v1', kind: 'Secret' },
  { group: '', resource: 'replicationcontrollers', apiVersion: 'v1', kind: 'ReplicationController' },
  { group: '', resource: 'resourcequotas', apiVersion: 'v1', kind: 'ResourceQuota', informer: 'resourcequotas' },
  { group: 'apps', resource: 'deployments', apiVersion: 'apps/v1', kind: 'Deployment', informer: 'deployments' },
  { group: 'apps', resource: 'replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet', informer: 'replicasets' },
  { group: 'apps', resource: 'statefulsets', apiVersion: 'apps/v1', kind: 'StatefulSet', informer: 'statefulsets' },
  { group: 'apps', resource: 'daemonsets', apiVersion: 'apps/v1', kind: 'DaemonSet', informer: 'daemonsets' },
  { group: 'batch', resource: 'jobs', apiVersion: 'batch/v1', kind: 'Job', informer: 'jobs' },
  { group: 'batch', resource: 'cronjobs', apiVersion: 'batch/v1', kind: 'CronJob', informer: 'cronjobs' },
  { group: 'networking.k8s.io', resource: 'ingresses', apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' },
  { group: 'autoscaling', resource: 'horizontalpodautoscalers', apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler' },
  { group: 'policy', resource: 'poddisruptionbudgets', apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
];

/** Every quota name an object of `c` could count toward (one sample object carrying every counted field). */
function namesCountedBy(c: Counted): Set<string> {
  const all = { cpu: '1', memory: '1', 'ephemeral-storage': '1' };
  return new Set(usageOf(c.group, c.resource, { spec: { containers: [{ resources: { requests: all, limits: all } }], resources: { requests: { storage: '1' } }, type: 'LoadBalancer' } }).keys());
}

export class ResourceQuotaController implements Controller {
  readonly name = 'resourcequota';
  private readonly runner: QueueRunner;
  private readonly counted = COUNTED.map((c) => ({ ...c, names: namesCountedBy(c) }));

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const quotas = this.ctx.informers.get<V1ResourceQuota>('resourcequotas');
    const q = this.runner.queue;
    quotas.onAdd((o) => q.add(keyOf(o)));
    // As upstream: a quota is recounted when its spec says more than its status does, not on every status write
    // (admission charges status.used; recounting each charge from informers that trail it would undercount).
    quotas.onUpdate((o) => { if (!statusCovers(o)) q.add(keyOf(o)); });
    // Replenishment: a deleted object, or a pod that finished, gives its usage back.
    const namespaceChanged = (o: KubernetesObject) => { for (const quota of quotas.list(o.metadata?.namespace)) q.add(keyOf(quota)); };
    for (const name of ['pods', 'services', 'persistentvolumeclaims'] as const) {
      const inf = this.ctx.informers.get(name);
      inf.onDelete(namespaceChanged);
      inf.onUpdate(name === 'pods' ? (o) => { if (podIsTerminal(o as QuotaObject)) namespaceChanged(o); } : namespaceChanged);
    }
    this.runner.run();
  }

  private async objectsOf(c: Counted, namespace: string): Promise<KubernetesObject[]> {
    if (c.informer) return this.ctx.informers.get(c.informer).list(namespace);
    return this.ctx.api.listObjects(c.apiVersion, c.kind, namespace);
  }

  private async sync(key: string): Promise<{ requeueAfterMs: number } | void> {
    const { namespace, name } = splitKey(key);
    const quota = this.ctx.informers.get<V1ResourceQuota>('resourcequotas').get(name, namespace);
    if (!quota || !namespace || quota.metadata?.deletionTimestamp) return;
    const hard = (quota.spec?.hard ?? {}) as Record<string, unknown>;
    const keys = new Set(Object.keys(hard));
    const used = new Map<string, Quantity>();
    for (const c of this.counted) {
      if (![...c.names].some((n) => keys.has(n))) continue;
      for (const o of await this.objectsOf(c, namespace)) {
        if (quotaCounts((quota.spec ?? {}) as QuotaScopeSpec, c.group, c.resource, o as QuotaObject)) accumulate(used, usageOf(c.group, c.resource, o as QuotaObject), keys);
      }
    }
    const status = { hard: { ...hard }, used: usedStatus(hard, used) };
    if (JSON.stringify(sorted(quota.status?.hard)) !== JSON.stringify(sorted(status.hard)) || JSON.stringify(sorted(quota.status?.used)) !== JSON.stringify(status.used)) {
      try {
        // The whole status is replaced (merge patch of maps would keep names that left spec.hard): null first.
        // With the resourceVersion counted against: an admission that charged the quota since then wins (409, recount).
        await this.ctx.api.patchStatus({ apiVersion: 'v1', kind: 'ResourceQuota', namespace, name },
          { metadata: { resourceVersion: quota.metadata?.resourceVersion }, status: { hard: nulls(quota.status?.hard, status.hard), used: nulls(quota.status?.used, status.used) } });
      } catch (err) {
        if (isConflict(err)) return { requeueAfterMs: 100 };
        if (!isNotFound(err)) throw err;
      }
    }
    return { requeueAfterMs: RESYNC_MS };
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}

/** Whether status.hard is spec.hard and status.used has every name of it (nothing for the controller to add). */
function statusCovers(quota: V1ResourceQuota): boolean {
  const hard = quota.spec?.hard ?? {};
  return JSON.stringify(sorted(hard)) === JSON.stringify(sorted(quota.status?.hard)) && Object.keys(hard).every((k) => quota.status?.used?.[k] !== undefined);
}

function sorted(m: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m ?? {}).sort(([a], [b]) => a.localeCompare(b)));
}

/** A merge patch that makes `cur` equal `want`: names missing from `want` set to null. */
function nulls(cur: Record<string, unknown> | undefined, want: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...want };
  for (const k of Object.keys(cur ?? {})) if (!(k in want)) out[k] = null;
  return out;
}
