/**
 * Storage object in-use protection, as kube-controller-manager's `pvc-protection` and `pv-protection` controllers:
 * the API server's StorageObjectInUseProtection admission puts `kubernetes.io/pvc-protection` on every new claim and
 * `kubernetes.io/pv-protection` on every new volume; these controllers take the finalizer off a claim being deleted
 * once no pod uses it (scheduled and not finished; ephemeral volumes' claims too), and off a volume being deleted
 * once it is not Bound. So a claim in use stays Terminating until its pods are gone, and its data with it.
 */
import type { KubernetesObject, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';

export const PVC_PROTECTION_FINALIZER = 'kubernetes.io/pvc-protection';
export const PV_PROTECTION_FINALIZER = 'kubernetes.io/pv-protection';

/** Whether `pod` holds `claimName` (a PersistentVolumeClaim volume, or the claim of a generic ephemeral volume). */
export function podUsesClaim(pod: V1Pod, claimName: string): boolean {
  // Upstream counts scheduled pods only (the kubelet refuses to start a pod whose claim is being deleted) that have
  // not finished.
  if (!pod.spec?.nodeName || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
  return (pod.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claimName
    || (v.ephemeral !== undefined && `${pod.metadata?.name ?? ''}-${v.name}` === claimName));
}

/** The finalizer taken off, with the object's resourceVersion as precondition (a concurrent change wins and we retry). */
async function removeFinalizer(ctx: ControllerContext, obj: KubernetesObject, kind: string, finalizer: string): Promise<void | { requeueAfterMs: number }> {
  const finalizers = (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer);
  try {
    await ctx.api.patch({ apiVersion: 'v1', kind, namespace: obj.metadata?.namespace, name: obj.metadata!.name! },
      { metadata: { resourceVersion: obj.metadata?.resourceVersion, finalizers: finalizers.length ? finalizers : null } });
  } catch (err) {
    if (isNotFound(err)) return;
    if (isConflict(err)) return { requeueAfterMs: 100 };
    throw err;
  }
}

export class PvcProtectionController implements Controller {
  readonly name = 'pvc-protection';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  private get claims() { return this.ctx.informers.get<V1PersistentVolumeClaim>('persistentvolumeclaims'); }

  start(): void {
    const q = this.runner.queue;
    const claimChanged = (c: V1PersistentVolumeClaim) => { if (c.metadata?.deletionTimestamp) q.add(keyOf(c)); };
    this.claims.onAdd(claimChanged);
    this.claims.onUpdate(claimChanged);
    // A pod that goes away or finishes may free the claims it named.
    const podChanged = (p: V1Pod) => {
      for (const c of this.claims.list(p.metadata?.namespace)) if (c.metadata?.deletionTimestamp) q.add(keyOf(c));
    };
    const pods = this.ctx.informers.get<V1Pod>('pods');
    pods.onDelete(podChanged);
    pods.onUpdate(podChanged);
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs: number }> {
    const { namespace, name } = splitKey(key);
    const claim = this.claims.get(name, namespace);
    if (!claim?.metadata?.deletionTimestamp || !(claim.metadata.finalizers ?? []).includes(PVC_PROTECTION_FINALIZER)) return;
    const pods = this.ctx.informers.get<V1Pod>('pods');
    if (pods.list(namespace).some((p) => podUsesClaim(p, name))) return;
    // The informer may trail a pod created a moment ago: ask the API server before letting the claim go (upstream
    // does the same live list).
    const live = await this.ctx.api.listObjects('v1', 'Pod', namespace ?? '') as V1Pod[];
    if (live.some((p) => podUsesClaim(p, name))) return;
    return removeFinalizer(this.ctx, claim, 'PersistentVolumeClaim', PVC_PROTECTION_FINALIZER);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}

export class PvProtectionController implements Controller {
  readonly name = 'pv-protection';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  private get volumes() { return this.ctx.informers.get<V1PersistentVolume>('persistentvolumes'); }

  start(): void {
    const q = this.runner.queue;
    const changed = (v: V1PersistentVolume) => { if (v.metadata?.deletionTimestamp) q.add(v.metadata.name!); };
    this.volumes.onAdd(changed);
    this.volumes.onUpdate(changed);
    this.runner.run();
  }

  private async sync(name: string): Promise<void | { requeueAfterMs: number }> {
    const pv = this.volumes.get(name);
    if (!pv?.metadata?.deletionTimestamp || !(pv.metadata.finalizers ?? []).includes(PV_PROTECTION_FINALIZER)) return;
    // A volume is in use while it is Bound to a claim (upstream's pv-protection test).
    if (pv.status?.phase === 'Bound') return;
    return removeFinalizer(this.ctx, pv, 'PersistentVolume', PV_PROTECTION_FINALIZER);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
