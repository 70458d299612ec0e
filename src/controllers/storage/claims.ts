/**
 * Upstream's claim ↔ volume matching (pkg/controller/volume/persistentvolume's findBestMatchForClaim) and the
 * annotations the binder, the scheduler and provisioners share.
 */
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { compareQuantities, tryParseQuantity } from '../../common/quantity.js';
import { labelSelectorMatches } from '../util/selectors.js';

/** Set by the scheduler on a WaitForFirstConsumer claim: the node its pod goes to. */
export const SELECTED_NODE_ANNOTATION = 'volume.kubernetes.io/selected-node';
/** Set by the binder on a claim a provisioner should serve (and its beta spelling, still read by provisioners). */
export const STORAGE_PROVISIONER_ANNOTATION = 'volume.kubernetes.io/storage-provisioner';
export const BETA_STORAGE_PROVISIONER_ANNOTATION = 'volume.beta.kubernetes.io/storage-provisioner';
export const BIND_COMPLETED_ANNOTATION = 'pv.kubernetes.io/bind-completed';
export const BOUND_BY_CONTROLLER_ANNOTATION = 'pv.kubernetes.io/bound-by-controller';
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by';
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

export const claimClass = (c: V1PersistentVolumeClaim): string => c.spec?.storageClassName ?? '';
export const volumeClass = (v: V1PersistentVolume): string => v.spec?.storageClassName ?? '';

/** Whether `pv` is reserved for `claim` (claimRef naming it; a uid in the ref must be the claim's). */
export function preBoundTo(pv: V1PersistentVolume, claim: V1PersistentVolumeClaim): boolean {
  const ref = pv.spec?.claimRef;
  if (!ref) return false;
  return ref.name === claim.metadata?.name && ref.namespace === claim.metadata?.namespace && (!ref.uid || ref.uid === claim.metadata?.uid);
}

/**
 * Whether `pv` can serve `claim`: not bound to another claim, same class, every requested access mode, enough
 * capacity, same volume mode, labels matching the claim's selector, not being deleted.
 */
export function volumeMatches(pv: V1PersistentVolume, claim: V1PersistentVolumeClaim): boolean {
  if (pv.metadata?.deletionTimestamp) return false;
  if (pv.spec?.claimRef && !preBoundTo(pv, claim)) return false;
  if (!pv.spec?.claimRef && pv.status?.phase !== 'Available' && pv.status?.phase !== 'Pending' && pv.status?.phase !== undefined) return false;
  if (volumeClass(pv) !== claimClass(claim)) return false;
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (claim.spec?.volumeMode ?? 'Filesystem')) return false;
  const modes = new Set(pv.spec?.accessModes ?? []);
  if (!(claim.spec?.accessModes ?? []).every((m) => modes.has(m))) return false;
  const want = tryParseQuantity(claim.spec?.resources?.requests?.storage);
  const have = tryParseQuantity(pv.spec?.capacity?.storage);
  if (!want || !have || compareQuantities(have, want) < 0) return false;
  if (claim.spec?.selector && !labelSelectorMatches(claim.spec.selector, pv.metadata?.labels ?? {})) return false;
  return true;
}

/** The smallest matching volume, a volume pre-bound to the claim first (upstream's order); `admits` filters more. */
export function findBestMatch(claim: V1PersistentVolumeClaim, volumes: V1PersistentVolume[], admits: (pv: V1PersistentVolume) => boolean = () => true): V1PersistentVolume | undefined {
  const candidates = volumes.filter((pv) => volumeMatches(pv, claim) && admits(pv));
  const pre = candidates.find((pv) => preBoundTo(pv, claim));
  if (pre) return pre;
  return candidates.sort((a, b) => compareQuantities(tryParseQuantity(a.spec!.capacity!.storage)!, tryParseQuantity(b.spec!.capacity!.storage)!))[0];
}
