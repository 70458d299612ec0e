import type { V1Deployment, V1DeploymentCondition, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { labelSelectorMatches } from '../util/selectors.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { adoptable, canonicalJson, controllerRefOf, isControlledBy, ownerRef, templateHash, templateWithoutHash, toMillis } from '../util/pods.js';
import {
  activeReplicaSets,
  actualReplicaCount,
  availableReplicaCount,
  byCreation,
  createdReplicaSetAnnotations,
  deploymentComplete,
  desiredReplicas,
  historyToDelete,
  isScalingEvent,
  maxUnavailable,
  newReplicaSetAnnotations,
  newRSNewReplicas,
  planScale,
  readyReplicaCount,
  replicaAnnotations,
  replicaAnnotationsNeedUpdate,
  replicaCount,
  RevisionAnnotation,
  revisionOf,
  specReplicas,
} from './deployment-util.js';

export { resolveFenceposts, RevisionAnnotation } from './deployment-util.js';

/** What one sync works on: the Deployment and its ReplicaSets, split into the new one (if any) and the old. */
interface Rollout {
  d: V1Deployment;
  newRS: V1ReplicaSet | undefined;
  old: V1ReplicaSet[];
  /** The new ReplicaSet was created by this sync (for the Progressing condition). */
  createdNew: boolean;
}
const allOf = (r: Rollout): V1ReplicaSet[] => (r.newRS ? [...r.old, r.newRS] : [...r.old]);

/**
 * Deployment controller, following upstream's (pkg/controller/deployment): it owns ReplicaSets, one per
 * distinct pod template. The ReplicaSet whose template equals the Deployment's is "new" (created on demand,
 * named NAME-HASH, revision = max+1); the rest are "old". Each sync is one of:
 * - a scaling event (an active ReplicaSet's desired-replicas annotation differs from spec.replicas) or a paused
 *   Deployment: resize only, proportionally across old and new (planScale), no rollout step;
 * - RollingUpdate: grow the new ReplicaSet within maxSurge, then shrink old ones within maxUnavailable
 *   (unhealthy replicas first);
 * - Recreate: old ReplicaSets to zero, wait until none of their pods runs, then the new one to full size.
 * `kubectl rollout undo` works because it copies an old ReplicaSet's template into the Deployment, which makes
 * that ReplicaSet new again (and gives it the next revision, the old one kept in revision-history).
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
    // Recreate waits until no old pod runs: pods going away or ending matter.
    const podOwner = (p: V1Pod) => {
      const ref = controllerRefOf(p);
      if (ref?.kind !== 'ReplicaSet') return;
      const rs = rss.get(ref.name, p.metadata!.namespace);
      if (rs) rsOwner(rs);
    };
    pods.onDelete(podOwner);
    pods.onUpdate((p) => {
      if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') podOwner(p);
    });
    this.runner.run();
  }

  private rsRef(rs: V1ReplicaSet) {
    return { apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: rs.metadata!.namespace!, name: rs.metadata!.name! };
  }

  private deploymentEvent(d: V1Deployment, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.ctx.events.event({ ...d, apiVersion: 'apps/v1', kind: 'Deployment' }, type, reason, message);
  }

  /**
   * Writes to a ReplicaSet as upstream's Update does: guarded by the resourceVersion we decided on, so a
   * decision made from a stale cache fails with a conflict and is retried. `rs` takes the written state.
   */
  private async writeRS(rs: V1ReplicaSet, patch: { metadata?: { annotations?: Record<string, string> }; spec?: object }): Promise<void> {
    const written = await this.ctx.api.patch<V1ReplicaSet>(this.rsRef(rs), {
      ...patch,
      metadata: { ...(patch.metadata ?? {}), resourceVersion: rs.metadata?.resourceVersion },
    });
    rs.metadata = written.metadata ?? rs.metadata;
    rs.spec = written.spec ?? rs.spec;
  }

  /** Sets size and replica annotations; records the event if the size changed (upstream scaleReplicaSet). */
  private async scaleReplicaSet(d: V1Deployment, rs: V1ReplicaSet, to: number, direction: 'up' | 'down'): Promise<boolean> {
    const from = specReplicas(rs);
    const resize = from !== to;
    if (!resize && !replicaAnnotationsNeedUpdate(rs, d)) return false;
    await this.writeRS(rs, { metadata: { annotations: replicaAnnotations(d) }, spec: { replicas: to } });
    if (resize) this.deploymentEvent(d, 'Normal', 'ScalingReplicaSet', `Scaled ${direction} replica set ${rs.metadata!.name} from ${from} to ${to}`);
    return resize;
  }

  /** Resizes only when the size differs (upstream scaleReplicaSetAndRecordEvent). True if it scaled. */
  private async scaleIfNeeded(d: V1Deployment, rs: V1ReplicaSet, to: number): Promise<boolean> {
    if (specReplicas(rs) === to) return false;
    return this.scaleReplicaSet(d, rs, to, to > specReplicas(rs) ? 'up' : 'down');
  }

  private async sync(key: string): Promise<void | { requeueAfterMs?: number }> {
    const { namespace, name } = splitKey(key);
    const d = this.ctx.informers.get<V1Deployment>('deployments').get(name, namespace);
    if (!d) return;
    const all = await this.ownedReplicaSets(d);
    const want = canonicalJson(templateWithoutHash(d.spec?.template));
    const newRS = all.filter((rs) => canonicalJson(templateWithoutHash(rs.spec?.template)) === want).sort(byCreation)[0];
    const r: Rollout = { d, newRS, old: all.filter((rs) => rs !== newRS).sort(byCreation), createdNew: false };
    // A Deployment being deleted only reports status (syncStatusOnly).
    if (d.metadata?.deletionTimestamp) return this.syncStatus(r);
    await this.syncRevision(r);
    // Paused Deployments and resizes scale without rolling (upstream sync()).
    if (d.spec?.paused || isScalingEvent(d, r.newRS, r.old)) return this.scale(r);
    return d.spec?.strategy?.type === 'Recreate' ? this.rolloutRecreate(r) : this.rolloutRolling(r);
  }

  /** The Deployment's ReplicaSets (copies), adopting orphans its selector matches (e.g. left by --cascade=orphan). */
  private async ownedReplicaSets(d: V1Deployment): Promise<V1ReplicaSet[]> {
    const inNs = this.ctx.informers.get<V1ReplicaSet>('replicasets').list(d.metadata!.namespace);
    const all = inNs.filter((rs) => isControlledBy(rs, d.metadata?.uid) && !rs.metadata?.deletionTimestamp).map((rs) => structuredClone(rs));
    if (d.metadata?.deletionTimestamp) return all;
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
    return all;
  }

  /**
   * The existing new ReplicaSet gets the next revision (if behind), the Deployment's annotations and
   * minReadySeconds; the Deployment gets the new ReplicaSet's revision (getAllReplicaSetsAndSyncRevision).
   */
  private async syncRevision(r: Rollout): Promise<void> {
    const { d, newRS } = r;
    if (!newRS) return;
    const maxOldRevision = r.old.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
    const annotations = newReplicaSetAnnotations(d, newRS, maxOldRevision + 1);
    const minReadySeconds = d.spec?.minReadySeconds ?? 0;
    if (Object.keys(annotations).length || (newRS.spec?.minReadySeconds ?? 0) !== minReadySeconds) {
      await this.writeRS(newRS, { metadata: { annotations }, spec: { minReadySeconds } });
    }
    await this.syncDeploymentRevision(d, newRS);
  }

  private async syncDeploymentRevision(d: V1Deployment, newRS: V1ReplicaSet): Promise<void> {
    const revision = newRS.metadata?.annotations?.[RevisionAnnotation];
    if (revision === undefined || d.metadata?.annotations?.[RevisionAnnotation] === revision) return;
    await this.ctx.api.patch(
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.metadata!.namespace!, name: d.metadata!.name! },
      { metadata: { annotations: { [RevisionAnnotation]: revision } } },
    );
  }

  /** A resize or a paused Deployment (upstream sync): proportional scaling, then history cleanup when paused. */
  private async scale(r: Rollout): Promise<void | { requeueAfterMs?: number }> {
    for (const step of planScale(r.d, r.newRS, r.old)) {
      const direction = step.replicas >= specReplicas(step.rs) ? 'up' : 'down';
      if (step.recordAnnotations) await this.scaleReplicaSet(r.d, step.rs, step.replicas, direction);
      else await this.scaleIfNeeded(r.d, step.rs, step.replicas);
    }
    if (r.d.spec?.paused) await this.cleanupHistory(r);
    return this.syncStatus(r);
  }

  /** RollingUpdate (rolloutRolling): one step per sync: scale the new ReplicaSet up, else old ones down. */
  private async rolloutRolling(r: Rollout): Promise<void | { requeueAfterMs?: number }> {
    const { d } = r;
    if (!r.newRS) await this.createNewRS(r);
    const newRS = r.newRS!;
    const replicas = desiredReplicas(d);
    // reconcileNewReplicaSet: never above replicas, otherwise as far as maxSurge allows.
    if (specReplicas(newRS) !== replicas) {
      const target = specReplicas(newRS) > replicas ? replicas : newRSNewReplicas(d, allOf(r), newRS);
      if (await this.scaleIfNeeded(d, newRS, target)) return this.syncStatus(r);
    }
    if (await this.reconcileOldReplicaSets(r, newRS)) return this.syncStatus(r);
    if (deploymentComplete(d, d.status)) await this.cleanupHistory(r);
    return this.syncStatus(r);
  }

  /**
   * reconcileOldReplicaSets: scale old ReplicaSets down as far as keeping replicas - maxUnavailable available
   * allows, counting the new ReplicaSet's unavailable pods against the budget. Unhealthy old replicas go first:
   * removing them costs no availability, and they would otherwise block the rollout.
   */
  private async reconcileOldReplicaSets(r: Rollout, newRS: V1ReplicaSet): Promise<boolean> {
    const { d } = r;
    const old = activeReplicaSets(r.old).sort(byCreation);
    if (replicaCount(old) === 0) return false;
    const minAvailable = desiredReplicas(d) - maxUnavailable(d);
    const newUnavailable = specReplicas(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = replicaCount(allOf(r)) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;

    let cleaned = 0;
    for (const rs of old) {
      if (cleaned >= maxScaledDown) break;
      const unhealthy = specReplicas(rs) - (rs.status?.availableReplicas ?? 0);
      if (specReplicas(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown - cleaned, unhealthy);
      await this.scaleIfNeeded(d, rs, specReplicas(rs) - n);
      cleaned += n;
    }

    // scaleDownOldReplicaSetsForRollingUpdate: by availability, oldest first. Unlike upstream, a ReplicaSet
    // counts no more available replicas than it wants: right after a resize its status still shows the pods
    // being removed, and counting them would take availability below minAvailable.
    let scaledDown = 0;
    const available = allOf(r).reduce((s, rs) => s + Math.min(rs.status?.availableReplicas ?? 0, specReplicas(rs)), 0);
    if (available > minAvailable) {
      const budget = available - minAvailable;
      for (const rs of old) {
        if (scaledDown >= budget) break;
        if (specReplicas(rs) === 0) continue;
        const n = Math.min(specReplicas(rs), budget - scaledDown);
        await this.scaleIfNeeded(d, rs, specReplicas(rs) - n);
        scaledDown += n;
      }
    }
    return cleaned + scaledDown > 0;
  }

  /** Recreate (rolloutRecreate): old to zero, wait for their pods to be gone, then the new one at full size. */
  private async rolloutRecreate(r: Rollout): Promise<void | { requeueAfterMs?: number }> {
    const { d } = r;
    let scaledDown = false;
    for (const rs of activeReplicaSets(r.old)) if (await this.scaleIfNeeded(d, rs, 0)) scaledDown = true;
    if (scaledDown || this.oldPodsRunning(r)) return this.syncStatus(r);
    if (!r.newRS) await this.createNewRS(r);
    await this.scaleIfNeeded(d, r.newRS!, desiredReplicas(d));
    if (deploymentComplete(d, d.status)) await this.cleanupHistory(r);
    return this.syncStatus(r);
  }

  /**
   * Whether any pod of an old ReplicaSet may still run (oldPodsRunning): counted by the ReplicaSets' status and
   * by the pods themselves, terminating ones included, so the new pods never overlap the old.
   */
  private oldPodsRunning(r: Rollout): boolean {
    if (actualReplicaCount(r.old) > 0) return true;
    const oldUids = new Set(r.old.map((rs) => rs.metadata?.uid));
    return this.ctx.informers
      .get<V1Pod>('pods')
      .list(r.d.metadata!.namespace)
      .some((p) => {
        const ref = controllerRefOf(p);
        return !!ref && oldUids.has(ref.uid) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
      });
  }

  /** Creates the new ReplicaSet (getNewReplicaSet with createIfNotExisted), resolving hash collisions. */
  private async createNewRS(r: Rollout): Promise<void> {
    const { d } = r;
    const revision = r.old.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0) + 1;
    const tmpl = templateWithoutHash(d.spec!.template);
    let collision = d.status?.collisionCount ?? 0;
    for (;;) {
      const hash = templateHash(tmpl, collision);
      const labels = { ...(tmpl.metadata?.labels ?? {}), 'pod-template-hash': hash };
      const rs: V1ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${d.metadata!.name}-${hash}`,
          namespace: d.metadata!.namespace,
          labels,
          annotations: createdReplicaSetAnnotations(d, revision),
          ownerReferences: [ownerRef(d, 'apps/v1', 'Deployment')],
        },
        spec: {
          replicas: 0,
          minReadySeconds: d.spec?.minReadySeconds,
          selector: { ...d.spec!.selector, matchLabels: { ...(d.spec!.selector.matchLabels ?? {}), 'pod-template-hash': hash } },
          template: { ...tmpl, metadata: { ...(tmpl.metadata ?? {}), labels } },
        },
      };
      const replicas = newRSNewReplicas(d, r.old, rs);
      rs.spec!.replicas = replicas;
      try {
        r.newRS = await this.ctx.api.create(rs);
        r.createdNew = true;
        if (replicas > 0) this.deploymentEvent(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata!.name} from 0 to ${replicas}`);
        await this.syncDeploymentRevision(d, r.newRS);
        return;
      } catch (err) {
        if (errorCode(err) !== 409) throw err;
        // A namesake exists: ours (informer lag) if it is controlled by d with the same template, else a collision.
        const existing = await this.ctx.api.get<V1ReplicaSet>(this.rsRef(rs));
        if (existing && isControlledBy(existing, d.metadata?.uid) && canonicalJson(templateWithoutHash(existing.spec?.template)) === canonicalJson(tmpl)) {
          r.newRS = existing;
          return;
        }
        collision++;
        await this.ctx.api
          .patchStatus({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.metadata!.namespace!, name: d.metadata!.name! }, { status: { collisionCount: collision } })
          .catch(() => {});
      }
    }
  }

  /** Deletes old, empty ReplicaSets beyond revisionHistoryLimit (cleanupDeployment). */
  private async cleanupHistory(r: Rollout): Promise<void> {
    for (const rs of historyToDelete(r.d, r.old)) {
      try {
        await this.ctx.api.delete(this.rsRef(rs), { uid: rs.metadata?.uid });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  }

  /** Status from the ReplicaSets (calculateStatus) plus the Available and Progressing conditions. */
  private async syncStatus(r: Rollout): Promise<void | { requeueAfterMs?: number }> {
    const { d, newRS, createdNew } = r;
    const all = allOf(r);
    const replicas = desiredReplicas(d);
    const status = {
      observedGeneration: d.metadata?.generation,
      replicas: actualReplicaCount(all),
      updatedReplicas: newRS?.status?.replicas ?? 0,
      readyReplicas: readyReplicaCount(all),
      availableReplicas: availableReplicaCount(all),
      // Counted against the wanted (spec) replicas; negative while scaling down, which reads as none.
      unavailableReplicas: Math.max(0, replicaCount(all) - availableReplicaCount(all)),
      conditions: [] as V1DeploymentCondition[],
    };
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
    const available = status.availableReplicas >= replicas - maxUnavailable(d);
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
