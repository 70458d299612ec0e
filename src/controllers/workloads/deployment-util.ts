/**
 * The Deployment controller's arithmetic, as upstream's pkg/controller/deployment/util/deployment_util.go and
 * the scale() step of sync.go: fenceposts, how far a new ReplicaSet may grow, and proportional scaling of all
 * active ReplicaSets when the Deployment is resized mid-rollout. Pure functions over the objects, so each rule is
 * unit-tested against upstream's own table (deployment-util.test.ts).
 */
import type { V1Deployment, V1DeploymentStatus, V1ReplicaSet } from '@kubernetes/client-node';
import { scaledValue, toMillis } from '../util/pods.js';

export const RevisionAnnotation = 'deployment.kubernetes.io/revision';
export const RevisionHistoryAnnotation = 'deployment.kubernetes.io/revision-history';
/** The Deployment's replicas when this ReplicaSet was last scaled: a different value means a scaling event. */
export const DesiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
/** replicas + maxSurge when this ReplicaSet was last scaled: the base of its proportion in a later resize. */
export const MaxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';
/** Upstream caps the revision-history annotation at this many characters. */
const RevisionHistoryLimitChars = 2000;
/** Deployment annotations that are not copied onto its ReplicaSets (upstream skipCopyAnnotation). */
const notCopied = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  RevisionAnnotation,
  RevisionHistoryAnnotation,
  DesiredReplicasAnnotation,
  MaxReplicasAnnotation,
  'deprecated.deployment.rollback.to',
]);

export const specReplicas = (rs: V1ReplicaSet): number => rs.spec?.replicas ?? 0;
export const desiredReplicas = (d: V1Deployment): number => d.spec?.replicas ?? 1;
export const isRollingUpdate = (d: V1Deployment): boolean => d.spec?.strategy?.type !== 'Recreate';
const sum = (rss: readonly V1ReplicaSet[], f: (rs: V1ReplicaSet) => number | undefined) => rss.reduce((s, rs) => s + (f(rs) ?? 0), 0);
/** Sum of spec.replicas (upstream GetReplicaCountForReplicaSets). */
export const replicaCount = (rss: readonly V1ReplicaSet[]): number => sum(rss, specReplicas);
/** Sum of status.replicas (GetActualReplicaCountForReplicaSets). */
export const actualReplicaCount = (rss: readonly V1ReplicaSet[]): number => sum(rss, (rs) => rs.status?.replicas);
export const availableReplicaCount = (rss: readonly V1ReplicaSet[]): number => sum(rss, (rs) => rs.status?.availableReplicas);
export const readyReplicaCount = (rss: readonly V1ReplicaSet[]): number => sum(rss, (rs) => rs.status?.readyReplicas);
/** ReplicaSets with spec.replicas > 0 (FilterActiveReplicaSets). */
export const activeReplicaSets = (rss: ReadonlyArray<V1ReplicaSet | undefined>): V1ReplicaSet[] =>
  rss.filter((rs): rs is V1ReplicaSet => !!rs && specReplicas(rs) > 0);

export function revisionOf(rs: V1ReplicaSet): number {
  return Number.parseInt(rs.metadata?.annotations?.[RevisionAnnotation] ?? '0', 10) || 0;
}

