import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { controllerRefOf, isControlledBy, isPodAvailable, isPodReady, ownerRef, podFromTemplate, templateHash } from '../util/pods.js';

const PodNameLabel = 'statefulset.kubernetes.io/pod-name';
const PodIndexLabel = 'apps.kubernetes.io/pod-index';
const RevisionLabel = 'controller-revision-hash';

export function ordinalOf(setName: string, podName: string): number {
  const m = new RegExp(`^${setName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`).exec(podName);
  return m ? Number(m[1]) : -1;
}

/**
 * StatefulSet: pods NAME-0..N-1 with stable names and hostnames. OrderedReady creates one at a time in
 * ordinal order, each after its predecessors are Running and Ready, and removes from the highest ordinal
 * down; Parallel acts on all at once. RollingUpdate replaces out-of-date pods from the highest ordinal down,
 * one at a time, respecting partition.
 */
export class StatefulSetController implements Controller {
  readonly name = 'statefulset';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const sets = this.ctx.informers.get<V1StatefulSet>('statefulsets');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    sets.onAdd((s) => q.add(keyOf(s)));
    sets.onUpdate((s) => q.add(keyOf(s)));
    const owner = (p: V1Pod) => {
      const r = controllerRefOf(p);
      if (r?.kind === 'StatefulSet') q.add(`${p.metadata!.namespace}/${r.name}`);
    };
    pods.onAdd(owner);
    pods.onUpdate(owner);
    pods.onDelete(owner);
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const set = this.ctx.informers.get<V1StatefulSet>('statefulsets').get(name, namespace);
    if (!set) return;
    const replicas = set.spec?.replicas ?? 1;
    const parallel = set.spec?.podManagementPolicy === 'Parallel';
    const revision = `${name}-${templateHash(set.spec?.template)}`;
    const pods = this.ctx.informers.get<V1Pod>('pods').list(namespace).filter((p) => isControlledBy(p, set.metadata?.uid));
    const byOrdinal = new Map<number, V1Pod>();
    for (const p of pods) byOrdinal.set(ordinalOf(name, p.metadata!.name!), p);
    const healthy = (p: V1Pod | undefined) => !!p && p.status?.phase === 'Running' && isPodReady(p) && !p.metadata?.deletionTimestamp;
    const deleting = Boolean(set.metadata?.deletionTimestamp);

    if (!deleting) {
      // Create missing / replace failed pods in ordinal order.
      for (let i = 0; i < replicas; i++) {
        const p = byOrdinal.get(i);
        if (p && (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') && !p.metadata?.deletionTimestamp) {
          await this.deletePod(namespace!, p);
          if (!parallel) return;
          continue;
        }
        if (!p) {
          await this.createPod(set, i, revision);
          if (!parallel) return this.updateStatus(set, pods, revision);
          continue;
        }
        if (!parallel && !healthy(p)) return this.updateStatus(set, pods, revision);
      }
      // Scale down from the highest ordinal.
      const extra = [...byOrdinal.entries()].filter(([i]) => i >= replicas || i < 0).sort((a, b) => b[0] - a[0]);
      for (const [, p] of extra) {
        if (p.metadata?.deletionTimestamp) {
          if (!parallel) return this.updateStatus(set, pods, revision);
          continue;
        }
        await this.deletePod(namespace!, p);
        if (!parallel) return this.updateStatus(set, pods, revision);
      }
      // Rolling update: highest ordinal first, one at a time, only when everything else is healthy.
      if ((set.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
        const partition = set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
        for (let i = replicas - 1; i >= partition; i--) {
          const p = byOrdinal.get(i);
          if (!p) break;
          if (p.metadata?.labels?.[RevisionLabel] !== revision) {
            if (p.metadata?.deletionTimestamp) break;
            const othersHealthy = [...byOrdinal.entries()].filter(([j]) => j !== i && j < replicas).every(([, q]) => healthy(q));
            if (othersHealthy) await this.deletePod(namespace!, p);
            break;
          }
          if (!healthy(p)) break;
        }
      }
    }
    return this.updateStatus(set, pods, revision);
  }

  private async createPod(set: V1StatefulSet, i: number, revision: string): Promise<void> {
    const name = `${set.metadata!.name}-${i}`;
    const pod = podFromTemplate(set.spec!.template, set.metadata!.namespace!, ownerRef(set, 'apps/v1', 'StatefulSet'), { name }, {
      [PodNameLabel]: name,
      [PodIndexLabel]: String(i),
      [RevisionLabel]: revision,
    });
    pod.spec!.hostname = name;
    if (set.spec?.serviceName) pod.spec!.subdomain = set.spec.serviceName;
    try {
      await this.ctx.api.create(pod);
      this.ctx.events.event({ ...set, apiVersion: 'apps/v1', kind: 'StatefulSet' }, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${set.metadata!.name} successful`);
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
    }
  }

  private async deletePod(namespace: string, p: V1Pod): Promise<void> {
    try {
      await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: p.metadata!.name! }, { uid: p.metadata?.uid });
    } catch (err) {
      if (!isNotFound(err) && errorCode(err) !== 409) throw err;
    }
  }

  private async updateStatus(set: V1StatefulSet, pods: V1Pod[], revision: string): Promise<void> {
    const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
    const minReady = set.spec?.minReadySeconds ?? 0;
    const updated = live.filter((p) => p.metadata?.labels?.[RevisionLabel] === revision).length;
    const status = {
      observedGeneration: set.metadata?.generation,
      replicas: live.length,
      readyReplicas: live.filter(isPodReady).length,
      availableReplicas: live.filter((p) => isPodAvailable(p, minReady)).length,
      currentReplicas: updated === live.length ? live.length : live.length - updated,
      updatedReplicas: updated,
      currentRevision: updated === live.length ? revision : (set.status?.currentRevision ?? revision),
      updateRevision: revision,
    };
    const cur = (set.status ?? {}) as Record<string, unknown>;
    if (!Object.entries(status).some(([k, v]) => (cur[k] ?? 0) !== (v ?? 0))) return;
    try {
      await this.ctx.api.patchStatus({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: set.metadata!.namespace!, name: set.metadata!.name! }, { status });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
