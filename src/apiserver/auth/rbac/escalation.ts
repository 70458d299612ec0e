import type { V1ClusterRole, V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding, V1RoleRef } from '@kubernetes/client-node';
import { forbidden, notFound } from '../../../apimachinery/status.js';
import type { Authorizer, UserInfo } from '../types.js';
import type { RbacSource } from './source.js';
import { rulesFor } from './resolver.js';
import { clusterRoleMap, effectiveClusterRoleRules } from './aggregation.js';
import { SUPERUSER_GROUP } from './authorizer.js';

/**
 * RBAC privilege-escalation prevention, as upstream's RBAC registry enforces it: a user may create or update a
 * Role/ClusterRole only with permissions they already hold (or the `escalate` verb on it), and a binding only to a
 * role whose permissions they hold (or the `bind` verb on it). Without this, anyone allowed to write roles in a
 * namespace could grant themselves anything — the tenant isolation of the platform depends on it.
 */

const RBAC_GROUP = 'rbac.authorization.k8s.io';

const has = (set: string[] | undefined, v: string): boolean => (set ?? []).includes(v);
const hasAll = (set: string[] | undefined, vs: string[] | undefined): boolean => (vs ?? []).every((v) => has(set, v));

/** One rule → one rule per (group, resource, verb[, name]) and per (url, verb). */
export function breakdownRule(rule: V1PolicyRule): V1PolicyRule[] {
  const out: V1PolicyRule[] = [];
  for (const group of rule.apiGroups ?? []) {
    for (const resource of rule.resources ?? []) {
      for (const verb of rule.verbs ?? []) {
        if ((rule.resourceNames ?? []).length > 0) {
          for (const name of rule.resourceNames!) out.push({ apiGroups: [group], resources: [resource], verbs: [verb], resourceNames: [name] });
        } else {
          out.push({ apiGroups: [group], resources: [resource], verbs: [verb] });
        }
      }
    }
  }
  for (const url of rule.nonResourceURLs ?? []) {
    for (const verb of rule.verbs ?? []) out.push({ nonResourceURLs: [url], verbs: [verb] });
  }
  return out;
}

function resourceCoversAll(owner: string[] | undefined, wanted: string[] | undefined): boolean {
  if (has(owner, '*') || hasAll(owner, wanted)) return true;
  for (const r of wanted ?? []) {
    if (has(owner, r)) continue;
    const slash = r.indexOf('/');
    if (slash < 0) return false;
    if (!has(owner, `*/${r.slice(slash + 1)}`)) return false;
  }
  return true;
}

function nonResourceUrlCovers(owner: string, wanted: string): boolean {
  return owner === wanted || (owner.endsWith('*') && wanted.startsWith(owner.replace(/\*+$/, '')));
}

/** Whether `owner` grants everything `sub` grants (sub is usually one broken-down rule). */
export function ruleCovers(owner: V1PolicyRule, sub: V1PolicyRule): boolean {
  const verbs = has(owner.verbs, '*') || hasAll(owner.verbs, sub.verbs);
  const groups = has(owner.apiGroups, '*') || hasAll(owner.apiGroups, sub.apiGroups);
  const resources = resourceCoversAll(owner.resources, sub.resources);
  const urls = (sub.nonResourceURLs ?? []).every((u) => (owner.nonResourceURLs ?? []).some((o) => nonResourceUrlCovers(o, u)));
  const ownerNames = owner.resourceNames ?? [];
  const names = (sub.resourceNames ?? []).length === 0 ? ownerNames.length === 0 : ownerNames.length === 0 || hasAll(ownerNames, sub.resourceNames);
  return verbs && groups && resources && urls && names;
}

/** Upstream's Covers: every broken-down requested rule must be covered by some owner rule; returns the rest. */
export function coversRules(owner: V1PolicyRule[], requested: V1PolicyRule[]): { covers: boolean; missing: V1PolicyRule[] } {
  const missing = requested.flatMap(breakdownRule).filter((sub) => !owner.some((o) => ruleCovers(o, sub)));
  return { covers: missing.length === 0, missing };
}

/** Merges single group/resource(/name) rules that differ only by verb, to keep the error message short. */
export function compactRules(rules: V1PolicyRule[]): V1PolicyRule[] {
  const out: V1PolicyRule[] = [];
  const simple = new Map<string, V1PolicyRule>();
  for (const r of rules) {
    const isSimple = (r.nonResourceURLs ?? []).length === 0 && (r.resourceNames ?? []).length <= 1 &&
      (r.apiGroups ?? []).length === 1 && (r.resources ?? []).length === 1;
    if (!isSimple) { out.push(r); continue; }
    const key = JSON.stringify([r.apiGroups![0], r.resources![0], r.resourceNames?.[0] ?? null]);
    const existing = simple.get(key);
    if (existing) existing.verbs = [...existing.verbs, ...r.verbs];
    else simple.set(key, { ...r, verbs: [...r.verbs] });
  }
  return [...out, ...simple.values()];
}

