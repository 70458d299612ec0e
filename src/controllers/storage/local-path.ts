/**
 * K3s's local-path provisioner (`rancher.io/local-path`, the `local-storage` battery): the default StorageClass
 * `local-path` (WaitForFirstConsumer, reclaim Delete), and for each claim handed to it (the binder's
 * `volume.kubernetes.io/storage-provisioner`) with the scheduler's `volume.kubernetes.io/selected-node`, a
 * PersistentVolume `pvc-<claim uid>`: a hostPath directory `<node path>/pvc-<uid>_<namespace>_<name>` (type
 * DirectoryOrCreate: the node's agent creates it when the pod starts), node affinity to that node, pre-bound to the
 * claim. The node path is the provisioner's ConfigMap kube-system/local-path-config (`config.json`'s `nodePathMap`,
 * K3s's format) or DEFAULT_PATH. A released volume with policy Delete is removed as K3s's provisioner does it: a
 * helper pod on the volume's node (image from the config's `helperPod.yaml`, else DEFAULT_HELPER_IMAGE) deletes the
 * directory, then the PersistentVolume is deleted; a failed helper is retried.
 */
import path from 'node:path';
import YAML from 'yaml';
import type { V1ConfigMap, V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1StorageClass } from '@kubernetes/client-node';
import { errorCode, isNotFound } from '../client.js';
import { keyOf, QueueRunner, splitKey, type Controller, type ControllerContext } from '../controller.js';
import { DEFAULT_CLASS_ANNOTATION, PROVISIONED_BY_ANNOTATION, SELECTED_NODE_ANNOTATION, STORAGE_PROVISIONER_ANNOTATION } from './claims.js';
import { LOCAL_STORAGE_PATH_ANNOTATION, validLocalStoragePath } from '../../common/local-storage.js';

export const LOCAL_PATH_PROVISIONER = 'rancher.io/local-path';
export const LOCAL_PATH_CLASS = 'local-path';
export const LOCAL_PATH_CONFIG = { namespace: 'kube-system', name: 'local-path-config' };
/** Where volumes go on nodes the config does not list (K3s: /var/lib/rancher/k3s/storage). */
export const DEFAULT_PATH = '/var/lib/kedge/storage';
const DEFAULT_NODE_KEY = 'DEFAULT_PATH_FOR_NON_LISTED_NODES';
const VOLUME_KEY = 'pv:';
/** K3s's helper image (the mirrored busybox); the config's helperPod.yaml overrides it. */
export const DEFAULT_HELPER_IMAGE = 'rancher/mirrored-library-busybox:1.36.1';
const HELPER_PREFIX = 'helper-pod-delete-';
const NODE_ANNOTATION = 'local.path.provisioner/selected-node';

export const localPathStorageClass: V1StorageClass = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: LOCAL_PATH_CLASS, annotations: { [DEFAULT_CLASS_ANNOTATION]: 'true' } },
  provisioner: LOCAL_PATH_PROVISIONER,
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'WaitForFirstConsumer',
};

/**
 * The directory volumes of `node` live under: the config's nodePathMap entry for the node (K3s's format), else the
 * directory the node's agent reports (`<its --data-dir>/storage`, as K3s's `<data-dir>/storage`), else the config's
 * DEFAULT_PATH_FOR_NON_LISTED_NODES, else DEFAULT_PATH. Throws on a bad config.
 */
export function nodePath(config: V1ConfigMap | undefined, node: string, reported?: string): string {
  const raw = config?.data?.['config.json'];
  const entries = raw ? ((JSON.parse(raw) as { nodePathMap?: Array<{ node?: string; paths?: string[] }> }).nodePathMap ?? []) : [];
  const listed = entries.find((e) => e.node === node);
  const entry = listed ?? (validLocalStoragePath(reported) ? undefined : entries.find((e) => e.node === DEFAULT_NODE_KEY));
  if (!entry) return validLocalStoragePath(reported) ? reported : DEFAULT_PATH;
  const p = entry.paths?.[0];
  if (!p || !path.isAbsolute(p)) throw new Error(`local-path-config: node ${entry.node} needs one absolute path, got ${JSON.stringify(entry.paths)}`);
  return p;
}

