/**
 * The custom resources Kedge's controllers read and write (served as built-in CRDs by `kedge server`), each at
 * the version it is stored in, so the hot path never converts.
 */
export const CUSTOM_RESOURCES = {
  nodepools: { group: 'apps.openyurt.io', version: 'v1beta2', plural: 'nodepools', kind: 'NodePool', namespaced: false },
  yurtappsets: { group: 'apps.openyurt.io', version: 'v1beta1', plural: 'yurtappsets', kind: 'YurtAppSet', namespaced: true },
  deploymentgrids: { group: 'superedge.io', version: 'v1', plural: 'deploymentgrids', kind: 'DeploymentGrid', namespaced: true },
  statefulsetgrids: { group: 'superedge.io', version: 'v1', plural: 'statefulsetgrids', kind: 'StatefulSetGrid', namespaced: true },
  servicegrids: { group: 'superedge.io', version: 'v1', plural: 'servicegrids', kind: 'ServiceGrid', namespaced: true },
  tenants: { group: 'tenancy.kedge.io', version: 'v1alpha1', plural: 'tenants', kind: 'Tenant', namespaced: false },
} as const;
export type CustomResourceName = keyof typeof CUSTOM_RESOURCES;
