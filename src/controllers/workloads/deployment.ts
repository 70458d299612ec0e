import type { V1Deployment, V1DeploymentCondition, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { labelSelectorMatches } from '../util/selectors.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { adoptable, canonicalJson, controllerRefOf, isControlledBy, isPodActive, ownerRef, scaledValue, templateHash, templateWithoutHash, toMillis } from '../util/pods.js';

export const RevisionAnnotation = 'deployment.kubernetes.io/revision';
const DesiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
const MaxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';

const revisionOf = (rs: V1ReplicaSet) => Number.parseInt(rs.metadata?.annotations?.[RevisionAnnotation] ?? '0', 10) || 0;
const specReplicas = (rs: V1ReplicaSet) => rs.spec?.replicas ?? 0;
const byCreation = (a: V1ReplicaSet, b: V1ReplicaSet) =>
  toMillis(a.metadata?.creationTimestamp) - toMillis(b.metadata?.creationTimestamp) || (a.metadata!.name! < b.metadata!.name! ? -1 : 1);

/** maxSurge / maxUnavailable resolved as upstream (surge rounds up, unavailable down, never both 0). */
export function resolveFenceposts(d: V1Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: replicas };
  const ru = d.spec?.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge as number | string | undefined, replicas, true, '25%');
  let maxUnavailable = scaledValue(ru?.maxUnavailable as number | string | undefined, replicas, false, '25%');
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

/** Replicas the new ReplicaSet may have now (upstream NewRSNewReplicas for RollingUpdate). */
export function newRSReplicas(d: V1Deployment, all: V1ReplicaSet[], newRS: V1ReplicaSet | undefined): number {
  const replicas = d.spec?.replicas ?? 1;
  const cur = newRS ? specReplicas(newRS) : 0;
  if (d.spec?.strategy?.type === 'Recreate') return replicas;
  const { maxSurge } = resolveFenceposts(d);
  const total = all.reduce((s, rs) => s + specReplicas(rs), 0);
  const maxTotal = replicas + maxSurge;
  if (total >= maxTotal) return cur;
  return Math.min(cur + (maxTotal - total), replicas);
}

/**
 * Deployment controller: owns ReplicaSets, one per distinct pod template. The ReplicaSet whose template equals
 * the Deployment's is "new" (created on demand, named NAME-HASH, revision = max+1); the rest are "old" and are
 * scaled down as the strategy allows. `kubectl rollout undo` works because it copies an old ReplicaSet's
 * template into the Deployment, which makes that ReplicaSet new again (and gives it the next revision).
 */
