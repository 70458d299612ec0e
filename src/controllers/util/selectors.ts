import type { V1LabelSelector, V1NodeSelectorTerm, V1Taint, V1Toleration } from '@kubernetes/client-node';

export type Labels = Record<string, string> | undefined;

export { labelSelectorMatches } from '../../common/label-selector.js';

/** Selector as the `labelSelector` query string (for kubectl-visible fields like status.selector). */
export function selectorToString(sel: V1LabelSelector | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {}).sort()) parts.push(`${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** One NodeSelectorTerm: all its expressions must hold. An empty term matches nothing (upstream). */
export function nodeSelectorTermMatches(term: V1NodeSelectorTerm, nodeName: string, labels: Labels): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const l = labels ?? {};
  for (const e of exprs) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const v = l[e.key];
    const vals = e.values ?? [];
    switch (e.operator) {
      case 'In': if (!has || !vals.includes(v!)) return false; break;
      case 'NotIn': if (has && vals.includes(v!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      case 'Gt': case 'Lt': {
        if (!has || vals.length !== 1) return false;
        const a = Number.parseInt(v!, 10), b = Number.parseInt(vals[0]!, 10);
        if (Number.isNaN(a) || Number.isNaN(b)) return false;
        if (e.operator === 'Gt' ? !(a > b) : !(a < b)) return false;
        break;
      }
      default: return false;
    }
  }
  for (const f of fields) {
    if (f.key !== 'metadata.name') return false;
    const vals = f.values ?? [];
    if (f.operator === 'In' && !vals.includes(nodeName)) return false;
    if (f.operator === 'NotIn' && vals.includes(nodeName)) return false;
  }
  return true;
}

export function tolerates(tol: V1Toleration, taint: V1Taint): boolean {
  if (tol.effect && tol.effect !== taint.effect) return false;
  if (tol.operator === 'Exists') return !tol.key || tol.key === taint.key;
  if (tol.key !== taint.key) return false;
  return (tol.value ?? '') === (taint.value ?? '');
}

/** The first taint with one of `effects` that no toleration covers, if any. */
export function findUntoleratedTaint(
  taints: V1Taint[] | undefined,
  tolerations: V1Toleration[] | undefined,
  effects: string[],
): V1Taint | undefined {
  for (const t of taints ?? []) {
    if (!effects.includes(t.effect)) continue;
    if (!(tolerations ?? []).some((tol) => tolerates(tol, t))) return t;
  }
  return undefined;
}
