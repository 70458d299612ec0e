/**
 * Upstream's TaintNodesByCondition admission plugin (plugin/pkg/admission/nodetaint): every Node is created with
 * `node.kubernetes.io/not-ready:NoSchedule`, so nothing is scheduled onto it before its kubelet reports Ready; the
 * node lifecycle controller lifts the taint once Ready=True (src/controllers/nodes/lifecycle.ts).
 */
import type { KubeObject } from '../../apimachinery/object.js';
import type { Obj } from '../resources/helpers.js';

export const NOT_READY_TAINT_KEY = 'node.kubernetes.io/not-ready';

export function admitNewNodeTaint(node: KubeObject): void {
  const spec = ((node as Obj).spec ??= {}) as { taints?: { key: string; effect: string }[] };
  const taints = (spec.taints ??= []);
  if (!taints.some((t) => t.key === NOT_READY_TAINT_KEY && t.effect === 'NoSchedule')) taints.push({ key: NOT_READY_TAINT_KEY, effect: 'NoSchedule' });
}
