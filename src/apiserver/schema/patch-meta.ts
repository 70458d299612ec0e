/**
 * Patch and list metadata of built-in types, as upstream declares it with Go struct tags
 * (`patchStrategy`, `patchMergeKey`, `+listType`, `+listMapKey`). client-node's models do not
 * carry it, so it is written down here once and used by the OpenAPI documents (extensions
 * kubectl reads), strategic merge patch and server-side apply.
 */

export interface ListMeta {
  /** `merge` (merge by key, or set-merge for primitives), optionally with `retainKeys`. Absent: the list is replaced whole. */
  patchStrategy?: string;
  patchMergeKey?: string;
  listType?: 'atomic' | 'set' | 'map';
  listMapKeys?: string[];
  /** Server-side defaults of key fields (`protocol: TCP`): an applied element that omits them still names the same element. */
  listMapKeyDefaults?: Record<string, unknown>;
}

export interface FieldMeta extends ListMeta {
  /** `x-kubernetes-map-type` / struct `retainKeys` on a non-list field. */
  mapType?: 'atomic' | 'granular';
}

const conditions: FieldMeta = { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] };
const byName = (strategy = 'merge'): FieldMeta => ({ patchStrategy: strategy, patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] });
const containerFields: Record<string, FieldMeta> = {
  ports: { patchStrategy: 'merge', patchMergeKey: 'containerPort', listType: 'map', listMapKeys: ['containerPort', 'protocol'], listMapKeyDefaults: { protocol: 'TCP' } },
  env: byName(),
  volumeMounts: { patchStrategy: 'merge', patchMergeKey: 'mountPath' },
  volumeDevices: { patchStrategy: 'merge', patchMergeKey: 'devicePath' },
  envFrom: { listType: 'atomic' },
  args: { listType: 'atomic' },
  command: { listType: 'atomic' },
  resizePolicy: { listType: 'atomic' },
};

/** model name → JSON field → metadata. */
const TABLE: Record<string, Record<string, FieldMeta>> = {
  V1ObjectMeta: {
    finalizers: { patchStrategy: 'merge', listType: 'set' },
    ownerReferences: { patchStrategy: 'merge', patchMergeKey: 'uid', listType: 'map', listMapKeys: ['uid'] },
    managedFields: { listType: 'atomic' },
  },
  V1PodSpec: {
    volumes: { patchStrategy: 'merge,retainKeys', patchMergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    initContainers: byName(),
    containers: byName(),
    ephemeralContainers: byName(),
    imagePullSecrets: byName(),
    hostAliases: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    topologySpreadConstraints: { patchStrategy: 'merge', patchMergeKey: 'topologyKey', listType: 'map', listMapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    schedulingGates: byName(),
    resourceClaims: byName('merge,retainKeys'),
    tolerations: { listType: 'atomic' },
    readinessGates: { listType: 'atomic' },
  },
  V1Container: containerFields,
  V1EphemeralContainer: containerFields,
  V1PodStatus: {
    conditions,
    podIPs: { patchStrategy: 'merge', patchMergeKey: 'ip', listType: 'map', listMapKeys: ['ip'] },
    hostIPs: { patchStrategy: 'merge', patchMergeKey: 'ip' },
    containerStatuses: { listType: 'atomic' },
    initContainerStatuses: { listType: 'atomic' },
    ephemeralContainerStatuses: { listType: 'atomic' },
  },
  V1ServiceSpec: {
    ports: { patchStrategy: 'merge', patchMergeKey: 'port', listType: 'map', listMapKeys: ['port', 'protocol'], listMapKeyDefaults: { protocol: 'TCP' } },
    clusterIPs: { listType: 'atomic' },
    externalIPs: { listType: 'atomic' },
    ipFamilies: { listType: 'atomic' },
  },
  V1ServiceStatus: { conditions },
  V1NodeSpec: { podCIDRs: { patchStrategy: 'merge', listType: 'set' }, taints: { listType: 'atomic' } },
  V1NodeStatus: {
    conditions,
    addresses: { patchStrategy: 'merge', patchMergeKey: 'type', listType: 'map', listMapKeys: ['type'] },
    images: { listType: 'atomic' },
    volumesInUse: { listType: 'atomic' },
    volumesAttached: { listType: 'atomic' },
  },
  V1NamespaceStatus: { conditions },
  V1ServiceAccount: { secrets: byName(), imagePullSecrets: { listType: 'atomic' } },
  V1PersistentVolumeClaimStatus: { conditions },
  V1DeploymentSpec: { strategy: { patchStrategy: 'retainKeys' } },
  V1DeploymentStatus: { conditions },
  V1ReplicaSetStatus: { conditions },
  V1DaemonSetStatus: { conditions },
  V1StatefulSetStatus: { conditions },
  V1JobStatus: { conditions: { patchStrategy: 'merge', patchMergeKey: 'type' } },
  V1CustomResourceDefinitionStatus: { conditions },
  V1CustomResourceDefinitionSpec: { versions: { listType: 'atomic' } },
  V1LabelSelector: { matchExpressions: { listType: 'atomic' } },
  V1EndpointSlice: { endpoints: { listType: 'atomic' }, ports: { listType: 'atomic' } },
  V1Endpoints: { subsets: { listType: 'atomic' } },
  V1EndpointSubset: { addresses: { listType: 'atomic' }, notReadyAddresses: { listType: 'atomic' }, ports: { listType: 'atomic' } },
};

/** Metadata of `model.field`, or undefined when upstream declares none (lists then are atomic for SMP). */
export function fieldMeta(model: string, field: string): FieldMeta | undefined {
  return TABLE[model]?.[field];
}

/** Structs upstream marks `+structType=atomic`: server-side apply owns them as one value. */
const ATOMIC_STRUCTS = new Set(['V1LabelSelector', 'V1LocalObjectReference', 'V1ObjectReference', 'V1TypedLocalObjectReference']);

export function isAtomicStruct(model: string): boolean {
  return ATOMIC_STRUCTS.has(model);
}
