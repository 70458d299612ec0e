/**
 * Kedge's Tenant (tenancy.kedge.io/v1alpha1, cluster-scoped): who belongs to a tenant and what it owns. The API
 * server's tenancy gate (src/apiserver/tenancy) enforces it; the scheduler and the hub read it. docs/design/tenancy.md.
 */
import type { KubeObject } from '../../../apimachinery/object.js';
import type { FieldError } from '../../../apimachinery/status.js';
import { TENANCY_GROUP, TENANCY_VERSION, type TenantSpec } from '../../../common/tenancy.js';
import { NODEPOOL_NAME } from '../../../common/node-restriction.js';
import { ageColumn, s, type BuiltinKind, type Crd } from './kinds.js';

const names = () => ({ type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' });

const tenantCrd: Crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `tenants.${TENANCY_GROUP}` },
  spec: {
    group: TENANCY_GROUP,
    scope: 'Cluster',
    names: { plural: 'tenants', singular: 'tenant', kind: 'Tenant', listKind: 'TenantList', shortNames: ['tn'] },
    versions: [{
      name: TENANCY_VERSION, served: true, storage: true,
      additionalPrinterColumns: [
        { name: 'Users', type: 'string', jsonPath: '.spec.users', description: 'Users that belong to the tenant' },
        { name: 'Groups', type: 'string', jsonPath: '.spec.groups', description: 'Groups that belong to the tenant' },
        { name: 'Namespaces', type: 'string', jsonPath: '.spec.namespaces', description: 'Namespaces listed for the tenant (labelled ones are the tenant\'s too)' },
        { name: 'SharedNodes', type: 'boolean', jsonPath: '.spec.sharedNodes', description: 'Whether the tenant may use shared nodes' },
        { name: 'ServiceAccounts', type: 'string', jsonPath: '.spec.serviceAccounts', priority: 1 },
        { name: 'Nodes', type: 'string', jsonPath: '.spec.nodes', priority: 1 },
        { name: 'NodePools', type: 'string', jsonPath: '.spec.nodePools', priority: 1 },
        ageColumn,
      ],
      schema: {
        openAPIV3Schema: s.root(s.obj({
          users: names(), groups: names(), serviceAccounts: names(), namespaces: names(), nodes: names(), nodePools: names(),
          sharedNodes: s.bool(),
        })),
      },
    }],
  },
};

const LABEL_VALUE = NODEPOOL_NAME;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function validateTenant(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata?.name ?? '';
  // The name is the value of the tenancy.kedge.io/tenant label on everything the tenant owns.
  if (!LABEL_VALUE.test(name)) {
    errs.push({ type: 'Invalid', field: 'metadata.name', value: name, detail: 'a Tenant name is the value of its objects\' tenancy.kedge.io/tenant label: at most 63 characters, alphanumerics, \'-\', \'_\' or \'.\', starting and ending with an alphanumeric' });
  }
  const spec = ((obj as { spec?: TenantSpec }).spec ?? {});
  (spec.serviceAccounts ?? []).forEach((sa, i) => {
    if (!SERVICE_ACCOUNT.test(sa)) errs.push({ type: 'Invalid', field: `spec.serviceAccounts[${i}]`, value: sa, detail: 'must be "namespace/name"' });
  });
  for (const group of spec.groups ?? []) {
    // A tenant of system:masters or system:authenticated would confine administrators or everyone.
    if (group === 'system:masters' || group === 'system:authenticated' || group === 'system:unauthenticated' || group === 'system:nodes') {
      errs.push({ type: 'Forbidden', field: 'spec.groups', value: group, detail: `${group} cannot belong to a tenant` });
    }
  }
  return errs;
}

export const tenantKind: BuiltinKind = {
  crd: tenantCrd,
  validate: validateTenant,
  validateUpdate: (obj) => validateTenant(obj),
};
