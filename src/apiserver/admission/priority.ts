/**
 * Upstream's Priority admission plugin and the scheduling REST storage's start hook: the two system
 * PriorityClasses exist from start (re-created if deleted, at the next start), and a pod's
 * `priorityClassName` resolves to its `priority` and `preemptionPolicy` (a global default class applies to pods
 * that name none). A pod naming a class that does not exist is refused with upstream's 403.
 */
import type { KubeObject } from '../../apimachinery/object.js';
import { forbidden, StatusError } from '../../apimachinery/status.js';
import type { ObjectStore } from '../objects.js';
import type { ResourceDef, StrategyContext } from '../registry.js';
import { SYSTEM_PRIORITY_CLASSES } from '../resources/cluster-policy.js';
import type { Obj } from '../resources/helpers.js';

export async function ensureSystemPriorityClasses(objects: ObjectStore, def: ResourceDef, ctx: StrategyContext): Promise<void> {
  for (const c of SYSTEM_PRIORITY_CLASSES) {
    try {
      await objects.create(def, { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: c.name }, value: c.value, description: c.description, preemptionPolicy: 'PreemptLowerPriority' } as KubeObject, ctx);
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 409)) throw err;
    }
  }
}

export interface PriorityClassLookup {
  get(name: string): Obj | undefined;
  all(): Obj[];
}

/** Sets spec.priority / spec.preemptionPolicy of a pod being created from its class (mutates the pod). */
export function admitPodPriority(pod: Obj, classes: PriorityClassLookup): void {
  const s = (pod.spec ??= {}) as Obj;
  let cls: Obj | undefined;
  if (s.priorityClassName) {
    cls = classes.get(s.priorityClassName);
    if (!cls) throw forbidden({ group: '', resource: 'pods' }, pod.metadata?.name ?? '', `no PriorityClass with name ${s.priorityClassName} was found`);
  } else {
    cls = classes.all().filter((c) => c.globalDefault === true).sort((a, b) => (a.value ?? 0) - (b.value ?? 0))[0];
    if (cls) s.priorityClassName = cls.metadata?.name;
  }
  const value = cls?.value ?? 0;
  // The defaulted 0 is ours; any other value the client set must match its class, as upstream.
  if (s.priority !== undefined && s.priority !== 0 && s.priority !== value) {
    throw forbidden({ group: '', resource: 'pods' }, pod.metadata?.name ?? '', 'the integer value of priority must not be provided in pod spec; priority admission controller computed ' + value + ' from the given PriorityClass name');
  }
  s.priority = value;
  s.preemptionPolicy = cls?.preemptionPolicy ?? s.preemptionPolicy ?? 'PreemptLowerPriority';
}
