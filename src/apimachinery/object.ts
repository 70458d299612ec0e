/** The minimal shape every Kubernetes object shares, and the conversion between objects and store values. */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { KeyValue } from '../storage/types.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  [field: string]: unknown;
}

/**
 * Store values hold the object's JSON without metadata.resourceVersion: the store's modRevision *is* the
 * resourceVersion, so it is injected on every read instead of being written twice.
 */
export function decodeKv(kv: KeyValue): KubeObject {
  const obj = JSON.parse(kv.value) as KubeObject;
  obj.metadata ??= {};
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}

export function encodeForStore(obj: KubeObject): string {
  const meta = obj.metadata;
  if (!meta || meta.resourceVersion === undefined) return JSON.stringify(obj);
  const { resourceVersion: _rv, ...rest } = meta;
  return JSON.stringify({ ...obj, metadata: rest });
}

/** Deep copy of plain JSON data (objects here are always JSON-compatible). */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Kubernetes timestamps are RFC 3339 with second precision: `2024-01-02T03:04:05Z`. */
export function nowTimestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
