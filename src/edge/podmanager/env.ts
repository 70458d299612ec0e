/**
 * A container's environment, resolved like the kubelet does: envFrom (configmaps/secrets, with
 * prefix), then env (value with $(VAR) expansion, valueFrom configMapKeyRef / secretKeyRef /
 * fieldRef / resourceFieldRef). A missing non-optional source is a ConfigError, which the pod
 * manager reports as CreateContainerConfigError.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Store } from '../../storage/types.js';
import { configMapEntries, getConfigMap, getSecret, secretEntries } from './store-objects.js';
import { integerValue, milliValue, type Quantity } from '../../common/quantity.js';
import { containerQuantity } from './resources.js';

export class ConfigError extends Error {}

export interface PodRuntimeFacts {
  podIP?: string;
  hostIP?: string;
  nodeCpuCores: number;
  nodeMemoryBytes: number;
}

/** Expands $(NAME) references from `vars`; $$(NAME) escapes to a literal $(NAME); unknown references stay as written. */
export function expandVars(input: string, vars: Map<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return vars.has(name!) ? vars.get(name!)! : m;
  });
}

export function fieldValue(pod: V1Pod, path: string, facts: PodRuntimeFacts): string {
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sub) return (pod.metadata?.[sub[1] as 'labels' | 'annotations'] ?? {})[sub[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.metadata?.name ?? '';
    case 'metadata.namespace': return pod.metadata?.namespace ?? '';
    case 'metadata.uid': return pod.metadata?.uid ?? '';
    case 'metadata.labels': return formatMap(pod.metadata?.labels);
    case 'metadata.annotations': return formatMap(pod.metadata?.annotations);
    case 'spec.nodeName': return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP': case 'status.hostIPs': return facts.hostIP ?? '';
    case 'status.podIP': case 'status.podIPs': return facts.podIP ?? '';
    default: throw new ConfigError(`unsupported fieldRef fieldPath ${JSON.stringify(path)}`);
  }
}

/** The downward API's label/annotation file format: key="value" lines, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {}).sort().map((k) => `${k}=${JSON.stringify(m![k])}`).join('\n');
}

export function resourceValue(pod: V1Pod, containerName: string | undefined, resource: string, divisor: string | undefined, facts: PodRuntimeFacts): string {
  const c = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => !containerName || x.name === containerName);
  if (!c) throw new ConfigError(`resourceFieldRef: container ${containerName} not found`);
  const [kind, res] = resource.split('.') as ['limits' | 'requests', string];
  if ((kind !== 'limits' && kind !== 'requests') || !['cpu', 'memory', 'ephemeral-storage'].includes(res)) throw new ConfigError(`unsupported resourceFieldRef resource ${resource}`);
  const set = containerQuantity(c.resources?.[kind]?.[res]);
  const divisorQ = containerQuantity(divisor ?? '1');
  // The kubelet divides millicores by the divisor's millicores (cpu) or bytes by bytes (memory, storage), rounding up.
  const units = (q: Quantity): bigint => (res === 'cpu' ? milliValue(q) : integerValue(q));
  let value: bigint;
  if (set) value = units(set);
  else if (kind === 'requests') value = 0n;
  else value = res === 'cpu' ? BigInt(Math.round(facts.nodeCpuCores * 1000)) : res === 'memory' ? BigInt(Math.floor(facts.nodeMemoryBytes)) : 0n;
  const per = divisorQ && units(divisorQ) > 0n ? units(divisorQ) : 1n;
  const quotient = value / per;
  return String(quotient * per === value || value < 0n ? quotient : quotient + 1n);
}

export async function resolveEnv(store: Store, pod: V1Pod, c: V1Container, facts: PodRuntimeFacts): Promise<{ key: string; value: string }[]> {
  const ns = pod.metadata?.namespace ?? 'default';
  const vars = new Map<string, string>();
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = await getConfigMap(store, ns, from.configMapRef.name!);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new ConfigError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of configMapEntries(cm)) vars.set(prefix + k, v.toString('utf8'));
    } else if (from.secretRef) {
      const s = await getSecret(store, ns, from.secretRef.name!);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new ConfigError(`secret "${from.secretRef.name}" not found`);
      }
      for (const [k, v] of secretEntries(s)) vars.set(prefix + k, v.toString('utf8'));
    }
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (!vf) {
      vars.set(e.name, expandVars(e.value ?? '', vars));
    } else if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = await getConfigMap(store, ns, ref.name!);
      const val = cm ? configMapEntries(cm).get(ref.key) : undefined;
      if (val === undefined) {
        if (ref.optional) continue;
        throw new ConfigError(cm ? `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}` : `configmap "${ref.name}" not found`);
      }
      vars.set(e.name, val.toString('utf8'));
    } else if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = await getSecret(store, ns, ref.name!);
      const val = s ? secretEntries(s).get(ref.key) : undefined;
      if (val === undefined) {
        if (ref.optional) continue;
        throw new ConfigError(s ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found`);
      }
      vars.set(e.name, val.toString('utf8'));
    } else if (vf.fieldRef) {
      vars.set(e.name, fieldValue(pod, vf.fieldRef.fieldPath, facts));
    } else if (vf.resourceFieldRef) {
      const r = vf.resourceFieldRef;
      vars.set(e.name, resourceValue(pod, r.containerName ?? c.name, r.resource, r.divisor as string | undefined, facts));
    }
  }
  return [...vars].map(([key, value]) => ({ key, value }));
}
