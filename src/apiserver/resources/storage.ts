/**
 * Persistent storage objects: core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1 StorageClass,
 * CSIDriver, CSINode and VolumeAttachment — stored and validated with upstream's defaults and tables. Binding
 * claims to volumes and provisioning are controllers' work (not done yet: README, compatibility).
 */
import type { FieldError } from '../../apimachinery/status.js';
import { nowTimestamp } from '../../apimachinery/object.js';
import { tryParseQuantity } from '../../common/quantity.js';
import type { ResourceDef } from '../registry.js';
import { age, builtin, col, str, table, type Obj } from './helpers.js';

const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];
const SHORT_MODES: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };
const PV_SOURCES = [
  'hostPath', 'local', 'nfs', 'csi', 'iscsi', 'fc', 'rbd', 'cephfs', 'glusterfs', 'awsElasticBlockStore', 'gcePersistentDisk',
  'azureDisk', 'azureFile', 'vsphereVolume', 'portworxVolume', 'scaleIO', 'storageos', 'flexVolume', 'flocker', 'quobyte', 'photonPersistentDisk', 'cinder',
];

/** The STATUS column: the phase, or Terminating once deletion started (upstream's printers for PV and PVC). */
const phaseColumn = (o: Obj): string => (o.metadata?.deletionTimestamp ? 'Terminating' : o.status?.phase ?? '');

function accessModes(o: Obj): string {
  const modes = ((o.spec?.accessModes ?? o.status?.accessModes ?? []) as string[]).map((m) => SHORT_MODES[m] ?? m);
  return modes.join(',');
}

function validateAccessModes(modes: unknown, field: string, errs: FieldError[]): void {
  const list = (Array.isArray(modes) ? modes : []) as string[];
  if (!list.length) errs.push({ type: 'Required', field, detail: 'at least 1 access mode is required' });
  for (const m of list) if (!ACCESS_MODES.includes(m)) errs.push({ type: 'NotSupported', field, value: m, supported: ACCESS_MODES });
  if (list.includes('ReadWriteOncePod') && list.length > 1) errs.push({ type: 'Forbidden', field, detail: 'may not use ReadWriteOncePod with other access modes' });
}

function validateStorageQuantity(v: unknown, field: string, errs: FieldError[], what: string): void {
  if (v === undefined || v === null) { errs.push({ type: 'Required', field, detail: '' }); return; }
  const q = tryParseQuantity(v);
  if (!q) errs.push({ type: 'Invalid', field, value: v, detail: 'must be a valid quantity' });
  else if (q.mantissa <= 0n && what === 'pvc') errs.push({ type: 'Invalid', field, value: v, detail: 'must be greater than zero' });
}

export const persistentVolumesDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'persistentvolumes', kind: 'PersistentVolume', singular: 'persistentvolume', namespaced: false,
  shortNames: ['pv'], subresources: ['status'], tracksGeneration: false,
  strategy: {
    defaults(obj) {
      const o = obj as Obj;
      const s = (o.spec ??= {}) as Obj;
      s.persistentVolumeReclaimPolicy ??= 'Retain';
      s.volumeMode ??= 'Filesystem';
      if (s.hostPath) s.hostPath.type ??= '';
    },
    prepareForCreate(obj) { (obj as Obj).status = { phase: 'Pending', lastPhaseTransitionTime: nowTimestamp() }; },
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      validateAccessModes(s.accessModes, 'spec.accessModes', errs);
      if (!s.capacity || typeof s.capacity !== 'object') errs.push({ type: 'Required', field: 'spec.capacity' });
      else validateStorageQuantity(s.capacity.storage, 'spec.capacity[storage]', errs, 'pv');
      const sources = PV_SOURCES.filter((k) => s[k]);
      if (!sources.length) errs.push({ type: 'Required', field: 'spec', detail: 'must specify a volume type' });
      else if (sources.length > 1) errs.push({ type: 'Forbidden', field: `spec.${sources[1]}`, detail: 'may not specify more than 1 volume type' });
      if (s.hostPath && !(typeof s.hostPath.path === 'string' && s.hostPath.path)) errs.push({ type: 'Required', field: 'spec.hostPath.path' });
      if (s.local && !(typeof s.local.path === 'string' && s.local.path)) errs.push({ type: 'Required', field: 'spec.local.path' });
      if (s.local && !s.nodeAffinity) errs.push({ type: 'Required', field: 'spec.nodeAffinity', detail: 'Local volume requires node affinity' });
      const rp = s.persistentVolumeReclaimPolicy;
      if (!['Delete', 'Recycle', 'Retain'].includes(rp)) errs.push({ type: 'NotSupported', field: 'spec.persistentVolumeReclaimPolicy', value: rp ?? '', supported: ['Delete', 'Recycle', 'Retain'] });
      if (!['Block', 'Filesystem'].includes(s.volumeMode)) errs.push({ type: 'NotSupported', field: 'spec.volumeMode', value: s.volumeMode ?? '', supported: ['Block', 'Filesystem'] });
      return errs;
    },
  },
  table: table([col('Capacity'), col('Access Modes'), col('Reclaim Policy'), col('Status'), col('Claim'), col('StorageClass'), col('VolumeAttributesClass'),
    col('Reason'), col('Age'), col('VolumeMode', 'string', 1)], (v, now) => [
    v.spec?.capacity?.storage ?? '', accessModes(v), v.spec?.persistentVolumeReclaimPolicy ?? '', phaseColumn(v),
    v.spec?.claimRef ? `${v.spec.claimRef.namespace}/${v.spec.claimRef.name}` : '', v.spec?.storageClassName ?? '', str(v.spec?.volumeAttributesClassName),
    v.status?.reason ?? '', age(v, now), v.spec?.volumeMode ?? 'Filesystem']),
});

