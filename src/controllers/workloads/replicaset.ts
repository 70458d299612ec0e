import type { V1Pod, V1ReplicaSet, V1ReplicaSetStatus } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { Expectations } from '../util/expectations.js';
import { adoptable, controllerRefOf, isControlledBy, isPodActive, isPodAvailable, isPodReady, ownerRef, podFromTemplate, toMillis } from '../util/pods.js';
import { labelSelectorMatches } from '../util/selectors.js';

/** Upstream's deletion preference: unassigned < pending < not ready < ready; younger first among equals. */
export function podsToDelete(pods: V1Pod[], n: number): V1Pod[] {
  const rank = (p: V1Pod) => (!p.spec?.nodeName ? 0 : p.status?.phase === 'Pending' ? 1 : !isPodReady(p) ? 2 : 3);
  return [...pods]
    .sort((a, b) => rank(a) - rank(b) || toMillis(b.metadata?.creationTimestamp) - toMillis(a.metadata?.creationTimestamp))
    .slice(0, n);
}

/** Creates in slow-start batches (1, 2, 4, ...) as upstream, so a failing template does not spray errors. */
export async function slowStart(count: number, create: () => Promise<void>): Promise<number> {
  let done = 0;
  let batch = 1;
  while (done < count) {
    const n = Math.min(batch, count - done);
    const results = await Promise.allSettled(Array.from({ length: n }, create));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    done += ok;
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) throw Object.assign(failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason)), { created: done });
    batch *= 2;
  }
  return done;
}

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  private readonly runner: QueueRunner;
  private readonly expectations = new Expectations();

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const rss = this.ctx.informers.get<V1ReplicaSet>('replicasets');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    rss.onAdd((rs) => q.add(keyOf(rs)));
    rss.onUpdate((rs) => q.add(keyOf(rs)));
    rss.onDelete((rs) => this.expectations.forget(keyOf(rs)));
    const ownerKey = (p: V1Pod) => {
      const ref = controllerRefOf(p);
      return ref?.kind === 'ReplicaSet' ? `${p.metadata!.namespace}/${ref.name}` : undefined;
    };
    pods.onAdd((p) => {
      const k = ownerKey(p);
      if (k) {
        this.expectations.observedAdd(k);
        q.add(k);
      }
    });
    pods.onUpdate((p) => {
      const k = ownerKey(p);
      if (k) q.add(k);
    });
    pods.onDelete((p) => {
      const k = ownerKey(p);
      if (k) {
        this.expectations.observedDelete(k);
        q.add(k);
      }
    });
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const rs = this.ctx.informers.get<V1ReplicaSet>('replicasets').get(name, namespace);
    if (!rs) return;
    const all = this.ctx.informers.get<V1Pod>('pods').list(namespace);
    const owned = all.filter((p) => isControlledBy(p, rs.metadata?.uid));
    if (!rs.metadata?.deletionTimestamp) {
      for (const orphan of adoptable(all, (p) => labelSelectorMatches(rs.spec?.selector, p.metadata?.labels) && isPodActive(p))) {
        try {
          const adopted = await this.ctx.api.patch<V1Pod>(
            { apiVersion: 'v1', kind: 'Pod', namespace: namespace!, name: orphan.metadata!.name! },
            { metadata: { resourceVersion: orphan.metadata?.resourceVersion, ownerReferences: [...(orphan.metadata?.ownerReferences ?? []), ownerRef(rs, 'apps/v1', 'ReplicaSet')] } },
          );
          owned.push(adopted);
        } catch (err) {
          if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
        }
      }
    }
    const active = owned.filter(isPodActive);
    const want = rs.spec?.replicas ?? 1;
    const deleting = Boolean(rs.metadata?.deletionTimestamp);
    if (!deleting && this.expectations.satisfied(key)) {
      const diff = want - active.length;
      if (diff > 0) await this.createPods(rs, key, diff);
      else if (diff < 0) await this.deletePods(rs, key, podsToDelete(active, -diff));
    }
    return this.updateStatus(rs, owned, active);
  }

  private async createPods(rs: V1ReplicaSet, key: string, n: number): Promise<void> {
    const ns = rs.metadata!.namespace!;
    const owner = ownerRef(rs, 'apps/v1', 'ReplicaSet');
    this.expectations.expect(key, n, 0);
    let created = 0;
    try {
      created = await slowStart(n, async () => {
        await this.ctx.api.create(podFromTemplate(rs.spec!.template!, ns, owner, { generateName: `${rs.metadata!.name}-` }));
      });
    } catch (err) {
      created = (err as { created?: number }).created ?? 0;
      this.expectations.lower(key, n - created, 0);
      this.ctx.events.event({ ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' }, 'Warning', 'FailedCreate', `Error creating: ${String((err as Error).message ?? err)}`);
      throw err;
    }
  }

  private async deletePods(rs: V1ReplicaSet, key: string, victims: V1Pod[]): Promise<void> {
    this.expectations.expect(key, 0, victims.length);
    await Promise.all(
      victims.map(async (p) => {
        try {
          await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! }, { uid: p.metadata?.uid });
          this.ctx.events.event({ ...rs, apiVersion: 'apps/v1', kind: 'ReplicaSet' }, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`);
        } catch (err) {
          this.expectations.lower(key, 0, 1);
          if (errorCode(err) !== 404) throw err;
        }
      }),
    );
  }

  private async updateStatus(rs: V1ReplicaSet, owned: V1Pod[], active: V1Pod[]): Promise<void | { requeueAfterMs?: number }> {
    const minReady = rs.spec?.minReadySeconds ?? 0;
    const now = Date.now();
    const tmplLabels = rs.spec?.template?.metadata?.labels;
    const status = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) => labelSelectorMatches({ matchLabels: tmplLabels ?? {} }, p.metadata?.labels)).length,
      readyReplicas: active.filter(isPodReady).length,
      availableReplicas: active.filter((p) => isPodAvailable(p, minReady, now)).length,
      observedGeneration: rs.metadata?.generation,
    };
    void owned;
    const cur: Partial<V1ReplicaSetStatus> = rs.status ?? {};
    const changed =
      (cur.replicas ?? 0) !== status.replicas ||
      (cur.fullyLabeledReplicas ?? 0) !== status.fullyLabeledReplicas ||
      (cur.readyReplicas ?? 0) !== status.readyReplicas ||
      (cur.availableReplicas ?? 0) !== status.availableReplicas ||
      cur.observedGeneration !== status.observedGeneration;
    if (changed) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: rs.metadata!.namespace!, name: rs.metadata!.name! }, { status });
      } catch (err) {
        if (errorCode(err) !== 404) throw err;
      }
    }
    // Ready-but-not-yet-available pods become available later without any event: look again then.
    if (minReady && status.readyReplicas > status.availableReplicas) return { requeueAfterMs: minReady * 1000 };
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
