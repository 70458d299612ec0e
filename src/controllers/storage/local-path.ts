/**
 * K3s's local-path provisioner (`rancher.io/local-path`, the `local-storage` battery): the default StorageClass
 * `local-path` (WaitForFirstConsumer, reclaim Delete), and for each claim handed to it (the binder's
 * `volume.kubernetes.io/storage-provisioner`) with the scheduler's `volume.kubernetes.io/selected-node`, a
 * PersistentVolume `pvc-<claim uid>`: a hostPath directory `<node path>/pvc-<uid>_<namespace>_<name>` (type
 * DirectoryOrCreate: the node's agent creates it when the pod starts), node affinity to that node, pre-bound to the
 * claim. The node path is the provisioner's ConfigMap kube-system/local-path-config (`config.json`'s `nodePathMap`,
 * K3s's format) or DEFAULT_PATH. A released volume with policy Delete is deleted.
 */
import path from 'node:path';
import type { V1ConfigMap, V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { DEFAULT_CLASS_ANNOTATION, PROVISIONED_BY_ANNOTATION, SELECTED_NODE_ANNOTATION, STORAGE_PROVISIONER_ANNOTATION } from './claims.js';

export const LOCAL_PATH_PROVISIONER = 'rancher.io/local-path';
export const LOCAL_PATH_CLASS = 'local-path';
export const LOCAL_PATH_CONFIG = { namespace: 'kube-system', name: 'local-path-config' };
/** Where volumes go on nodes the config does not list (K3s: /var/lib/rancher/k3s/storage). */
export const DEFAULT_PATH = '/var/lib/kedge/storage';
const DEFAULT_NODE_KEY = 'DEFAULT_PATH_FOR_NON_LISTED_NODES';
const VOLUME_KEY = 'pv:';

export const localPathStorageClass: V1StorageClass = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: LOCAL_PATH_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
  provisioner: LOCAL_PATH_PROVISIONER,
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'WaitForFirstConsumer',
};

/** The directory volumes of `node` live under, from the config's nodePathMap (K3s's format); throws on a bad config. */
export function nodePath(config: V1ConfigMap | undefined, node: string): string {
  const raw = config?.data?.['config.json'];
  if (!raw) return DEFAULT_PATH;
  const parsed = JSON.parse(raw) as { nodePathMap?: Array<{ node?: string; paths?: string[] }> };
  const entries = parsed.nodePathMap ?? [];
  const entry = entries.find((e) => e.node === node) ?? entries.find((e) => e.node === DEFAULT_NODE_KEY);
  const p = entry?.paths?.[0];
  if (!entry) return DEFAULT_PATH;
  if (!p || !path.isAbsolute(p)) throw new Error(`local-path-config: node ${entry.node} needs one absolute path, got ${JSON.stringify(entry.paths)}`);
  return p;
}

