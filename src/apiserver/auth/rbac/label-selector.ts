import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * Label selector matching for aggregationRule.clusterRoleSelectors (matchLabels AND every matchExpression).
 * Small and local on purpose: RBAC only needs object-form selectors, never the string syntax.
 */
export function labelSelectorMatches(selector: V1LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const expr of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, expr.key);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(labels[expr.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[expr.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // an unknown operator selects nothing, as upstream's conversion would fail
    }
  }
  return true;
}
