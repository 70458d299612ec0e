/**
 * PersistentVolume binder (kube-controller-manager's `persistentvolume-binder`): binds each unbound claim to the
 * best matching volume (claims.ts), leaves a WaitForFirstConsumer claim alone until the scheduler picked its node,
 * hands claims no volume matches to their class's provisioner (`volume.kubernetes.io/storage-provisioner`), keeps
 * the volumes' and claims' phases (Available, Bound, Released, Lost), and releases a volume whose claim is gone.
 * Reclaiming a released volume with policy Delete is its provisioner's work (local-path.ts), as upstream's
 * external provisioners do it.
 */
import type { V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { volumeNodeAffinityAdmits } from '../scheduler/volumes.js';
import {
  BETA_STORAGE_PROVISIONER_ANNOTATION, BIND_COMPLETED_ANNOTATION, BOUND_BY_CONTROLLER_ANNOTATION, claimClass, findBestMatch, SELECTED_NODE_ANNOTATION,
  STORAGE_PROVISIONER_ANNOTATION,
} from './claims.js';

const VOLUME_KEY = 'pv:';
const NO_PROVISIONER = 'kubernetes.io/no-provisioner';

const claimRefOf = (c: V1PersistentVolumeClaim) => ({ kind: 'PersistentVolumeClaim', namespace: c.metadata!.namespace!, name: c.metadata!.name!, uid: c.metadata!.uid, apiVersion: 'v1', resourceVersion: c.metadata!.resourceVersion });
const pvRef = (name: string) => ({ apiVersion: 'v1', kind: 'PersistentVolume', name });
const claimObjRef = (c: V1PersistentVolumeClaim) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: c.metadata!.namespace!, name: c.metadata!.name! });
const asEventObject = (c: V1PersistentVolumeClaim) => ({ ...c, apiVersion: 'v1', kind: 'PersistentVolumeClaim' });

