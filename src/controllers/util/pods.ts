import type { KubernetesObject, V1OwnerReference, V1Pod, V1PodTemplateSpec } from '@kubernetes/client-node';

export function controllerRefOf(obj: KubernetesObject): V1OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((o) => o.controller);
}

export function isControlledBy(obj: KubernetesObject, ownerUid: string | undefined): boolean {
  return !!ownerUid && controllerRefOf(obj)?.uid === ownerUid;
}

export function ownerRef(owner: KubernetesObject, apiVersion: string, kind: string): V1OwnerReference {
  return {
    apiVersion,
    kind,
    name: owner.metadata!.name!,
    uid: owner.metadata!.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isPodActive(pod: V1Pod): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export function toMillis(t: Date | string | undefined | null): number {
  if (!t) return 0;
  return typeof t === 'string' ? Date.parse(t) : t.getTime();
}

/** Ready for at least minReadySeconds (upstream's "available"). */
export function isPodAvailable(pod: V1Pod, minReadySeconds = 0, now = Date.now()): boolean {
  const c = pod.status?.conditions?.find((x) => x.type === 'Ready');
  if (!c || c.status !== 'True') return false;
  if (!minReadySeconds) return true;
  return toMillis(c.lastTransitionTime) + minReadySeconds * 1000 <= now;
}

/** A pod object from a template, owned by its controller (as upstream's PodControl.CreatePods). */
export function podFromTemplate(
  template: V1PodTemplateSpec,
  namespace: string,
  owner: V1OwnerReference,
  name: { name?: string; generateName?: string },
  extraLabels: Record<string, string> = {},
): V1Pod {
  const t = structuredClone(template);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...name,
      namespace,
      labels: { ...(t.metadata?.labels ?? {}), ...extraLabels },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ...(t.metadata?.finalizers ? { finalizers: t.metadata.finalizers } : {}),
      ownerReferences: [owner],
    },
    spec: t.spec!,
  };
}

/** Stable JSON (sorted keys, null/undefined fields dropped) so semantically equal templates compare and hash equal. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined && (v as Record<string, unknown>)[k] !== null)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const safeAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * pod-template-hash / controller-revision-hash as upstream forms them (controller.ComputeHash): FNV-32a over the
 * template, then the collision count as 4 little-endian bytes when there is one, and the decimal of the sum passed
 * through rand.SafeEncodeString (each digit's character code picks from the vowel-free alphabet, so hashes look
 * like `7c5ddbdf54`). Upstream hashes Go's spew dump of the struct, which has no JavaScript equivalent: the input
 * here is the canonical JSON, so equal templates hash equal but the values differ from a kube-controller-manager's.
 */
export function templateHash(template: unknown, collisionCount = 0): string {
  const bytes = Buffer.from(canonicalJson(template), 'utf8');
  let h = 0x811c9dc5;
  const mix = (b: number) => { h = Math.imul(h ^ b, 0x01000193) >>> 0; };
  for (const b of bytes) mix(b);
  if (collisionCount) for (let i = 0; i < 4; i++) mix((collisionCount >>> (8 * i)) & 0xff);
  return Array.from(String(h), (digit) => safeAlphabet[digit.charCodeAt(0) % safeAlphabet.length]).join('');
}

/** Template without the pod-template-hash label, for comparing a Deployment's template with a ReplicaSet's. */
export function templateWithoutHash(t: V1PodTemplateSpec | undefined): V1PodTemplateSpec {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels['pod-template-hash'];
  }
  // kubectl rollout undo sends `creationTimestamp: null`; Go treats it as unset, so do we.
  if (c.metadata) delete c.metadata.creationTimestamp;
  return c;
}

/** Resolves an int-or-percent against total (upstream GetScaledValueFromIntOrPercent). */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean, dflt: number | string): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) return Number.parseInt(x, 10) || 0;
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

/**
 * Orphans that match a controller's selector are adopted, as upstream's ControllerRefManager does: the
 * controller becomes their controller owner (guarded by resourceVersion so a racing adopter loses).
 */
export function adoptable<T extends KubernetesObject>(objs: readonly T[], matches: (o: T) => boolean): T[] {
  return objs.filter((o) => !controllerRefOf(o) && !o.metadata?.deletionTimestamp && matches(o));
}