/** Go's %q of a []string: ["a" "b"]. */
const goStrings = (v: string[]): string => `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;

/** Upstream's PolicyRule.CompactString: {APIGroups:[""], Resources:["pods"], Verbs:["create"]}. */
export function compactString(r: V1PolicyRule): string {
  const parts: string[] = [];
  if ((r.apiGroups ?? []).length) parts.push(`APIGroups:${goStrings(r.apiGroups!)}`);
  if ((r.resources ?? []).length) parts.push(`Resources:${goStrings(r.resources!)}`);
  if ((r.nonResourceURLs ?? []).length) parts.push(`NonResourceURLs:${goStrings(r.nonResourceURLs!)}`);
  if ((r.resourceNames ?? []).length) parts.push(`ResourceNames:${goStrings(r.resourceNames!)}`);
  if ((r.verbs ?? []).length) parts.push(`Verbs:${goStrings(r.verbs)}`);
  return `{${parts.join(', ')}}`;
}

const FULL_AUTHORITY: V1PolicyRule[] = [
  { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
  { verbs: ['*'], nonResourceURLs: ['*'] },
];

export interface EscalationCheckOptions {
  superuserGroups?: string[];
}

/**
 * The checks the API server runs before storing a Role, ClusterRole, RoleBinding or ClusterRoleBinding
 * (create and update). Each throws a 403 StatusError with upstream's message, or 404 for a binding whose role
 * does not exist when the user could not bind it anyway.
 */
export class RbacEscalationGuard {
  private readonly superuserGroups: string[];

  constructor(private readonly authorizer: Authorizer, private readonly source: RbacSource, opts: EscalationCheckOptions = {}) {
    this.superuserGroups = opts.superuserGroups ?? [SUPERUSER_GROUP];
  }

  private isSuperuser(user: UserInfo): boolean {
    return user.groups.some((g) => this.superuserGroups.includes(g));
  }

  /** Rules the user holds in `namespace` ('' = cluster-wide only), minus nothing: errors are reported, not fatal. */
  private async confirmNoEscalation(user: UserInfo, namespace: string, rules: V1PolicyRule[]): Promise<string | null> {
    const { rules: owned, errors } = await rulesFor(this.source, user, namespace);
    const { covers, missing } = coversRules(owned, rules);
    if (covers) return null;
    const descriptions = [...new Set(compactRules(missing).map(compactString))].sort();
    let msg = `user ${JSON.stringify(user.username)} (groups=${goStrings(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${descriptions.join('\n')}`;
    if (errors.length > 0) msg += `; resolution errors: [${errors.map((e) => e.message).join(', ')}]`;
    return msg;
  }

  /** Call for Role (namespace = its namespace) and ClusterRole (namespace ''). */
  async checkRole(role: V1Role | V1ClusterRole, kind: 'Role' | 'ClusterRole', user: UserInfo, namespace: string): Promise<void> {
    if (this.isSuperuser(user)) return;
    const resource = kind === 'Role' ? 'roles' : 'clusterroles';
    const name = role.metadata?.name ?? '';
    const escalate = await this.authorizer.authorize({
      user, verb: 'escalate', resourceRequest: true, apiGroup: RBAC_GROUP, apiVersion: 'v1', resource, namespace, name,
    });
    if (escalate.allowed) return;
    const gr = { group: RBAC_GROUP, resource };
    const problem = await this.confirmNoEscalation(user, namespace, role.rules ?? []);
    if (problem) throw forbidden(gr, name, problem);
    if (kind === 'ClusterRole' && (role as V1ClusterRole).aggregationRule) {
      // An aggregation rule can gather anything, so setting one needs full authority.
      if (await this.confirmNoEscalation(user, namespace, FULL_AUTHORITY)) {
        throw forbidden(gr, name, 'must have cluster-admin privileges to use the aggregationRule');
      }
    }
  }

  /** Call for RoleBinding (namespace = its namespace) and ClusterRoleBinding (namespace ''). */
  async checkBinding(binding: V1RoleBinding | V1ClusterRoleBinding, kind: 'RoleBinding' | 'ClusterRoleBinding', user: UserInfo, namespace: string): Promise<void> {
    if (this.isSuperuser(user)) return;
    const ref = binding.roleRef;
    const name = binding.metadata?.name ?? '';
    const bind = await this.authorizer.authorize({
      user, verb: 'bind', resourceRequest: true, apiGroup: ref?.apiGroup ?? RBAC_GROUP, apiVersion: 'v1',
      resource: ref?.kind === 'Role' ? 'roles' : 'clusterroles', namespace, name: ref?.name ?? '',
    });
    if (bind.allowed) return;
    const rules = await this.roleRefRules(ref, namespace);
    const problem = await this.confirmNoEscalation(user, namespace, rules);
    if (problem) throw forbidden({ group: RBAC_GROUP, resource: kind === 'RoleBinding' ? 'rolebindings' : 'clusterrolebindings' }, name, problem);
  }

  private async roleRefRules(ref: V1RoleRef | undefined, namespace: string): Promise<V1PolicyRule[]> {
    if (ref?.kind === 'Role') {
      const role = (await this.source.listRoles(namespace)).find((r) => r.metadata?.name === ref.name);
      if (!role) throw notFound({ group: RBAC_GROUP, resource: 'roles' }, ref.name);
      return role.rules ?? [];
    }
    const all = clusterRoleMap(await this.source.listClusterRoles());
    const role = all.get(ref?.name ?? '');
    if (!role) throw notFound({ group: RBAC_GROUP, resource: 'clusterroles' }, ref?.name ?? '');
    return effectiveClusterRoleRules(role, all);
  }
}
