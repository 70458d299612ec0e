import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';

type MaybePromise<T> = T | Promise<T>;

/**
 * Where the authorizer reads RBAC objects from. The API server backs it with its store / watch cache;
 * tests back it with arrays (see staticRbacSource). Called on every authorization, so it should be cheap.
 */
export interface RbacSource {
  listClusterRoles(): MaybePromise<V1ClusterRole[]>;
  listClusterRoleBindings(): MaybePromise<V1ClusterRoleBinding[]>;
  /** Roles of one namespace. */
  listRoles(namespace: string): MaybePromise<V1Role[]>;
  /** RoleBindings of one namespace. */
  listRoleBindings(namespace: string): MaybePromise<V1RoleBinding[]>;
}

export interface RbacObjects {
  clusterRoles?: V1ClusterRole[];
  clusterRoleBindings?: V1ClusterRoleBinding[];
  roles?: V1Role[];
  roleBindings?: V1RoleBinding[];
}

/** An in-memory RbacSource over fixed arrays (unit tests, and callers that already hold a snapshot). */
export function staticRbacSource(objs: RbacObjects): RbacSource {
  return {
    listClusterRoles: () => objs.clusterRoles ?? [],
    listClusterRoleBindings: () => objs.clusterRoleBindings ?? [],
    listRoles: (ns) => (objs.roles ?? []).filter((r) => r.metadata?.namespace === ns),
    listRoleBindings: (ns) => (objs.roleBindings ?? []).filter((b) => b.metadata?.namespace === ns),
  };
}
