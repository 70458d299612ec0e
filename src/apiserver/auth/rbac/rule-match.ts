import type { V1PolicyRule } from '@kubernetes/client-node';
import type { RequestAttributes } from '../types.js';

/**
 * RBAC policy rule matching, rule by rule as upstream's rbac/v1 helpers define it. Kept free of any
 * storage so it can be table-tested and reused by SubjectAccessReview and rules reviews.
 */

export const ALL = '*';

export function verbMatches(rule: V1PolicyRule, verb: string): boolean {
  return (rule.verbs ?? []).some((v) => v === ALL || v === verb);
}

export function apiGroupMatches(rule: V1PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === ALL || g === group);
}

/**
 * `combined` is "resource" or "resource/subresource". A rule resource matches when it is "*", equal to
 * the combined name, or "*\/sub" for the requested subresource. "pods" alone never grants "pods/log".
 */
export function resourceMatches(rule: V1PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === ALL || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

/** An empty resourceNames list allows every name; otherwise the request must name one of them. */
export function resourceNameMatches(rule: V1PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  if (names.length === 0) return true;
  return names.includes(name);
}

/** "*" matches every path; "/prefix/*" matches paths starting with "/prefix/"; otherwise exact. */
export function nonResourceUrlMatches(rule: V1PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === ALL || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

export function combinedResource(attrs: Pick<RequestAttributes, 'resource' | 'subresource'>): string {
  return attrs.subresource ? `${attrs.resource ?? ''}/${attrs.subresource}` : attrs.resource ?? '';
}

/** Whether one rule allows the request. */
export function ruleAllows(attrs: RequestAttributes, rule: V1PolicyRule): boolean {
  if (attrs.resourceRequest) {
    return (
      verbMatches(rule, attrs.verb) &&
      apiGroupMatches(rule, attrs.apiGroup ?? '') &&
      resourceMatches(rule, combinedResource(attrs), attrs.subresource ?? '') &&
      resourceNameMatches(rule, attrs.name ?? '')
    );
  }
  return verbMatches(rule, attrs.verb) && nonResourceUrlMatches(rule, attrs.path ?? '');
}

export function rulesAllow(attrs: RequestAttributes, rules: V1PolicyRule[]): boolean {
  return rules.some((r) => ruleAllows(attrs, r));
}
