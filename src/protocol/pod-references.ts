/**
 * The objects a pod references — the configmaps, secrets, persistent volume claims and service account (and Kedge's
 * PodToken) its node needs to run it — as store keys (a claim's volume is one hop further: the hub adds it). The hub uses it for node authorization (what joins a node's desired set);
 * the edge's local API for what a pod's own service account token may read there.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { objectKey } from './keys.js';

/** configmaps/secrets/serviceaccounts a pod references (volumes, projected sources, env, envFrom, pull secrets). */
export function podReferences(pod: V1Pod): string[] {
  const ns = pod.metadata?.namespace ?? 'default';
  const out = new Set<string>();
  const cm = (n?: string) => n && out.add(objectKey('configmaps', ns, n));
  const sec = (n?: string) => n && out.add(objectKey('secrets', ns, n));
  const spec = pod.spec;
  if (!spec) return [];
  out.add(objectKey('serviceaccounts', ns, spec.serviceAccountName || 'default'));
  // The pod's projected service account tokens (pod-tokens.ts), when it has such sources.
  if ((spec.volumes ?? []).some((v) => v.projected?.sources?.some((s) => s.serviceAccountToken))) out.add(objectKey('podtokens.kedge.io', ns, pod.metadata?.name ?? ''));
  for (const s of spec.imagePullSecrets ?? []) sec(s.name);
  for (const v of spec.volumes ?? []) {
    if (v.persistentVolumeClaim?.claimName) out.add(objectKey('persistentvolumeclaims', ns, v.persistentVolumeClaim.claimName));
    cm(v.configMap?.name);
    sec(v.secret?.secretName);
    for (const src of v.projected?.sources ?? []) {
      cm(src.configMap?.name);
      sec(src.secret?.name);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]) {
    for (const e of c.env ?? []) {
      cm(e.valueFrom?.configMapKeyRef?.name);
      sec(e.valueFrom?.secretKeyRef?.name);
    }
    for (const f of c.envFrom ?? []) {
      cm(f.configMapRef?.name);
      sec(f.secretRef?.name);
    }
  }
  return [...out];
}
