/**
 * Multi-tenant API isolation: the names and the pure rules every component shares (the API server's gate, the
 * scheduler's node filter, the hub's per-node desired set). Design: docs/design/tenancy.md.
 */

export const TENANCY_GROUP = 'tenancy.kedge.io';
export const TENANCY_VERSION = 'v1alpha1';
/** The Tenant resource as the hub's cache names it (`resource.group`). */
export const TENANTS_RESOURCE = `tenants.${TENANCY_GROUP}`;
/** Marks an object (a Namespace, a Node, any cluster-scoped object, objects in a tenant's namespaces) as a tenant's. */
export const TENANT_LABEL = 'tenancy.kedge.io/tenant';
/** `"true"` on an object no tenant owns: every tenant may read it, none may write it (shared nodes, namespaces). */
export const SHARED_LABEL = 'tenancy.kedge.io/shared';
/** The OpenYurt NodePool label (a Tenant's spec.nodePools names pools by it; node-restriction.ts re-exports it). */
export const NODEPOOL_LABEL = 'apps.openyurt.io/nodepool';
/** The system namespaces every tenant may read and none may write, labelled or not (the row 11). */
export const BUILTIN_SHARED_NAMESPACES: ReadonlySet<string> = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);

/** Tenant.spec as stored (tenancy.kedge.io/v1alpha1). */
export interface TenantSpec {
  /** User names (as authenticated: a certificate's CN, a token file's user). */
  users?: string[];
  groups?: string[];
  /** Service accounts as `namespace/name` (every service account of the tenant's namespaces is a member anyway). */
  serviceAccounts?: string[];
  /** Namespaces that are the tenant's besides those labelled TENANT_LABEL (e.g. created before the Tenant). */
  namespaces?: string[];
  /** Nodes that are the tenant's besides those labelled TENANT_LABEL (e.g. joined with a tenant's token). */
  nodes?: string[];
  /** OpenYurt NodePools whose member nodes are the tenant's. */
  nodePools?: string[];
  /** May the tenant's pods run on shared nodes (labelled SHARED_LABEL=true), and may the tenant read them. */
  sharedNodes?: boolean;
}

export interface TenantObject {
  metadata?: { name?: string; labels?: Record<string, string> };
  spec?: TenantSpec;
}

interface Labelled {
  metadata?: { name?: string; labels?: Record<string, string> | { [key: string]: string } };
}

/** The tenant a Node belongs to: its label, else a tenant that lists it by name or by pool. */
export function nodeTenant(node: Labelled, tenants: Iterable<TenantObject>): string | undefined {
  const labels = node.metadata?.labels ?? {};
  const labelled = labels[TENANT_LABEL];
  if (labelled) return labelled;
  const name = node.metadata?.name ?? '';
  const pool = labels[NODEPOOL_LABEL];
  for (const t of tenants) {
    if (t.spec?.nodes?.includes(name) || (pool !== undefined && t.spec?.nodePools?.includes(pool))) return t.metadata?.name;
  }
  return undefined;
}

/** The tenant a Namespace belongs to: its label, else a tenant that lists it. */
export function namespaceTenant(namespace: Labelled | undefined, name: string, tenants: Iterable<TenantObject>): string | undefined {
  const labelled = namespace?.metadata?.labels?.[TENANT_LABEL];
  if (labelled) return labelled;
  for (const t of tenants) if (t.spec?.namespaces?.includes(name)) return t.metadata?.name;
  return undefined;
}

export function isShared(obj: Labelled | undefined): boolean {
  return obj?.metadata?.labels?.[SHARED_LABEL] === 'true';
}

/**
 * May a pod of `podTenant` (undefined: a pod of no tenant) run on a node of `nodeOwner`? A tenant's nodes take only
 * its pods; shared nodes take every pod whose tenant allows shared nodes (and pods of no tenant); nodes of no
 * tenant that are not shared take only pods of no tenant.
 */
export function nodeAdmitsTenant(nodeOwner: string | undefined, nodeShared: boolean, podTenant: string | undefined, tenantAllowsShared: boolean): boolean {
  if (nodeOwner !== undefined) return nodeOwner === podTenant;
  if (podTenant === undefined) return true;
  return nodeShared && tenantAllowsShared;
}
