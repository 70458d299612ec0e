/** Typed reads of the cloud's objects from the edge's local store (JSON under /registry/...). */
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Store } from '../../storage/types.js';
import { registryKey } from '../contracts.js';

export async function getObject<T>(store: Store, resource: string, namespace: string | undefined, name: string): Promise<T | null> {
  const kv = await store.get(registryKey(resource, namespace, name));
  return kv ? (JSON.parse(kv.value) as T) : null;
}

export const getConfigMap = (s: Store, ns: string, name: string) => getObject<V1ConfigMap>(s, 'configmaps', ns, name);
export const getSecret = (s: Store, ns: string, name: string) => getObject<V1Secret>(s, 'secrets', ns, name);

/**
 * A pod's projected service account tokens as the hub ships them: key `/registry/podtokens.kedge.io/<ns>/<pod>`,
 * one entry per projected serviceAccountToken source (volume name + path), replaced on every refresh.
 */
export interface PodToken {
  apiVersion: 'kedge.io/v1';
  kind: 'PodToken';
  metadata: { namespace: string; name: string; uid?: string };
  podUID?: string;
  tokens: { volume: string; path: string; audience?: string; token: string; expirationTimestamp: string }[];
}
export const PODTOKENS_RESOURCE = 'podtokens.kedge.io';
export const getPodToken = (s: Store, ns: string, pod: string) => getObject<PodToken>(s, PODTOKENS_RESOURCE, ns, pod);

/** A configmap's keys as text (binaryData decoded from base64). */
export function configMapEntries(cm: V1ConfigMap): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

/** A secret's keys (data is base64 on the wire; stringData is accepted too in case the cloud kept it). */
export function secretEntries(s: V1Secret): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  return out;
}
