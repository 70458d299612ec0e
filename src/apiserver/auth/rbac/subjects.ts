import type { RbacV1Subject } from '@kubernetes/client-node';
import type { UserInfo } from '../types.js';

export const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';

export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USER_PREFIX}${namespace}:${name}`;
}

/**
 * Whether a binding subject names this user. A ServiceAccount subject without a namespace means the
 * binding's own namespace (and nothing, for a ClusterRoleBinding), as upstream does.
 */
export function subjectAppliesToUser(user: UserInfo, subject: RbacV1Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const ns = subject.namespace || bindingNamespace;
      if (!ns) return false;
      return user.username === serviceAccountUsername(ns, subject.name);
    }
    default:
      return false;
  }
}

/** How upstream names a subject in "allowed by" reasons: ServiceAccount "name/namespace", others "name". */
export function describeSubject(subject: RbacV1Subject, bindingNamespace: string): string {
  if (subject.kind === 'ServiceAccount') {
    return `${subject.kind} ${JSON.stringify(`${subject.name}/${subject.namespace || bindingNamespace}`)}`;
  }
  return `${subject.kind} ${JSON.stringify(subject.name)}`;
}