export class DeploymentController implements Controller {
  readonly name = 'deployment';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => this.sync(k));
  }

  start(): void {
    const deps = this.ctx.informers.get<V1Deployment>('deployments');
    const rss = this.ctx.informers.get<V1ReplicaSet>('replicasets');
    const pods = this.ctx.informers.get<V1Pod>('pods');
    const q = this.runner.queue;
    deps.onAdd((d) => q.add(keyOf(d)));
    deps.onUpdate((d) => q.add(keyOf(d)));
    const rsOwner = (rs: V1ReplicaSet) => {
      const ref = controllerRefOf(rs);
      if (ref?.kind === 'Deployment') q.add(`${rs.metadata!.namespace}/${ref.name}`);
    };
    rss.onAdd(rsOwner);
    rss.onUpdate(rsOwner);
    rss.onDelete(rsOwner);
    // Recreate waits for old pods to be gone: pod deletions matter.
    pods.onDelete((p) => {
      const ref = controllerRefOf(p);
      if (ref?.kind !== 'ReplicaSet') return;
      const rs = rss.get(ref.name, p.metadata!.namespace);
      if (rs) rsOwner(rs);
    });
    this.runner.run();
  }

  private rsRef(rs: V1ReplicaSet) {
    return { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: rs.metadata!.namespace!, name: rs.metadata!.name! };
  }

  private async scaleRS(d: V1Deployment, rs: V1ReplicaSet, to: number): Promise<void> {
    const from = specReplicas(rs);
    const { maxSurge } = resolveFenceposts(d);
    const replicas = d.spec?.replicas ?? 1;
    const annotations = { [DesiredReplicasAnnotation]: String(replicas), [MaxReplicasAnnotation]: String(replicas + maxSurge) };
    if (from === to && rs.metadata?.annotations?.[DesiredReplicasAnnotation] === annotations[DesiredReplicasAnnotation]) return;
    await this.ctx.api.patch(this.rsRef(rs), { metadata: { annotations }, spec: { replicas: to } });
    rs.spec = { ...rs.spec!, replicas: to };
    if (from !== to) {
      this.ctx.events.event(
        { ...d, apiVersion: 'apps/v1', kind: 'Deployment' },
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata!.name} from ${from} to ${to}`,
      );
    }
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const d = this.ctx.informers.get<V1Deployment>('deployments').get(name, namespace);
    if (!d || d.metadata?.deletionTimestamp) return;
    const inNs = this.ctx.informers.get<V1ReplicaSet>('replicasets').list(namespace);
    const all = inNs.filter((rs) => isControlledBy(rs, d.metadata?.uid) && !rs.metadata?.deletionTimestamp).map((rs) => structuredClone(rs));
    // Adopt orphaned ReplicaSets our selector matches (e.g. left by `kubectl delete --cascade=orphan`).
    for (const orphan of adoptable(inNs, (rs) => labelSelectorMatches(d.spec?.selector, rs.metadata?.labels))) {
      try {
        all.push(
          await this.ctx.api.patch<V1ReplicaSet>(this.rsRef(orphan), {
            metadata: { resourceVersion: orphan.metadata?.resourceVersion, ownerReferences: [...(orphan.metadata?.ownerReferences ?? []), ownerRef(d, 'apps/v1', 'Deployment')] },
          }),
        );
      } catch (err) {
        if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
      }
    }
    const want = canonicalJson(templateWithoutHash(d.spec?.template));
    let newRS = all.filter((rs) => canonicalJson(templateWithoutHash(rs.spec?.template)) === want).sort(byCreation)[0];
    const old = all.filter((rs) => rs !== newRS).sort(byCreation);
    const maxOldRevision = old.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
    const replicas = d.spec?.replicas ?? 1;
    let createdNew = false;

    if (d.spec?.paused) {
      // Paused: no rollout, but scaling still applies to the current ReplicaSets (proportionally simplified:
      // the newest active ReplicaSet absorbs the difference).
      const active = (newRS ? [newRS] : []).concat([...old].reverse()).find((rs) => specReplicas(rs) > 0) ?? newRS;
      const total = all.reduce((s, rs) => s + specReplicas(rs), 0);
      if (active && total !== replicas) await this.scaleRS(d, active, Math.max(0, specReplicas(active) + replicas - total));
      return this.syncStatus(d, all, newRS, false);
    }

    // Adopt the next revision for a (re)activated template.
    if (newRS && revisionOf(newRS) <= maxOldRevision) {
      const rev = String(maxOldRevision + 1);
      await this.ctx.api.patch(this.rsRef(newRS), { metadata: { annotations: { [RevisionAnnotation]: rev } } });
      newRS.metadata!.annotations = { ...(newRS.metadata!.annotations ?? {}), [RevisionAnnotation]: rev };
    }

    const recreate = d.spec?.strategy?.type === 'Recreate';
    if (recreate) {
      for (const rs of old) if (specReplicas(rs) > 0) await this.scaleRS(d, rs, 0);
      const oldPodsLeft = this.ctx.informers
        .get<V1Pod>('pods')
        .list(namespace)
        .some((p) => old.some((rs) => isControlledBy(p, rs.metadata?.uid)) && isPodActive(p));
      if (oldPodsLeft) return this.syncStatus(d, all, newRS, false);
    }

    if (!newRS) {
      newRS = await this.createNewRS(d, all, maxOldRevision + 1);
      createdNew = true;
      all.push(newRS);
    } else {
      const target = recreate ? replicas : newRSReplicas(d, all, newRS);
      if (target !== specReplicas(newRS) || newRS.metadata?.annotations?.[DesiredReplicasAnnotation] !== String(replicas)) {
        await this.scaleRS(d, newRS, target);
      }
    }
    if (!recreate) await this.scaleDownOld(d, all, newRS, old);
    await this.cleanupHistory(d, old);
    if (d.metadata?.annotations?.[RevisionAnnotation] !== newRS.metadata?.annotations?.[RevisionAnnotation]) {
      await this.ctx.api.patch(
        { apiVersion: 'apps/v1', kind: 'Deployment', namespace: namespace!, name },
        { metadata: { annotations: { [RevisionAnnotation]: newRS.metadata!.annotations![RevisionAnnotation] } } },
      );
    }
    return this.syncStatus(d, all, newRS, createdNew);
  }

  private async createNewRS(d: V1Deployment, all: V1ReplicaSet[], revision: number): Promise<V1ReplicaSet> {
    const tmpl = templateWithoutHash(d.spec!.template);
    let collision = d.status?.collisionCount ?? 0;
    for (;;) {
      const hash = templateHash(tmpl, collision);
      const labels = { ...(tmpl.metadata?.labels ?? {}), 'pod-template-hash': hash };
      const replicas = d.spec?.strategy?.type === 'Recreate' ? d.spec?.replicas ?? 1 : newRSReplicas(d, all, undefined);
      const { maxSurge } = resolveFenceposts(d);
      const rs: V1ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata!.name}-${hash}`,
          namespace: d.metadata!.namespace,
          labels,
          annotations: {
            ...(d.metadata?.annotations ?? {}),
            [RevisionAnnotation]: String(revision),
            [DesiredReplicasAnnotation]: String(d.spec?.replicas ?? 1),
            [MaxReplicasAnnotation]: String((d.spec?.replicas ?? 1) + maxSurge),
          },
          ownerReferences: [ownerRef(d, 'apps/v1', 'Deployment')],
        },
        spec: {
          replicas,
          minReadySeconds: d.spec?.minReadySeconds,
          selector: {
            ...d.spec!.selector,
            matchLabels: { ...(d.spec!.selector.matchLabels ?? {}), 'pod-template-hash': hash },
          },
          template: { ...tmpl, metadata: { ...(tmpl.metadata ?? {}), labels } },
        },
      };
      // kubectl-only annotations on the Deployment must not leak into the ReplicaSet.
      delete rs.metadata!.annotations!['kubectl.kubernetes.io/last-applied-configuration'];
      try {
        const created = await this.ctx.api.create(rs);
        if (replicas > 0) {
          this.ctx.events.event({ ...d, apiVersion: 'apps/v1', kind: 'Deployment' }, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata!.name} from 0 to ${replicas}`);
        }
        return created;
      } catch (err) {
        if (errorCode(err) !== 409) throw err;
        // A namesake exists: ours (informer lag) if it is controlled by d with the same template, else a collision.
        const existing = await this.ctx.api.get<V1ReplicaSet>(this.rsRef(rs));
        if (existing && isControlledBy(existing, d.metadata?.uid) && canonicalJson(templateWithoutHash(existing.spec?.template)) === canonicalJson(tmpl)) return existing;
        collision++;
        await this.ctx.api
          .patchStatus({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.metadata!.namespace!, name: d.metadata!.name! }, { status: { collisionCount: collision } })
          .catch(() => {});
      }
    }
  }

  /** Upstream reconcileOldReplicaSets: first drop unhealthy old replicas, then scale down by availability. */
  private async scaleDownOld(d: V1Deployment, all: V1ReplicaSet[], newRS: V1ReplicaSet, old: V1ReplicaSet[]): Promise<void> {
    const replicas = d.spec?.replicas ?? 1;
    const { maxUnavailable } = resolveFenceposts(d);
    const minAvailable = replicas - maxUnavailable;
    const allPods = all.reduce((s, rs) => s + specReplicas(rs), 0);
    const newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    let maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    for (const rs of old) {
      if (maxScaledDown <= 0) break;
      const unhealthy = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown, unhealthy);
      await this.scaleRS(d, rs, specReplicas(rs) - n);
      maxScaledDown -= n;
    }
    const available = all.reduce((s, rs) => s + Math.min(rs.status?.availableReplicas ?? 0, specReplicas(rs)), 0);
    if (available <= minAvailable) return;
    let budget = available - minAvailable;
    for (const rs of old) {
      if (budget <= 0) break;
      if (specReplicas(rs) === 0) continue;
      const n = Math.min(specReplicas(rs), budget);
      await this.scaleRS(d, rs, specReplicas(rs) - n);
      budget -= n;
    }
  }

  private async cleanupHistory(d: V1Deployment, old: V1ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const idle = old.filter((rs) => specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0);
    const excess = idle.length - limit;
    if (excess <= 0) return;
    const victims = [...idle].sort((a, b) => revisionOf(a) - revisionOf(b)).slice(0, excess);
    for (const rs of victims) {
      try {
        await this.ctx.api.delete(this.rsRef(rs), { uid: rs.metadata?.uid });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  private async syncStatus(d: V1Deployment, all: V1ReplicaSet[], newRS: V1ReplicaSet | undefined, createdNew: boolean): Promise<void | { requeueAfterMs?: number }> {
    const replicas = d.spec?.replicas ?? 1;
    const { maxUnavailable } = resolveFenceposts(d);
    const sum = (f: (rs: V1ReplicaSet) => number | undefined) => all.reduce((s, rs) => s + (f(rs) ?? 0), 0);
    const status = {
      observedGeneration: d.metadata?.generation,
      replicas: sum((rs) => rs.status?.replicas),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: sum((rs) => rs.status?.readyReplicas),
      availableReplicas: sum((rs) => rs.status?.availableReplicas),
      unavailableReplicas: 0,
      conditions: [] as V1DeploymentCondition[],
    };
    status.unavailableReplicas = Math.max(0, status.replicas - status.availableReplicas);
    const now = new Date().toISOString();
    const prev = d.status?.conditions ?? [];
    const cond = (type: string, s: string, reason: string, message: string): V1DeploymentCondition => {
      const p = prev.find((c) => c.type === type);
      const same = p && p.status === s;
      const unchanged = same && p.reason === reason && p.message === message;
      return {
        type,
        status: s,
        reason,
        message,
        lastUpdateTime: (unchanged ? p.lastUpdateTime : now) as unknown as Date,
        lastTransitionTime: (same ? p.lastTransitionTime : now) as unknown as Date,
      };
    };
    const available = status.availableReplicas >= replicas - maxUnavailable;
    const availableCond = available
      ? cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.')
      : cond('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.');
    const rsName = newRS?.metadata?.name ?? '';
    const complete =
      !!newRS && status.updatedReplicas === replicas && status.replicas === replicas && status.availableReplicas === replicas && (newRS.status?.availableReplicas ?? 0) === replicas;
    let progressing: V1DeploymentCondition;
    let requeueAfterMs: number | undefined;
    const prevProg = prev.find((c) => c.type === 'Progressing');
    if (d.spec?.paused) {
      progressing = cond('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused');
    } else if (complete) {
      progressing = cond('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`);
    } else {
      const deadline = d.spec?.progressDeadlineSeconds ?? 600;
      const progressedNow =
        createdNew ||
        !prevProg ||
        prevProg.reason === 'DeploymentPaused' ||
        prevProg.reason === 'NewReplicaSetAvailable' ||
        (d.status?.updatedReplicas ?? 0) !== status.updatedReplicas ||
        (d.status?.availableReplicas ?? 0) !== status.availableReplicas ||
        (d.status?.readyReplicas ?? 0) !== status.readyReplicas ||
        (d.status?.replicas ?? 0) !== status.replicas;
      const lastProgress = progressedNow ? Date.now() : toMillis(prevProg?.lastUpdateTime);
      if (!progressedNow && prevProg?.reason === 'ProgressDeadlineExceeded') {
        progressing = { ...prevProg };
      } else if (!progressedNow && Date.now() - lastProgress > deadline * 1000) {
        progressing = cond('Progressing', 'False', 'ProgressDeadlineExceeded', `ReplicaSet "${rsName}" has timed out progressing.`);
        this.ctx.events.event({ ...d, apiVersion: 'apps/v1', kind: 'Deployment' }, 'Warning', 'ProgressDeadlineExceeded', `Deployment "${d.metadata!.name}" has timed out progressing.`);
      } else {
        const reason = createdNew ? 'NewReplicaSetCreated' : 'ReplicaSetUpdated';
        const message = createdNew ? `Created new replica set "${rsName}"` : `ReplicaSet "${rsName}" is progressing.`;
        progressing = progressedNow
          ? { ...cond('Progressing', 'True', reason, message), lastUpdateTime: now as unknown as Date }
          : cond('Progressing', 'True', prevProg!.reason ?? reason, prevProg!.message ?? message);
        if (!progressedNow) progressing.lastUpdateTime = prevProg!.lastUpdateTime;
        requeueAfterMs = Math.max(1000, lastProgress + deadline * 1000 - Date.now() + 100);
      }
    }
    status.conditions = [availableCond, progressing];
    const cur = d.status ?? {};
    const simplify = (c: V1DeploymentCondition[] | undefined) =>
      canonicalJson((c ?? []).map((x) => ({ t: x.type, s: x.status, r: x.reason, m: x.message, u: String(x.lastUpdateTime) })));
    const changed =
      cur.observedGeneration !== status.observedGeneration ||
      (cur.replicas ?? 0) !== status.replicas ||
      (cur.updatedReplicas ?? 0) !== status.updatedReplicas ||
      (cur.readyReplicas ?? 0) !== status.readyReplicas ||
      (cur.availableReplicas ?? 0) !== status.availableReplicas ||
      (cur.unavailableReplicas ?? 0) !== status.unavailableReplicas ||
      simplify(cur.conditions) !== simplify(status.conditions);
    if (changed) {
      try {
        await this.ctx.api.patchStatus({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.metadata!.namespace!, name: d.metadata!.name! }, { status });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
