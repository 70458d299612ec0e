/**
 * ServiceAccount admission, the token-mount half (upstream plugin/pkg/admission/serviceaccount): on pod create,
 * unless the pod or its ServiceAccount sets automountServiceAccountToken=false, add the projected volume
 * `kube-api-access-<5 chars>` (bound token, root CA, namespace) and mount it read-only in every container.
 * Pure functions: the API server core supplies the ServiceAccount.
 */
import { randomBytes } from 'node:crypto';
import type { V1Pod, V1ServiceAccount, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { KubeObject } from '../apimachinery/object.js';
import { forbidden, type StatusError } from '../apimachinery/status.js';

export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** Upstream's default: one hour plus 7 s so clients can tell an admission-issued token from a requested one. */
export const PROJECTED_TOKEN_EXPIRATION_SECONDS = 3607;
const VOLUME_PREFIX = 'kube-api-access-';

/** Upstream's utilrand.String alphabet (no vowels, no confusable characters). */
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(n = 5): string {
  const b = randomBytes(n);
  return Array.from(b, (x) => ALPHANUMS[x % ALPHANUMS.length]).join('');
}

export function apiAccessVolume(name: string): V1Volume {
  return {
    name,
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: PROJECTED_TOKEN_EXPIRATION_SECONDS } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

/** Static pods' mirrors are exempt, as upstream (their kubelet cannot be asked for a ServiceAccount). */
export function isMirrorPod(pod: KubeObject): boolean {
  return pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
}

/**
 * A pod naming a ServiceAccount that does not exist is refused (403), worded as upstream's plugin: the pod is named
 * by its generateName when it has one (admission runs before the name is generated there).
 */
export function serviceAccountMissing(pod: KubeObject, namespace: string, serviceAccount: string): StatusError {
  const name = pod.metadata?.generateName || pod.metadata?.name || 'Unknown';
  return forbidden({ group: '', resource: 'pods' }, name, `error looking up service account ${namespace}/${serviceAccount}: serviceaccount "${serviceAccount}" not found`);
}

/** Whether the token should be mounted: the pod's own setting wins, then the ServiceAccount's, default yes. */
export function shouldAutomount(pod: V1Pod, sa: V1ServiceAccount | null): boolean {
  if (pod.spec?.automountServiceAccountToken === false) return false;
  if (pod.spec?.automountServiceAccountToken === true) return true;
  return sa?.automountServiceAccountToken !== false;
}

/**
 * Mutates the pod as upstream's admission does. Containers that already mount something at the service account
 * path keep their own mount; a pod that already carries a kube-api-access volume is left as is (idempotent).
 * Returns the volume name added, or null.
 */
export function mountServiceAccountToken(pod: V1Pod, sa: V1ServiceAccount | null): string | null {
  const spec = pod.spec;
  if (!spec || !shouldAutomount(pod, sa)) return null;
  const volumes = (spec.volumes ??= []);
  let name = volumes.find((v) => v.name.startsWith(VOLUME_PREFIX) && v.projected)?.name;
  const added = !name;
  if (!name) {
    do name = VOLUME_PREFIX + randomSuffix(); while (volumes.some((v) => v.name === name));
    volumes.push(apiAccessVolume(name));
  }
  const mount: V1VolumeMount = { name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH };
  for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
    const mounts = (c.volumeMounts ??= []);
    if (mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
    mounts.push({ ...mount });
  }
  return added ? name : null;
}
