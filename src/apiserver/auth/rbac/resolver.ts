import type { V1ClusterRole, V1PolicyRule, V1RoleRef } from '@kubernetes/client-node';
import type { UserInfo } from '../types.js';
import type { RbacSource } from './source.js';
import { AggregationMemo } from './aggregation.js';
import { describeSubject, subjectAppliesToUser } from './subjects.js';

/** Where a rule came from, described the way upstream words "allowed by" reasons. */
export interface RuleSource {
  description: string;
}

/** Return false to stop visiting (e.g. once a rule allowed the request). */
export type RuleVisitor = (source: RuleSource | null, rule: V1PolicyRule | null, err: Error | null) => boolean;

class NotFoundError extends Error {}

type ClusterRoleSnapshot = ReturnType<AggregationMemo['snapshot']>;

/** One memo per RbacSource, so aggregated roles are recomputed only when ClusterRoles change. */
const memos = new WeakMap<RbacSource, AggregationMemo>();
function snapshotFor(source: RbacSource, roles: V1ClusterRole[]): ClusterRoleSnapshot {
  let memo = memos.get(source);
  if (!memo) memos.set(source, (memo = new AggregationMemo()));
  return memo.snapshot(roles);
}

function resolveRoleRef(
  ref: V1RoleRef,
  bindingNamespace: string,
  clusterRoles: ClusterRoleSnapshot,
  roles: Map<string, { rules?: V1PolicyRule[] }>,
): V1PolicyRule[] {
  if (ref.kind === 'ClusterRole') {
    const role = clusterRoles.map.get(ref.name);
    if (!role) throw new NotFoundError(`clusterrole.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found`);
    return clusterRoles.rulesOf(role);
  }
  if (ref.kind === 'Role' && bindingNamespace) {
    const role = roles.get(ref.name);
    if (!role) throw new NotFoundError(`role.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found`);
    return role.rules ?? [];
  }
  throw new NotFoundError(`unsupported role reference kind: ${JSON.stringify(ref.kind)}`);
}

/**
 * Visits every rule that applies to `user` in `namespace` ("" = cluster scope only): first the ClusterRoles of
 * matching ClusterRoleBindings, then the roles of matching RoleBindings in the namespace, in upstream's order.
 * Each binding's first matching subject is the one reported.
 */
export async function visitRulesFor(source: RbacSource, user: UserInfo, namespace: string, visit: RuleVisitor): Promise<void> {
  const clusterRoles = snapshotFor(source, await source.listClusterRoles());
  const emptyRoles = new Map<string, { rules?: V1PolicyRule[] }>();

  for (const binding of await source.listClusterRoleBindings()) {
    const subject = (binding.subjects ?? []).find((s) => subjectAppliesToUser(user, s, ''));
    if (!subject) continue;
    let rules: V1PolicyRule[];
    try {
      rules = resolveRoleRef(binding.roleRef, '', clusterRoles, emptyRoles);
    } catch (err) {
      if (!visit(null, null, err as Error)) return;
      continue;
    }
    const src: RuleSource = {
      description: `ClusterRoleBinding ${JSON.stringify(binding.metadata?.name ?? '')} of ${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)} to ${describeSubject(subject, '')}`,
    };
    for (const rule of rules) if (!visit(src, rule, null)) return;
  }

  if (!namespace) return;
  const bindings = await source.listRoleBindings(namespace);
  if (bindings.length === 0) return;
  const roles = new Map((await source.listRoles(namespace)).map((r) => [r.metadata?.name ?? '', r]));
  for (const binding of bindings) {
    const subject = (binding.subjects ?? []).find((s) => subjectAppliesToUser(user, s, namespace));
    if (!subject) continue;
    let rules: V1PolicyRule[];
    try {
      rules = resolveRoleRef(binding.roleRef, namespace, clusterRoles, roles);
    } catch (err) {
      if (!visit(null, null, err as Error)) return;
      continue;
    }
    const src: RuleSource = {
      description: `RoleBinding ${JSON.stringify(`${binding.metadata?.name ?? ''}/${namespace}`)} of ${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)} to ${describeSubject(subject, namespace)}`,
    };
    for (const rule of rules) if (!visit(src, rule, null)) return;
  }
}

/** All rules for a user in a namespace, plus the errors met (missing roles); feeds SelfSubjectRulesReview. */
export async function rulesFor(source: RbacSource, user: UserInfo, namespace: string): Promise<{ rules: V1PolicyRule[]; errors: Error[] }> {
  const rules: V1PolicyRule[] = [];
  const errors: Error[] = [];
  await visitRulesFor(source, user, namespace, (_src, rule, err) => {
    if (rule) rules.push(rule);
    if (err) errors.push(err);
    return true;
  });
  return { rules, errors };
}