function intAnnotation(rs: V1ReplicaSet, key: string): number | undefined {
  const v = rs.metadata?.annotations?.[key];
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

/** Oldest first; the name breaks ties (ReplicaSetsByCreationTimestamp). */
export function byCreation(a: V1ReplicaSet, b: V1ReplicaSet): number {
  const d = toMillis(a.metadata?.creationTimestamp) - toMillis(b.metadata?.creationTimestamp);
  if (d !== 0) return d;
  const an = a.metadata?.name ?? '';
  const bn = b.metadata?.name ?? '';
  return an < bn ? -1 : an > bn ? 1 : 0;
}
/** Largest first, older first among equals: the order for removing replicas (ReplicaSetsBySizeOlder). */
const bySizeOlder = (a: V1ReplicaSet, b: V1ReplicaSet) => specReplicas(b) - specReplicas(a) || byCreation(a, b);
/** Largest first, newer first among equals: the order for adding replicas (ReplicaSetsBySizeNewer). */
const bySizeNewer = (a: V1ReplicaSet, b: V1ReplicaSet) => specReplicas(b) - specReplicas(a) || byCreation(b, a);

/** maxSurge / maxUnavailable against replicas: surge rounds up, unavailable down, never both 0 (ResolveFenceposts). */
export function resolveFenceposts(d: V1Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = desiredReplicas(d);
  const ru = d.spec?.strategy?.rollingUpdate;
  const maxSurge = scaledValue(ru?.maxSurge as number | string | undefined, replicas, true, '25%');
  let maxUnavailable = scaledValue(ru?.maxUnavailable as number | string | undefined, replicas, false, '25%');
  // Both may round to zero (validation forbids only explicit zeros): then one pod may be unavailable.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/** Extra pods a rolling update may run; 0 for Recreate (MaxSurge). */
export function maxSurge(d: V1Deployment): number {
  return isRollingUpdate(d) ? resolveFenceposts(d).maxSurge : 0;
}

/** Pods that may be unavailable; 0 for Recreate and for 0 replicas, never more than replicas (MaxUnavailable). */
export function maxUnavailable(d: V1Deployment): number {
  const replicas = desiredReplicas(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  return Math.min(resolveFenceposts(d).maxUnavailable, replicas);
}

/** The replicas the new ReplicaSet may have now (NewRSNewReplicas). */
export function newRSNewReplicas(d: V1Deployment, all: readonly V1ReplicaSet[], newRS: V1ReplicaSet): number {
  const replicas = desiredReplicas(d);
  if (!isRollingUpdate(d)) return replicas;
  const maxTotal = replicas + resolveFenceposts(d).maxSurge;
  const current = replicaCount(all);
  if (current >= maxTotal) return specReplicas(newRS);
  return specReplicas(newRS) + Math.min(maxTotal - current, replicas - specReplicas(newRS));
}

/**
 * A resize of the Deployment rather than a template change: some active ReplicaSet was last scaled for a
 * different replica count (isScalingEvent). Such a sync scales; it does not roll.
 */
export function isScalingEvent(d: V1Deployment, newRS: V1ReplicaSet | undefined, old: readonly V1ReplicaSet[]): boolean {
  const replicas = desiredReplicas(d);
  return activeReplicaSets([...old, newRS]).some((rs) => {
    const desired = intAnnotation(rs, DesiredReplicasAnnotation);
    return desired !== undefined && desired !== replicas;
  });
}

/** The only active ReplicaSet, or the newest one when none is active; undefined when several are (FindActiveOrLatest). */
export function findActiveOrLatest(newRS: V1ReplicaSet | undefined, old: readonly V1ReplicaSet[]): V1ReplicaSet | undefined {
  if (!newRS && old.length === 0) return undefined;
  const newestFirst = [...old].sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([...newestFirst, newRS]);
  if (active.length === 0) return newRS ?? newestFirst[0];
  return active.length === 1 ? active[0] : undefined;
}

/** The new ReplicaSet is at full size, was scaled for this size, and all of it is available (IsSaturated). */
export function isSaturated(d: V1Deployment, rs: V1ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const replicas = desiredReplicas(d);
  return specReplicas(rs) === replicas && intAnnotation(rs, DesiredReplicasAnnotation) === replicas && (rs.status?.availableReplicas ?? 0) === replicas;
}

/**
 * How many replicas this ReplicaSet gains (or loses, negative) in a resize: its share of the new maximum,
 * measured against the maximum it was last scaled for (getReplicaSetFraction).
 */
function replicaSetFraction(rs: V1ReplicaSet, d: V1Deployment): number {
  const replicas = desiredReplicas(d);
  if (replicas === 0) return -specReplicas(rs);
  const maxNow = replicas + maxSurge(d);
  // Without the annotation, fall back to the Deployment's current size; getProportion's clamps keep us in bounds.
  const maxBefore = intAnnotation(rs, MaxReplicasAnnotation) ?? d.status?.replicas ?? 0;
  // Upstream never gets here with 0 (nothing scales proportionally from zero); without a base there is no share.
  if (maxBefore <= 0) return 0;
  // Values are positive, so Math.round is Go's round-half-away-from-zero.
  return Math.round((specReplicas(rs) * maxNow) / maxBefore) - specReplicas(rs);
}

/** This ReplicaSet's share, clamped so the total never overshoots what is left to add or remove (GetProportion). */
function proportion(rs: V1ReplicaSet, d: V1Deployment, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/**
 * One ReplicaSet write of a scale step. `recordAnnotations`: write the replica annotations even when the size
 * is unchanged (upstream scaleReplicaSet); otherwise the write happens only if the size changes
 * (scaleReplicaSetAndRecordEvent).
 */
export interface ScaleStep {
  rs: V1ReplicaSet;
  replicas: number;
  recordAnnotations: boolean;
}

/**
 * What a resize does to the ReplicaSets (upstream DeploymentController.scale): a lone active (or the newest)
 * ReplicaSet takes the whole size; a saturated new ReplicaSet empties the old ones; otherwise, for a rolling
 * update, the difference to replicas + maxSurge is spread over the active ReplicaSets in proportion to their
 * size, and what rounding leaves over goes to the largest.
 */
export function planScale(d: V1Deployment, newRS: V1ReplicaSet | undefined, old: readonly V1ReplicaSet[]): ScaleStep[] {
  const replicas = desiredReplicas(d);
  const only = findActiveOrLatest(newRS, old);
  if (only) return specReplicas(only) === replicas ? [] : [{ rs: only, replicas, recordAnnotations: false }];
  if (isSaturated(d, newRS)) return activeReplicaSets(old).map((rs) => ({ rs, replicas: 0, recordAnnotations: false }));
  if (!isRollingUpdate(d)) return [];

  const active = activeReplicaSets([...old, newRS]);
  const allowedSize = replicas > 0 ? replicas + maxSurge(d) : 0;
  const toAdd = allowedSize - replicaCount(active);
  // Ties: scaling up favours newer ReplicaSets, scaling down removes from older ones first.
  if (toAdd > 0) active.sort(bySizeNewer);
  else if (toAdd < 0) active.sort(bySizeOlder);
  let added = 0;
  const sizes = active.map((rs) => {
    const p = proportion(rs, d, toAdd, added);
    added += p;
    return specReplicas(rs) + p;
  });
  if (toAdd !== 0 && sizes.length) sizes[0] = Math.max(0, sizes[0]! + toAdd - added);
  return active.map((rs, i) => ({ rs, replicas: sizes[i]!, recordAnnotations: true }));
}

/** The replica annotations a ReplicaSet scaled now carries (SetReplicasAnnotations). */
export function replicaAnnotations(d: V1Deployment): Record<string, string> {
  const replicas = desiredReplicas(d);
  return { [DesiredReplicasAnnotation]: String(replicas), [MaxReplicasAnnotation]: String(replicas + maxSurge(d)) };
}

export function replicaAnnotationsNeedUpdate(rs: V1ReplicaSet, d: V1Deployment): boolean {
  const want = replicaAnnotations(d);
  return Object.entries(want).some(([k, v]) => rs.metadata?.annotations?.[k] !== v);
}

/**
 * Annotations to write on the new ReplicaSet (SetNewReplicaSetAnnotations): the Deployment's own (e.g.
 * kubernetes.io/change-cause, shown by `kubectl rollout history`), the next revision when it is behind, and,
 * when a ReplicaSet is re-activated by a rollback, its previous revisions in revision-history.
 * Returns only what changes; empty when nothing does.
 */
export function newReplicaSetAnnotations(d: V1Deployment, rs: V1ReplicaSet, newRevision: number): Record<string, string> {
  const cur = rs.metadata?.annotations ?? {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) {
    if (!notCopied.has(k) && cur[k] !== v) out[k] = v;
  }
  const oldRevisionText = cur[RevisionAnnotation];
  const oldRevision = Number.parseInt(oldRevisionText ?? '0', 10) || 0;
  if (oldRevision < newRevision) {
    out[RevisionAnnotation] = String(newRevision);
    if (oldRevisionText !== undefined) {
      const history = (cur[RevisionHistoryAnnotation] ?? '').split(',').filter((x) => x.length);
      history.push(oldRevisionText);
      while (history.join(',').length > RevisionHistoryLimitChars && history.length > 1) history.shift();
      out[RevisionHistoryAnnotation] = history.join(',');
    }
  }
  return out;
}

/** Annotations a freshly created new ReplicaSet starts with. */
export function createdReplicaSetAnnotations(d: V1Deployment, revision: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (!notCopied.has(k)) out[k] = v;
  return { ...out, [RevisionAnnotation]: String(revision), ...replicaAnnotations(d) };
}

/** Every replica updated, none extra, all available, this generation observed (DeploymentComplete). */
export function deploymentComplete(d: V1Deployment, status: V1DeploymentStatus | undefined): boolean {
  const replicas = desiredReplicas(d);
  return (
    (status?.updatedReplicas ?? 0) === replicas &&
    (status?.replicas ?? 0) === replicas &&
    (status?.availableReplicas ?? 0) === replicas &&
    (status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0)
  );
}

/**
 * Old ReplicaSets to delete beyond revisionHistoryLimit (cleanupDeployment): the lowest revisions first, and
 * only ones with no replicas wanted or running whose controller has seen their latest spec.
 */
export function historyToDelete(d: V1Deployment, old: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const limit = d.spec?.revisionHistoryLimit ?? 10;
  const alive = old.filter((rs) => !rs.metadata?.deletionTimestamp);
  const excess = alive.length - limit;
  if (excess <= 0) return [];
  return [...alive]
    .sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b))
    .slice(0, excess)
    .filter((rs) => (rs.status?.replicas ?? 0) === 0 && specReplicas(rs) === 0 && (rs.metadata?.generation ?? 0) <= (rs.status?.observedGeneration ?? 0));
}
