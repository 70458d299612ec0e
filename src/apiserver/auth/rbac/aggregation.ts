import type { V1ClusterRole, V1PolicyRule } from '@kubernetes/client-node';
import { labelSelectorMatches } from '../../../common/label-selector.js';

/**
 * ClusterRole aggregation (aggregationRule.clusterRoleSelectors): an aggregated role's rules are the union of
 * the rules of every other ClusterRole selected by any selector. Upstream a controller writes that union into
 * the stored object; Kedge's authorizer computes it on read, so a new aggregate-to-* role takes effect at once.
 * Nested aggregation (admin ← edit ← view ← system:aggregate-to-view) resolves transitively; cycles stop.
 */
export function aggregatedRules(role: V1ClusterRole, all: Map<string, V1ClusterRole>, visiting = new Set<string>()): V1PolicyRule[] {
  const name = role.metadata?.name ?? '';
  if (!role.aggregationRule) return role.rules ?? [];
  if (visiting.has(name)) return [];
  visiting.add(name);
  const selectors = role.aggregationRule.clusterRoleSelectors ?? [];
  const out: V1PolicyRule[] = [];
  const seen = new Set<string>();
  // Sorted by name so the union is deterministic, like the upstream controller's output.
  const candidates = [...all.values()].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const other of candidates) {
    const otherName = other.metadata?.name ?? '';
    if (otherName === name) continue;
    if (!selectors.some((s) => labelSelectorMatches(s, other.metadata?.labels ?? {}))) continue;
    for (const rule of aggregatedRules(other, all, visiting)) {
      const key = JSON.stringify(rule);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(rule);
    }
  }
  visiting.delete(name);
  return out;
}

export function clusterRoleMap(roles: V1ClusterRole[]): Map<string, V1ClusterRole> {
  return new Map(roles.map((r) => [r.metadata?.name ?? '', r]));
}

/** The effective rules of a ClusterRole: aggregated when it has an aggregationRule, else its own. */
export function effectiveClusterRoleRules(role: V1ClusterRole, all: Map<string, V1ClusterRole>): V1PolicyRule[] {
  return role.aggregationRule ? aggregatedRules(role, all) : role.rules ?? [];
}

/**
 * Memo of effective ClusterRole rules for one snapshot of ClusterRoles. Authorization runs on every request and
 * aggregation is the expensive part, so results are reused until any ClusterRole changes (detected by a
 * fingerprint of names + resourceVersions; objects without a resourceVersion are fingerprinted by content).
 */
export class AggregationMemo {
  private fingerprint = '';
  private rules = new Map<string, V1PolicyRule[]>();

  private static fingerprintOf(roles: V1ClusterRole[]): string {
    let fp = '';
    for (const r of roles) {
      const rv = r.metadata?.resourceVersion;
      fp += `${r.metadata?.name ?? ''}@${rv ?? JSON.stringify([r.metadata?.labels, r.rules, r.aggregationRule])};`;
    }
    return fp;
  }

  /** Call once per authorization with the current ClusterRoles; returns a lookup of effective rules by name. */
  snapshot(roles: V1ClusterRole[]): { map: Map<string, V1ClusterRole>; rulesOf(role: V1ClusterRole): V1PolicyRule[] } {
    const map = clusterRoleMap(roles);
    const fp = AggregationMemo.fingerprintOf(roles);
    if (fp !== this.fingerprint) {
      this.fingerprint = fp;
      this.rules = new Map();
    }
    return {
      map,
      rulesOf: (role) => {
        if (!role.aggregationRule) return role.rules ?? [];
        const name = role.metadata?.name ?? '';
        let rules = this.rules.get(name);
        if (!rules) {
          rules = aggregatedRules(role, map);
          this.rules.set(name, rules);
        }
        return rules;
      },
    };
  }
}
