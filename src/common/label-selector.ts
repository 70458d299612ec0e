import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * metav1.LabelSelector matching in its object form (matchLabels AND every matchExpression), as upstream's
 * LabelSelectorAsSelector: a null/undefined selector selects nothing, `{}` selects everything, and an unknown
 * operator selects nothing (upstream's conversion fails; validation refuses it before it is stored). The one
 * implementation for the controllers, the hub, the edge and RBAC aggregation; the string syntax (and its errors)
 * is apimachinery's parser.
 */
export function labelSelectorMatches(sel: V1LabelSelector | undefined | null, labels: Record<string, string> | undefined): boolean {
  if (sel == null) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In': if (!has || !values.includes(l[e.key]!)) return false; break;
      case 'NotIn': if (has && values.includes(l[e.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}