export function provisionedVolume(claim: V1PersistentVolumeClaim, cls: V1StorageClass, node: string, base: string): V1PersistentVolume {
  const { namespace, name, uid } = claim.metadata as { namespace: string; name: string; uid: string };
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pvc-${uid}`, annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER, 'local.path.provisioner/selected-node': node } },
    spec: {
      capacity: { storage: claim.spec!.resources!.requests!.storage! },
      accessModes: claim.spec?.accessModes,
      persistentVolumeReclaimPolicy: cls.reclaimPolicy ?? 'Delete',
      storageClassName: cls.metadata!.name,
      volumeMode: 'Filesystem',
      hostPath: { path: path.join(base, `pvc-${uid}_${namespace}_${name}`), type: 'DirectoryOrCreate' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace, name, uid, resourceVersion: claim.metadata?.resourceVersion },
    },
  };
}

export class LocalPathProvisioner implements Controller {
  readonly name = 'local-path-provisioner';
  private readonly runner: QueueRunner;

  constructor(private readonly ctx: ControllerContext) {
    this.runner = new QueueRunner(this.name, ctx, (k) => (k.startsWith(VOLUME_KEY) ? this.syncVolume(k.slice(VOLUME_KEY.length)) : this.syncClaim(k)));
  }

  private get claims() { return this.ctx.informers.get<V1PersistentVolumeClaim>('persistentvolumeclaims'); }
  private get volumes() { return this.ctx.informers.get<V1PersistentVolume>('persistentvolumes'); }

  async start(): Promise<void> {
    const q = this.runner.queue;
    this.claims.onAdd((c) => q.add(keyOf(c)));
    this.claims.onUpdate((c) => q.add(keyOf(c)));
    this.volumes.onAdd((v) => q.add(VOLUME_KEY + v.metadata!.name!));
    this.volumes.onUpdate((v) => q.add(VOLUME_KEY + v.metadata!.name!));
    this.ctx.informers.get<V1StorageClass>('storageclasses');
    this.runner.run();
    void this.ensureStorageClass();
  }

  /** The battery's StorageClass, created once (K3s ships it as a manifest; a user's edits are kept). */
  private async ensureStorageClass(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ctx.api.create(localPathStorageClass);
        return;
      } catch (err) {
        if (errorCode(err) === 409) return;
        if (attempt >= 30) { this.ctx.log.warn({ err: String(err) }, 'local-path: could not create StorageClass'); return; }
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }

  private async syncClaim(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const claim = this.claims.get(name, namespace);
    if (!claim || claim.metadata?.deletionTimestamp || claim.spec?.volumeName) return;
    if (claim.metadata?.annotations?.[STORAGE_PROVISIONER_ANNOTATION] !== LOCAL_PATH_PROVISIONER) return;
    const eventObj = { ...claim, apiVersion: 'v1', kind: 'PersistentVolumeClaim' };
    const node = claim.metadata?.annotations?.[SELECTED_NODE_ANNOTATION];
    if (!node) {
      this.ctx.events.event(eventObj, 'Warning', 'ProvisioningFailed', 'failed to provision volume with StorageClass "local-path": configuration error, no node was specified');
      return;
    }
    const cls = this.ctx.informers.get<V1StorageClass>('storageclasses').get(claim.spec?.storageClassName ?? '');
    if (!cls || cls.provisioner !== LOCAL_PATH_PROVISIONER) return;
    if (this.volumes.get(`pvc-${claim.metadata!.uid}`)) return;
    if ((claim.spec?.accessModes ?? []).some((m) => m !== 'ReadWriteOnce' && m !== 'ReadWriteOncePod')) {
      this.ctx.events.event(eventObj, 'Warning', 'ProvisioningFailed', `failed to provision volume with StorageClass "${cls.metadata!.name}": Only support ReadWriteOnce and ReadWriteOncePod access mode`);
      return;
    }
    const config = await this.ctx.api.get<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', ...LOCAL_PATH_CONFIG });
    let base: string;
    try {
      base = nodePath(config, node);
    } catch (err) {
      this.ctx.events.event(eventObj, 'Warning', 'ProvisioningFailed', `failed to provision volume with StorageClass "${cls.metadata!.name}": ${(err as Error).message}`);
      return;
    }
    this.ctx.events.event(eventObj, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${namespace}/${name}"`);
    const pv = provisionedVolume(claim, cls, node, base);
    try {
      await this.ctx.api.create(pv);
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
    }
    this.ctx.events.event(eventObj, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pv.metadata!.name}`);
  }

  /** A released volume of ours with policy Delete goes (its directory is removed by the node's agent). */
  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.get(name);
    if (!pv || pv.metadata?.deletionTimestamp) return;
    if (pv.metadata?.annotations?.[PROVISIONED_BY_ANNOTATION] !== LOCAL_PATH_PROVISIONER) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    try {
      await this.ctx.api.delete({ apiVersion: 'v1', kind: 'PersistentVolume', name }, { uid: pv.metadata?.uid });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