export class PersistentVolumeBinder implements Controller {
  readonly name = 'persistentvolume-binder';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => (k.startsWith(VOLUME_KEY) ? this.syncVolume(k.slice(VOLUME_KEY.length)) : this.syncClaim(k)));
  }

  private get claims() { return this.ctx.informers.get<V1PersistentVolumeClaim>('persistentvolumeclaims'); }
  private get volumes() { return this.ctx.informers.get<V1PersistentVolume>('persistentvolumes'); }
  private get classes() { return this.ctx.informers.get<V1StorageClass>('storageclasses'); }

  start(): void {
    const q = this.runner.queue;
    const claimChanged = (c: V1PersistentVolumeClaim) => q.add(keyOf(c));
    this.claims.onAdd(claimChanged);
    this.claims.onUpdate(claimChanged);
    this.claims.onDelete((c) => { const v = c.spec?.volumeName; if (v) q.add(VOLUME_KEY + v); });
    const volumeChanged = (v: V1PersistentVolume) => {
      q.add(VOLUME_KEY + v.metadata!.name!);
      // A new or freed volume may serve a waiting claim.
      for (const c of this.claims.list()) if (!c.spec?.volumeName) q.add(keyOf(c));
    };
    this.volumes.onAdd(volumeChanged);
    this.volumes.onUpdate(volumeChanged);
    this.classes.onAdd(() => { for (const c of this.claims.list()) if (!c.spec?.volumeName) q.add(keyOf(c)); });
    this.ctx.informers.get<V1Node>('nodes');
    this.runner.run();
  }

  private async syncClaim(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const claim = this.claims.get(name, namespace);
    if (!claim || claim.metadata?.deletionTimestamp) return;
    const volumeName = claim.spec?.volumeName;
    if (volumeName) return this.syncBoundClaim(claim, volumeName);
    const className = claimClass(claim);
    const cls = className ? this.classes.get(className) : undefined;
    const selectedNode = claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION];
    if (cls?.volumeBindingMode === 'WaitForFirstConsumer' && !selectedNode) {
      this.ctx.events.event(asEventObject(claim), 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
      return;
    }
    const node = selectedNode ? this.ctx.informers.get<V1Node>('nodes').get(selectedNode) : undefined;
    const pv = findBestMatch(claim, this.volumes.list(), (v) => !selectedNode || (node !== undefined && volumeNodeAffinityAdmits(v, node)));
    if (pv) return this.bind(pv, claim);
    if (className && !cls) {
      this.ctx.events.event(asEventObject(claim), 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${className}" not found`);
      return;
    }
    if (!cls || cls.provisioner === NO_PROVISIONER) {
      this.ctx.events.event(asEventObject(claim), 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
      return;
    }
    if (claim.metadata?.annotations?.[STORAGE_PROVISIONER_ANNOTATION] !== cls.provisioner) {
      await this.ctx.api.patch(claimObjRef(claim), { metadata: { annotations: { [STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner, [BETA_STORAGE_PROVISIONER_ANNOTATION]: cls.provisioner } } });
    }
    this.ctx.events.event(asEventObject(claim), 'Normal', 'ExternalProvisioning',
      `Waiting for a volume to be created either by the external provisioner '${cls.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`);
  }

  /** A claim naming its volume: bind the volume to it if free, else keep the claim's phase true. */
  private async syncBoundClaim(claim: V1PersistentVolumeClaim, volumeName: string): Promise<void> {
    const pv = this.volumes.get(volumeName);
    if (!pv) {
      if (claim.status?.phase === 'Bound') {
        this.ctx.events.event(asEventObject(claim), 'Warning', 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!');
        await this.ctx.api.patchStatus(claimObjRef(claim), { status: { phase: 'Lost' } });
      }
      return;
    }
    const ref = pv.spec?.claimRef;
    if (!ref || (ref.name === claim.metadata?.name && ref.namespace === claim.metadata?.namespace && (!ref.uid || ref.uid === claim.metadata?.uid))) return this.bind(pv, claim);
    this.ctx.events.event(asEventObject(claim), 'Warning', 'FailedBinding', `volume "${volumeName}" already bound to a different claim.`);
  }

  /** Upstream's bind: the volume's claimRef and phase first, then the claim's volumeName and phase. Each step is idempotent. */
  private async bind(pv: V1PersistentVolume, claim: V1PersistentVolumeClaim): Promise<void> {
    const pvName = pv.metadata!.name!;
    if (pv.spec?.claimRef?.uid !== claim.metadata?.uid) {
      const byController = pv.spec?.claimRef ? {} : { [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' };
      await this.ctx.api.patch(pvRef(pvName), { metadata: { resourceVersion: pv.metadata!.resourceVersion, annotations: byController }, spec: { claimRef: claimRefOf(claim) } });
    }
    if (pv.status?.phase !== 'Bound') await this.ctx.api.patchStatus(pvRef(pvName), { status: { phase: 'Bound' } });
    if (claim.spec?.volumeName !== pvName || claim.metadata?.annotations?.[BIND_COMPLETED_ANNOTATION] !== 'yes') {
      const byController = claim.spec?.volumeName ? {} : { [BOUND_BY_CONTROLLER_ANNOTATION]: 'yes' };
      await this.ctx.api.patch(claimObjRef(claim), { metadata: { annotations: { ...byController, [BIND_COMPLETED_ANNOTATION]: 'yes' } }, spec: { volumeName: pvName } });
    }
    if (claim.status?.phase !== 'Bound') {
      await this.ctx.api.patchStatus(claimObjRef(claim), { status: { phase: 'Bound', accessModes: pv.spec?.accessModes, capacity: pv.spec?.capacity } });
    }
  }

  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.get(name);
    // A volume being deleted still gets its phase (pv-protection lets it go once it is no longer Bound).
    if (!pv) return;
    const ref = pv.spec?.claimRef;
    const setPhase = async (phase: string) => {
      if (pv.status?.phase === phase) return;
      try { await this.ctx.api.patchStatus(pvRef(name), { status: { phase } }); } catch (err) { if (!isNotFound(err)) throw err; }
    };
    if (!ref) return setPhase('Available');
    const cached = this.claims.get(ref.name!, ref.namespace);
    // The cache may not have a just-created claim yet: ask the server before releasing a volume.
    const claim = cached ?? await this.ctx.api.get<V1PersistentVolumeClaim>(claimObjRef({ metadata: { name: ref.name, namespace: ref.namespace } }));
    if (!claim || (ref.uid && claim.metadata?.uid !== ref.uid)) return setPhase('Released');
    if (claim.spec?.volumeName === name) return setPhase('Bound');
    // Pre-bound to a claim that does not name it yet: the claim's sync binds them.
    this.runner.queue.add(keyOf(claim));
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
