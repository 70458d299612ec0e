import type { V1LabelSelector, V1Pod, V1ReplicaSet, V1ReplicaSetStatus } from '@kubernetes/client-node';
import { errorCode } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { Expectations } from '../util/expectations.js';
import { adoptable, controllerRefOf, isControlledBy, isPodActive, isPodAvailable, isPodReady, ownerRef, podFromTemplate, toMillis } from '../util/pods.js';
import { labelSelectorMatches } from '../util/selectors.js';

/** Upstream's annotation: pods with a lower cost are deleted first on scale-down (int32, default 0). */
export const PodDeletionCostAnnotation = 'controller.kubernetes.io/pod-deletion-cost';
const phaseOrdinal: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function deletionCost(p: V1Pod): number {
  const v = p.metadata?.annotations?.[PodDeletionCostAnnotation];
  return v !== undefined && /^[+-]?\d+$/.test(v.trim()) ? Number(v.trim()) : 0;
}
function readySince(p: V1Pod): number {
  return toMillis(p.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime);
}
const maxRestarts = (p: V1Pod) => Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));

/**
 * Ordering by age in powers of two (upstream LogarithmicScaleDown): within the same bucket the pods are
 * equals, broken by UID, so scale-down does not always pick the very newest; the newer bucket goes first.
 */
function compareAge(ti: number, tj: number, ui: string, uj: string, now: number): number {
  // An unset time sorts first.
  if (!ti || !tj) return ti === tj ? 0 : !ti ? -1 : 1;
  const bucket = (t: number) => (now - t > 0 ? Math.floor(Math.log2((now - t) * 1e6)) : -1); // ns, as Go's Duration
  const d = bucket(ti) - bucket(tj);
  if (d !== 0) return d;
  return ui < uj ? -1 : ui > uj ? 1 : 0;
}

/**
 * The pods a scale-down deletes, in upstream's order (ActivePodsWithRanks): unassigned < pending < unknown <
 * running; not ready < ready; lower pod-deletion-cost first; more pods of the same owner on its node first
 * (`related`: the active pods of this ReplicaSet and its siblings); ready more recently first; more container
 * restarts first; newer first.
 */