function validatePvc(o: Obj): FieldError[] {
  const s = (o.spec ?? {}) as Obj;
  const errs: FieldError[] = [];
  validateAccessModes(s.accessModes, 'spec.accessModes', errs);
  const storage = s.resources?.requests?.storage;
  if (storage === undefined) errs.push({ type: 'Required', field: 'spec.resources[storage]' });
  else validateStorageQuantity(storage, 'spec.resources[storage]', errs, 'pvc');
  if (s.volumeMode !== undefined && !['Block', 'Filesystem'].includes(s.volumeMode)) errs.push({ type: 'NotSupported', field: 'spec.volumeMode', value: s.volumeMode, supported: ['Block', 'Filesystem'] });
  return errs;
}

/** After creation only the storage request may grow (expansion), and an unbound claim may be given a volume name. */
function validatePvcUpdate(n: Obj, o: Obj): FieldError[] {
  const errs = validatePvc(n);
  const strip = (x: Obj) => {
    const s = { ...(x.spec ?? {}) };
    delete s.resources;
    delete s.volumeAttributesClassName;
    if (!o.spec?.volumeName) delete s.volumeName;
    return JSON.stringify(s);
  };
  if (strip(n) !== strip(o)) {
    errs.push({ type: 'Forbidden', field: 'spec', detail: 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims' });
  }
  return errs;
}

export const persistentVolumeClaimsDef: ResourceDef = builtin({
  group: '', version: 'v1', resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', singular: 'persistentvolumeclaim', namespaced: true,
  shortNames: ['pvc'], subresources: ['status'], tracksGeneration: false,
  strategy: {
    defaults(obj) { ((obj as Obj).spec ??= {}).volumeMode ??= 'Filesystem'; },
    prepareForCreate(obj) { (obj as Obj).status = { phase: 'Pending' }; },
    validate: (o) => validatePvc(o as Obj),
    validateUpdate: (n, o) => validatePvcUpdate(n as Obj, o as Obj),
  },
  table: table([col('Status'), col('Volume'), col('Capacity'), col('Access Modes'), col('StorageClass'), col('VolumeAttributesClass'), col('Age'), col('VolumeMode', 'string', 1)],
    (c, now) => [phaseColumn(c), c.spec?.volumeName ?? '', c.status?.capacity?.storage ?? '', ((c.status?.accessModes ?? []) as string[]).map((m) => SHORT_MODES[m] ?? m).join(','),
      c.spec?.storageClassName ?? '', str(c.spec?.volumeAttributesClassName), age(c, now), c.spec?.volumeMode ?? 'Filesystem']),
});

export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

const storageBase = { group: 'storage.k8s.io', version: 'v1', tracksGeneration: false };

export const storageClassesDef: ResourceDef = builtin({
  ...storageBase, resource: 'storageclasses', kind: 'StorageClass', singular: 'storageclass', namespaced: false, shortNames: ['sc'],
  strategy: {
    defaults(obj) {
      const o = obj as Obj;
      o.reclaimPolicy ??= 'Delete';
      o.volumeBindingMode ??= 'Immediate';
    },
    validate(obj) {
      const o = obj as Obj;
      const errs: FieldError[] = [];
      if (!o.provisioner) errs.push({ type: 'Required', field: 'provisioner' });
      else if (String(o.provisioner).length > 63 * 4) errs.push({ type: 'TooLong', field: 'provisioner', detail: 'must have at most 252 bytes' });
      if (!['Delete', 'Retain'].includes(o.reclaimPolicy)) errs.push({ type: 'NotSupported', field: 'reclaimPolicy', value: o.reclaimPolicy ?? '', supported: ['Delete', 'Retain'] });
      if (!['Immediate', 'WaitForFirstConsumer'].includes(o.volumeBindingMode)) errs.push({ type: 'NotSupported', field: 'volumeBindingMode', value: o.volumeBindingMode ?? '', supported: ['Immediate', 'WaitForFirstConsumer'] });
      return errs;
    },
    validateUpdate(n, o) {
      const a = n as Obj;
      const b = o as Obj;
      const errs: FieldError[] = [];
      if (JSON.stringify(a.parameters ?? {}) !== JSON.stringify(b.parameters ?? {})) errs.push({ type: 'Forbidden', field: 'parameters', detail: 'updates to parameters are forbidden.' });
      if (a.provisioner !== b.provisioner) errs.push({ type: 'Forbidden', field: 'provisioner', detail: 'updates to provisioner are forbidden.' });
      if (a.reclaimPolicy !== b.reclaimPolicy) errs.push({ type: 'Forbidden', field: 'reclaimPolicy', detail: 'updates to reclaimPolicy are forbidden.' });
      if (a.volumeBindingMode !== b.volumeBindingMode) errs.push({ type: 'Forbidden', field: 'volumeBindingMode', detail: 'field is immutable' });
      return errs;
    },
  },
  table: {
    ...table([col('Provisioner'), col('ReclaimPolicy'), col('VolumeBindingMode'), col('AllowVolumeExpansion'), col('Age')], (c, now) => [
      c.provisioner ?? '', c.reclaimPolicy ?? '', c.volumeBindingMode ?? '', String(c.allowVolumeExpansion ?? false), age(c, now)])!,
    cells: (o, now) => {
      const c = o as Obj;
      const isDefault = c.metadata?.annotations?.[DEFAULT_STORAGE_CLASS_ANNOTATION] === 'true' || c.metadata?.annotations?.['storageclass.beta.kubernetes.io/is-default-class'] === 'true';
      return [`${c.metadata?.name ?? ''}${isDefault ? ' (default)' : ''}`, c.provisioner ?? '', c.reclaimPolicy ?? '', c.volumeBindingMode ?? '', String(c.allowVolumeExpansion ?? false), age(c, now)];
    },
  },
});

export const csiDriversDef: ResourceDef = builtin({
  ...storageBase, resource: 'csidrivers', kind: 'CSIDriver', singular: 'csidriver', namespaced: false,
  strategy: {
    defaults(obj) {
      const s = ((obj as Obj).spec ??= {}) as Obj;
      s.attachRequired ??= true;
      s.podInfoOnMount ??= false;
      s.storageCapacity ??= false;
      s.fsGroupPolicy ??= 'ReadWriteOnceWithFSType';
      s.requiresRepublish ??= false;
      s.seLinuxMount ??= false;
      s.volumeLifecycleModes ??= ['Persistent'];
    },
    validateUpdate(n, o) {
      const a = (n as Obj).spec ?? {};
      const b = (o as Obj).spec ?? {};
      const errs: FieldError[] = [];
      for (const f of ['attachRequired', 'podInfoOnMount', 'volumeLifecycleModes']) {
        if (JSON.stringify(a[f]) !== JSON.stringify(b[f])) errs.push({ type: 'Invalid', field: `spec.${f}`, value: a[f], detail: 'field is immutable' });
      }
      return errs;
    },
  },
  table: table([col('AttachRequired', 'boolean'), col('PodInfoOnMount', 'boolean'), col('StorageCapacity', 'boolean'), col('TokenRequests'), col('RequiresRepublish', 'boolean'),
    col('Modes'), col('Age')], (d, now) => [
    d.spec?.attachRequired ?? true, d.spec?.podInfoOnMount ?? false, d.spec?.storageCapacity ?? false,
    ((d.spec?.tokenRequests ?? []) as Obj[]).map((t) => t.audience).join(',') || '<unset>', d.spec?.requiresRepublish ?? false,
    ((d.spec?.volumeLifecycleModes ?? []) as string[]).join(',') || '<none>', age(d, now)]),
});

export const csiNodesDef: ResourceDef = builtin({
  ...storageBase, resource: 'csinodes', kind: 'CSINode', singular: 'csinode', namespaced: false,
  table: table([col('Drivers', 'integer'), col('Age')], (n, now) => [(n.spec?.drivers ?? []).length, age(n, now)]),
});

export const volumeAttachmentsDef: ResourceDef = builtin({
  ...storageBase, resource: 'volumeattachments', kind: 'VolumeAttachment', singular: 'volumeattachment', namespaced: false, subresources: ['status'],
  strategy: {
    prepareForCreate(obj) { delete (obj as Obj).status; },
    validate(obj) {
      const s = ((obj as Obj).spec ?? {}) as Obj;
      const errs: FieldError[] = [];
      if (!s.attacher) errs.push({ type: 'Required', field: 'spec.attacher' });
      if (!s.nodeName) errs.push({ type: 'Required', field: 'spec.nodeName' });
      const src = (s.source ?? {}) as Obj;
      if (!src.persistentVolumeName && !src.inlineVolumeSpec) errs.push({ type: 'Required', field: 'spec.source', detail: 'must specify exactly one of inlineVolumeSpec and persistentVolumeName' });
      return errs;
    },
    validateUpdate(n, o) {
      return JSON.stringify((n as Obj).spec) !== JSON.stringify((o as Obj).spec) ? [{ type: 'Invalid', field: 'spec', value: (n as Obj).spec, detail: 'field is immutable' }] : [];
    },
  },
  table: table([col('Attacher'), col('PV'), col('Node'), col('Attached', 'boolean'), col('Age')], (v, now) => [
    v.spec?.attacher ?? '', v.spec?.source?.persistentVolumeName ?? '', v.spec?.nodeName ?? '', v.status?.attached ?? false, age(v, now)]),
});