export function provisionedVolume(claim: V1PersistentVolumeClaim, cls: V1StorageClass, node: string, base: string): V1PersistentVolume {
  const { namespace, name, uid } = claim.metadata as { namespace: string; name: string; uid: string };
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pvc-${uid}`, annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER, [NODE_ANNOTATION]: node } },
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
    this.ctx.informers.get<V1Node>('nodes'); // the directory a node's agent reports (nodePath)
    this.claims.onAdd((c) => q.add(keyOf(c)));
    this.claims.onUpdate((c) => q.add(keyOf(c)));
    this.volumes.onAdd((v) => q.add(VOLUME_KEY + v.metadata!.name!));
    this.volumes.onUpdate((v) => q.add(VOLUME_KEY + v.metadata!.name!));
    // A helper pod that finished lets its volume go.
    this.ctx.informers.get<V1Pod>('pods').onUpdate((p) => {
      const n = p.metadata?.name ?? '';
      if (p.metadata?.namespace === LOCAL_PATH_CONFIG.namespace && n.startsWith(HELPER_PREFIX)) q.add(VOLUME_KEY + n.slice(HELPER_PREFIX.length));
    });
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
      base = nodePath(config, node, this.ctx.informers.get<V1Node>('nodes').get(node)?.metadata?.annotations?.[LOCAL_STORAGE_PATH_ANNOTATION]);
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

  /** A released volume of ours with policy Delete: its directory removed on its node by a helper pod, then the volume deleted. */
  private async syncVolume(name: string): Promise<void | { requeueAfterMs: number }> {
    const pv = this.volumes.get(name);
    if (!pv || pv.metadata?.deletionTimestamp) return;
    if (pv.metadata?.annotations?.[PROVISIONED_BY_ANNOTATION] !== LOCAL_PATH_PROVISIONER) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    const helperRef = { apiVersion: 'v1', kind: 'Pod', namespace: LOCAL_PATH_CONFIG.namespace, name: HELPER_PREFIX + name };
    const helper = await this.ctx.api.get<V1Pod>(helperRef);
    if (!helper) {
      const node = pv.metadata?.annotations?.[NODE_ANNOTATION];
      const dir = pv.spec?.hostPath?.path;
      if (!node || !dir) return;
      const config = await this.ctx.api.get<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', ...LOCAL_PATH_CONFIG });
      await this.ctx.api.create(helperPod(helperRef.name, node, dir, helperImage(config)));
      return;
    }
    const phase = helper.status?.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed') return; // the helper's next status update brings the volume back
    await this.ctx.api.delete(helperRef).catch((err) => { if (!isNotFound(err)) throw err; });
    if (phase === 'Failed') {
      this.ctx.events.event({ ...pv, apiVersion: 'v1', kind: 'PersistentVolume' }, 'Warning', 'VolumeFailedDelete', `failed to delete volume ${name}: helper pod ${helperRef.name} failed`);
      return { requeueAfterMs: 10_000 };
    }
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

/** The helper image: the config's helperPod.yaml (K3s's key) first container's, else DEFAULT_HELPER_IMAGE. */
export function helperImage(config: V1ConfigMap | undefined): { image: string; imagePullPolicy?: string } {
  const raw = config?.data?.['helperPod.yaml'];
  if (!raw) return { image: DEFAULT_HELPER_IMAGE };
  try {
    const c = (YAML.parse(raw) as V1Pod | null)?.spec?.containers?.[0];
    if (c?.image) return { image: c.image, imagePullPolicy: c.imagePullPolicy };
  } catch {
    // an unreadable template is K3s's default helper
  }
  return { image: DEFAULT_HELPER_IMAGE };
}

/** A pod on `node` that removes `dir` (mounting its parent), as K3s's provisioner's teardown helper. */
export function helperPod(name: string, node: string, dir: string, image: { image: string; imagePullPolicy?: string }): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: LOCAL_PATH_CONFIG.namespace },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      priorityClassName: 'system-node-critical',
      tolerations: [{ operator: 'Exists' }],
      containers: [{
        name: 'helper-pod', ...image, command: ['sh', '-c', 'rm -rf "/parent/$VOL_NAME"'],
        env: [{ name: 'VOL_NAME', value: path.basename(dir) }],
        volumeMounts: [{ name: 'parent', mountPath: '/parent' }],
      }],
      volumes: [{ name: 'parent', hostPath: { path: path.dirname(dir), type: 'DirectoryOrCreate' } }],
    },
  };
}