export function podsToDelete(pods: V1Pod[], n: number, related: readonly V1Pod[] = pods, now = Date.now()): V1Pod[] {
  if (n >= pods.length) return [...pods];
  const onNode = new Map<string, number>();
  for (const p of related) if (isPodActive(p)) onNode.set(p.spec?.nodeName ?? '', (onNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
  const rank = (p: V1Pod) => onNode.get(p.spec?.nodeName ?? '') ?? 0;
  const uid = (p: V1Pod) => p.metadata?.uid ?? '';
  const compare = (a: V1Pod, b: V1Pod): number => {
    const an = a.spec?.nodeName ?? '';
    const bn = b.spec?.nodeName ?? '';
    if (an !== bn && (!an || !bn)) return !an ? -1 : 1;
    const pa = phaseOrdinal[a.status?.phase ?? ''] ?? 0;
    const pb = phaseOrdinal[b.status?.phase ?? ''] ?? 0;
    if (pa !== pb) return pa - pb;
    if (isPodReady(a) !== isPodReady(b)) return isPodReady(a) ? 1 : -1;
    if (deletionCost(a) !== deletionCost(b)) return deletionCost(a) - deletionCost(b);
    if (rank(a) !== rank(b)) return rank(b) - rank(a);
    if (isPodReady(a) && isPodReady(b) && readySince(a) !== readySince(b)) return compareAge(readySince(a), readySince(b), uid(a), uid(b), now);
    if (maxRestarts(a) !== maxRestarts(b)) return maxRestarts(b) - maxRestarts(a);
    const ca = toMillis(a.metadata?.creationTimestamp);
    const cb = toMillis(b.metadata?.creationTimestamp);
    if (ca !== cb) return compareAge(ca, cb, uid(a), uid(b), now);
    return 0;
  };
  return [...pods].sort(compare).slice(0, n);
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

/**
 * What differs between the two kinds one controller serves, as upstream's replication controller is the ReplicaSet
 * controller behind a conversion: the v1 ReplicationController has an equality selector (a map; the API server
 * defaults it to the template's labels).
 */
export interface ReplicaSetKind {
  controllerName: string;
  informer: 'replicasets' | 'replicationcontrollers';
  apiVersion: string;
  kind: string;
  selectorOf(rs: V1ReplicaSet): V1LabelSelector | undefined;
}

export const REPLICA_SET_KIND: ReplicaSetKind = { controllerName: 'replicaset', informer: 'replicasets', apiVersion: 'apps/v1', kind: 'ReplicaSet', selectorOf: (rs) => rs.spec?.selector };
/** A ReplicationController read as a ReplicaSet: the same spec and status fields, the selector a map of labels. */
export const REPLICATION_CONTROLLER_KIND: ReplicaSetKind = {
  controllerName: 'replicationcontroller', informer: 'replicationcontrollers', apiVersion: 'v1', kind: 'ReplicationController',
  // An empty map selects nothing here (the API server never stores one: it defaults it to the template's labels).
  selectorOf: (rc) => {
    const labels = (rc.spec?.selector as unknown as Record<string, string> | undefined) ?? {};
    return Object.keys(labels).length ? { matchLabels: labels } : undefined;
  },
};

export class ReplicaSetController implements Controller {
  readonly name: string;
  private readonly runner: QueueRunner;
  private readonly expectations = new Expectations();

  constructor(private readonly ctx: ControllerContext, private readonly flavour: ReplicaSetKind = REPLICA_SET_KIND) {
    this.name = flavour.controllerName;
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  private get own() { return { apiVersion: this.flavour.apiVersion, kind: this.flavour.kind }; }

  start(): void {
    const rss = this.ctx.informers.get<V1ReplicaSet>(this.flavour.informer);
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    rss.onAdd((rs) => q.add(keyOf(rs)));
    rss.onUpdate((rs) => q.add(keyOf(rs)));
    rss.onDelete((rs) => this.expectations.forget(keyOf(rs)));
    const ownerKey = (p: V1Pod) => {
      const ref = controllerRefOf(p);
      return ref?.kind === this.flavour.kind && ref.apiVersion?.split('/')[0] === this.flavour.apiVersion.split('/')[0] ? `${p.metadata!.namespace}/${ref.name}` : undefined;
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
      if (!k) return;
      // As upstream: a pod being deleted is a deletion observed, without waiting for it to be gone.
      if (p.metadata?.deletionTimestamp) this.expectations.observedDeletionOf(k, p.metadata.uid);
      q.add(k);
    });
    pods.onDelete((p) => {
      const k = ownerKey(p);
      if (k) {
        this.expectations.observedDeletionOf(k, p.metadata?.uid);
        q.add(k);
      }
    });
    this.runner.run();
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const rs = this.ctx.informers.get<V1ReplicaSet>(this.flavour.informer).get(name, namespace);
    if (!rs) return;
    const selector = this.flavour.selectorOf(rs);
    const all = this.ctx.informers.get<V1Pod>('pods').list(namespace);
    const owned = all.filter((p) => isControlledBy(p, rs.metadata?.uid));
    if (!rs.metadata?.deletionTimestamp) {
      for (const orphan of adoptable(all, (p) => selector !== undefined && labelSelectorMatches(selector, p.metadata?.labels) && isPodActive(p))) {
        try {
          const adopted = await this.ctx.api.patch<V1Pod>(
            { apiVersion: 'v1', kind: 'Pod', namespace: namespace!, name: orphan.metadata!.name! },
            { metadata: { resourceVersion: orphan.metadata?.resourceVersion, ownerReferences: [...(orphan.metadata?.ownerReferences ?? []), ownerRef(rs, this.own.apiVersion, this.own.kind)] } },
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
      else if (diff < 0) await this.deletePods(rs, key, podsToDelete(active, -diff, this.relatedPods(rs, all)));
    }
    return this.updateStatus(rs, owned, active);
  }

  /** Pods of this ReplicaSet and of its siblings (same controller), for the co-location rank of a scale-down. */
  private relatedPods(rs: V1ReplicaSet, podsInNs: readonly V1Pod[]): V1Pod[] {
    const owner = controllerRefOf(rs)?.uid;
    const siblings = owner
      ? new Set(this.ctx.informers.get<V1ReplicaSet>(this.flavour.informer).list(rs.metadata!.namespace).filter((x) => controllerRefOf(x)?.uid === owner).map((x) => x.metadata?.uid))
      : new Set([rs.metadata?.uid]);
    return podsInNs.filter((p) => siblings.has(controllerRefOf(p)?.uid));
  }

  private async createPods(rs: V1ReplicaSet, key: string, n: number): Promise<void> {
    const ns = rs.metadata!.namespace!;
    const owner = ownerRef(rs, this.own.apiVersion, this.own.kind);
    this.expectations.expect(key, n, 0);
    let created = 0;
    try {
      created = await slowStart(n, async () => {
        const pod = await this.ctx.api.create(podFromTemplate(rs.spec!.template!, ns, owner, { generateName: `${rs.metadata!.name}-` }));
        this.ctx.events.event({ ...rs, ...this.own }, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata?.name}`);
      });
    } catch (err) {
      created = (err as { created?: number }).created ?? 0;
      this.expectations.lower(key, n - created, 0);
      this.ctx.events.event({ ...rs, ...this.own }, 'Warning', 'FailedCreate', `Error creating: ${String((err as Error).message ?? err)}`);
      throw err;
    }
  }

  private async deletePods(rs: V1ReplicaSet, key: string, victims: V1Pod[]): Promise<void> {
    this.expectations.expectDeletionsOf(key, victims.map((p) => p.metadata?.uid ?? ''));
    await Promise.all(
      victims.map(async (p) => {
        try {
          await this.ctx.api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: p.metadata!.namespace!, name: p.metadata!.name! }, { uid: p.metadata?.uid });
          this.ctx.events.event({ ...rs, ...this.own }, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`);
        } catch (err) {
          this.expectations.observedDeletionOf(key, p.metadata?.uid);
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
        await this.ctx.api.patchStatus({ ...this.own, namespace: rs.metadata!.namespace!, name: rs.metadata!.name! }, { status });
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
