import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import type { UserInfo } from '../types.js';
import type { RbacEscalationGuard } from './escalation.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

interface Meta { metadata?: { namespace?: string; ownerReferences?: unknown; finalizers?: unknown; resourceVersion?: unknown; managedFields?: unknown; generation?: unknown } }

/** Upstream lets anyone who may update an RBAC object change only its GC fields (owner references, finalizers). */
function onlyGcFieldsChanged(obj: Meta, old: Meta): boolean {
  const strip = (o: Meta): string => {
    const { ownerReferences: _o, finalizers: _f, resourceVersion: _r, managedFields: _m, generation: _g, ...md } = o.metadata ?? {};
    return JSON.stringify({ ...o, metadata: md });
  };
  return strip(obj) === strip(old);
}

/**
 * The API server's admission step for rbac.authorization.k8s.io writes (create and update): runs the escalation
 * checks for Roles, ClusterRoles and their bindings; every other resource passes untouched. Throws a StatusError.
 */
export async function admitRbacWrite(
  guard: RbacEscalationGuard,
  def: { group: string; kind: string },
  obj: unknown,
  old: unknown | null,
  ctx: { user: UserInfo; namespace: string },
): Promise<void> {
  if (def.group !== RBAC_GROUP) return;
  if (old && onlyGcFieldsChanged(obj as Meta, old as Meta)) return;
  const ns = (obj as Meta).metadata?.namespace ?? ctx.namespace ?? '';
  switch (def.kind) {
    case 'Role': return guard.checkRole(obj as V1Role, 'Role', ctx.user, ns);
    case 'ClusterRole': return guard.checkRole(obj as V1ClusterRole, 'ClusterRole', ctx.user, '');
    case 'RoleBinding': return guard.checkBinding(obj as V1RoleBinding, 'RoleBinding', ctx.user, ns);
    case 'ClusterRoleBinding': return guard.checkBinding(obj as V1ClusterRoleBinding, 'ClusterRoleBinding', ctx.user, '');
    default: return;
  }
}
