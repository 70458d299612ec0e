import type { V1Node } from '@kubernetes/client-node';
import { EDGE_ROLE_LABEL } from '../../common/node-restriction.js';
import { parseGoDuration } from '../../common/duration.js';

export const UnreachableTaintKey = 'node.kubernetes.io/unreachable';
export const NotReadyTaintKey = 'node.kubernetes.io/not-ready';
export const AutonomyAnnotation = 'node.beta.openyurt.io/autonomy';
/** OpenYurt's annotations, read as yurt-manager's podbinding controller reads them. */
export const PodBindingAnnotation = 'apps.openyurt.io/binding';
export const AutonomyDurationAnnotation = 'node.openyurt.io/autonomy-duration';
export const OriginalTolerationAnnotation: Readonly<Record<string, string>> = {
  [NotReadyTaintKey]: 'apps.openyurt.io/original-not-ready-toleration-duration',
  [UnreachableTaintKey]: 'apps.openyurt.io/original-unreachable-toleration-duration',
};

/**
 * What a node's pods should tolerate of not-ready/unreachable NoExecute: `bind` with `seconds` (undefined =
 * forever), or not (`bind: false`: the pods' original tolerations back). OpenYurt's precedence: binding or the
 * autonomy annotation "true" = forever; else `node.openyurt.io/autonomy-duration` (a Go duration; ≤ 0 = forever).
 * Kedge adds: an edge node (`node-role.kubernetes.io/edge`) is bound forever by default, and an explicit "false"
 * on either OpenYurt annotation opts it out (its pods are evicted as upstream evicts them).
 */
export function autonomyOf(node: V1Node): { bind: boolean; seconds?: number; invalid?: string } {
  const a = node.metadata?.annotations ?? {};
  if (a[PodBindingAnnotation] === 'true' || a[AutonomyAnnotation] === 'true') return { bind: true };
  if (a[PodBindingAnnotation] === 'false' || a[AutonomyAnnotation] === 'false') return { bind: false };
  const duration = a[AutonomyDurationAnnotation];
  const edge = node.metadata?.labels?.[EDGE_ROLE_LABEL] !== undefined;
  if (duration !== undefined) {
    const ms = parseGoDuration(duration);
    if (ms === null) return { bind: edge, invalid: duration };
    return ms <= 0 ? { bind: true } : { bind: true, seconds: Math.floor(ms / 1000) };
  }
  return { bind: edge };
}

