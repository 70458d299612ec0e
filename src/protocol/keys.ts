/**
 * Object keys on the wire and in the edge store: `/registry/<resource>/<namespace>/<name>` for
 * namespaced objects, `/registry/<resource>/<name>` for cluster-scoped ones. `resource` is the
 * lowercase plural, group-qualified for non-core groups (`endpointslices.discovery.k8s.io`).
 */

export interface SyncedResource {
  /** Key segment. */
  resource: string;
  apiVersion: string;
  kind: string;
  namespaced: boolean;
}

/** The resources the hub sends down to edges. */
export const SYNCED_RESOURCES: readonly SyncedResource[] = [
  { resource: 'pods', apiVersion: 'v1', kind: 'Pod', namespaced: true },
  { resource: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap', namespaced: true },
  { resource: 'secrets', apiVersion: 'v1', kind: 'Secret', namespaced: true },
  { resource: 'serviceaccounts', apiVersion: 'v1', kind: 'ServiceAccount', namespaced: true },
  { resource: 'services', apiVersion: 'v1', kind: 'Service', namespaced: true },
  { resource: 'endpointslices.discovery.k8s.io', apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', namespaced: true },
  { resource: 'nodes', apiVersion: 'v1', kind: 'Node', namespaced: false },
  // A pod's claims and the volumes bound to them: the edge's pod manager mounts the volume's directory.
  { resource: 'persistentvolumeclaims', apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespaced: true },
  { resource: 'persistentvolumes', apiVersion: 'v1', kind: 'PersistentVolume', namespaced: false },
  // The NetworkPolicies of namespaces with pods on the node, peers resolved by the hub (network-policy.ts).
  { resource: 'networkpolicies.networking.k8s.io', apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespaced: true },
  // KubeEdge devices (src/protocol/devices.ts): a node receives the Devices bound to it and their DeviceModels.
  { resource: 'devices.devices.kubeedge.io', apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', namespaced: true },
  { resource: 'devicemodels.devices.kubeedge.io', apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', namespaced: true },
];

export function objectKey(resource: string, namespace: string | undefined, name: string): string {
  return namespace ? `/registry/${resource}/${namespace}/${name}` : `/registry/${resource}/${name}`;
}

export interface ParsedKey {
  resource: string;
  namespace?: string;
  name: string;
}

export function parseKey(key: string): ParsedKey | null {
  const parts = key.split('/');
  if (parts[0] !== '' || parts[1] !== 'registry') return null;
  const def = SYNCED_RESOURCES.find((r) => r.resource === parts[2]);
  if (!def) return null;
  if (def.namespaced && parts.length === 5) return { resource: def.resource, namespace: parts[3], name: parts[4]! };
  if (!def.namespaced && parts.length === 4) return { resource: def.resource, name: parts[3]! };
  return null;
}
