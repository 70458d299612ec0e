/**
 * kube-scheduler's VolumeBinding plugin, reduced to what claims need here: a pod's PersistentVolumeClaims must
 * exist; a bound claim's volume node affinity restricts the nodes; an unbound claim of an Immediate class makes the
 * pod unschedulable until the binder binds it; an unbound claim of a WaitForFirstConsumer class gets the chosen node
 * in `volume.kubernetes.io/selected-node` (the provisioner then creates a volume there) and the pod waits until the
 * claim is bound, then goes to the node its volume allows.
 */
import type { V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1StorageClass } from '@kubernetes/client-node';
import type { InformerSource } from '../informers.js';
import { nodeSelectorTermMatches } from '../util/selectors.js';
import { SELECTED_NODE_ANNOTATION } from '../storage/claims.js';

export type VolumePlan =
  /** Schedulable: `admits` filters nodes by bound volumes; `delayed` claims get the chosen node before the pod binds. */
  | { kind: 'schedule'; admits?: (node: V1Node) => boolean; delayed: V1PersistentVolumeClaim[] }
  | { kind: 'unschedulable'; message: string }
  /** A claim is being provisioned or bound for this pod: try again when claims change. */
  | { kind: 'wait' };

export function volumeNodeAffinityAdmits(pv: V1PersistentVolume, node: V1Node): boolean {
  const terms = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms;
  if (!terms?.length) return true;
  return terms.some((t) => nodeSelectorTermMatches(t, node.metadata?.name ?? '', node.metadata?.labels ?? {}));
}

export function planVolumes(pod: V1Pod, informers: InformerSource): VolumePlan {
  const claimNames = (pod.spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((n): n is string => !!n);
  if (!claimNames.length) return { kind: 'schedule', delayed: [] };
  const ns = pod.metadata?.namespace ?? 'default';
  const claims = informers.get<V1PersistentVolumeClaim>('persistentvolumeclaims');
  const volumes = informers.get<V1PersistentVolume>('persistentvolumes');
  const classes = informers.get<V1StorageClass>('storageclasses');
  const bound: V1PersistentVolume[] = [];
  const delayed: V1PersistentVolumeClaim[] = [];
  for (const name of claimNames) {
    const claim = claims.get(name, ns);
    if (!claim) return { kind: 'unschedulable', message: `persistentvolumeclaim "${name}" not found` };
    if (claim.metadata?.deletionTimestamp) return { kind: 'unschedulable', message: `persistentvolumeclaim "${name}" is being deleted` };
    const volumeName = claim.spec?.volumeName;
    if (volumeName && claim.status?.phase === 'Bound') {
      const pv = volumes.get(volumeName);
      if (!pv) return { kind: 'unschedulable', message: `pvc(s) bound to non-existent pv(s)` };
      bound.push(pv);
      continue;
    }
    const cls = claim.spec?.storageClassName ? classes.get(claim.spec.storageClassName) : undefined;
    if (cls?.volumeBindingMode !== 'WaitForFirstConsumer') return { kind: 'unschedulable', message: 'pod has unbound immediate PersistentVolumeClaims' };
    if (claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION]) return { kind: 'wait' };
    delayed.push(claim);
  }
  return { kind: 'schedule', delayed, admits: bound.length ? (node) => bound.every((pv) => volumeNodeAffinityAdmits(pv, node)) : undefined };
}
