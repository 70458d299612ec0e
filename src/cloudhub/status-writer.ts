/**
 * The up path: writes what an edge node reports (Node status, Lease renewals, pod statuses, events)
 * to the Kubernetes API, after node authorization: a node writes only its own Node and Lease, the
 * status of pods bound to it, and events about those. Conflicts with newer cloud writes are handled
 * by re-reading and replacing only the status (the cloud keeps spec/metadata it changed meanwhile).
 */
import type { CoreV1Event, KubeConfig, V1Lease, V1Node, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { JsonApi, seg } from './api-json.js';
import type { StatusKind } from '../protocol/messages.js';
import { EDGE_ROLE_LABEL } from './desired.js';

export interface WriteResult {
  ok: boolean;
  reason?: string;
  /** Transient (API unreachable, conflict storm): the edge keeps the item and retries. */
  retry?: boolean;
}

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const CONFLICT_RETRIES = 5;

function httpCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function failure(err: unknown): WriteResult {
  const code = httpCode(err);
  const body = (err as { body?: unknown }).body;
  let message = String((err as Error).message ?? err);
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      /* keep */
    }
  }
  // 4xx other than conflict/too-many-requests is a permanent refusal of this item; 5xx/network is transient.
  const retry = code === undefined || code >= 500 || code === 429 || code === 409;
  return { ok: false, reason: `${code ?? 'network'}: ${message}`, retry };
}

function forbidden(reason: string): WriteResult {
  return { ok: false, reason: `forbidden: ${reason}`, retry: false };
}

/** Looks up a pod bound to a node in the hub cache (node authorization for pod status/events). */
export type PodLookup = (namespace: string, name: string) => V1Pod | undefined;

const nodePath = (name: string) => `/api/v1/nodes/${seg(name)}`;
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases/${seg(name)}`;
const podPath = (ns: string, name: string) => `/api/v1/namespaces/${seg(ns)}/pods/${seg(name)}`;
const eventsPath = (ns: string) => `/api/v1/namespaces/${seg(ns)}/events`;

/**
 * Kubernetes MicroTime, as the kubelet writes Lease renewTime: RFC 3339 with microseconds
 * (`2024-01-02T03:04:05.678000Z`).
 */
export function microTime(d: Date): string {
  return d.toISOString().replace(/Z$/, '000Z');
}

/**
 * The object to send back in a PUT, without metadata.managedFields: an update that omits them keeps the
 * stored ones (the server records this write's ownership itself), and they are most of a Lease's size —
 * bytes to encode, encrypt, parse and compare on every renewal.
 */
function forUpdate<T extends { metadata?: { managedFields?: unknown } }>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata } as T;
}

export class StatusWriter {
  /**
   * Objects travel as plain JSON (wire form: timestamps are strings), not through client-node's typed
   * serializers: this is the hub's hottest path (every node, every 10 s) — see api-json.ts.
   */
  private readonly api: JsonApi;
  /** Last lease written per node (bounded by the number of nodes; dropped on any failure). */
  private readonly leases = new Map<string, V1Lease>();

  constructor(kc: KubeConfig, private readonly podLookup: PodLookup) {
    this.api = new JsonApi(kc);
  }

  async write(node: string, kind: StatusKind, body: Record<string, unknown>): Promise<WriteResult> {
    try {
      switch (kind) {
        case 'node':
          return await this.writeNode(node, body as V1Node);
        case 'lease':
          return await this.writeLease(node, body as { renewTime?: string; durationSeconds?: number });
        case 'pod':
          return await this.writePodStatus(node, body as { namespace?: string; name?: string; uid?: string; status?: V1PodStatus });
        case 'event':
          return await this.writeEvent(node, body as unknown as CoreV1Event);
        case 'pod-terminated':
          return await this.finishPodDeletion(node, body as { namespace?: string; name?: string; uid?: string });
      }
    } catch (err) {
      return failure(err);
    }
  }

  private async writeNode(node: string, desired: V1Node): Promise<WriteResult> {
    if (desired.metadata?.name !== node) return forbidden(`node ${node} may not write node ${JSON.stringify(desired.metadata?.name)}`);
    const labels = { ...(desired.metadata?.labels ?? {}), [EDGE_ROLE_LABEL]: '' };
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      let current: V1Node;
      try {
        current = await this.api.request<V1Node>('GET', nodePath(node));
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
        current = await this.api.request<V1Node>('POST', '/api/v1/nodes', {
          apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels, annotations: desired.metadata?.annotations }, spec: desired.spec ?? {},
        });
      }
      current = forUpdate(current);
      // The edge owns status; labels it reports are added (cloud-set labels and spec are kept).
      const missingLabels = Object.entries(labels).some(([k, v]) => current.metadata?.labels?.[k] !== v);
      if (missingLabels) {
        current = forUpdate(await this.api.request<V1Node>('PUT', nodePath(node), { ...current, metadata: { ...current.metadata, labels: { ...(current.metadata?.labels ?? {}), ...labels } } }));
      }
      try {
        await this.api.request('PUT', `${nodePath(node)}/status`, { ...current, status: desired.status });
        return { ok: true };
      } catch (err) {
        if (httpCode(err) !== 409) throw err;
      }
    }
    return { ok: false, reason: 'conflict: node kept changing', retry: true };
  }

  private async writeLease(node: string, body: { renewTime?: string; durationSeconds?: number }): Promise<WriteResult> {
    const renewTime = body.renewTime ? new Date(body.renewTime) : new Date();
    if (Number.isNaN(renewTime.getTime())) return { ok: false, reason: 'invalid renewTime', retry: false };
    const duration = typeof body.durationSeconds === 'number' ? body.durationSeconds : 40;
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      // The lease we last wrote saves a GET per heartbeat (the hot path: every node, every 10 s);
      // a 409 means someone else wrote it, so re-read.
      let lease: V1Lease | undefined = this.leases.get(node);
      if (!lease) {
        try {
          lease = forUpdate(await this.api.request<V1Lease>('GET', leasePath(node)));
        } catch (err) {
          if (httpCode(err) !== 404) throw err;
          try {
            const created = await this.api.request<V1Lease>('POST', `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`, {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: node, namespace: NODE_LEASE_NAMESPACE },
              spec: { holderIdentity: node, leaseDurationSeconds: duration, renewTime: microTime(renewTime) },
            });
            this.leases.set(node, forUpdate(created));
            return { ok: true };
          } catch (e) {
            if (httpCode(e) === 409) continue;
            throw e;
          }
        }
      }
      // A stale renewal (replayed from the offline buffer) must not move the lease backwards.
      const cur = lease.spec?.renewTime ? new Date(lease.spec.renewTime) : undefined;
      if (cur && cur.getTime() >= renewTime.getTime()) return { ok: true };
      try {
        const written = await this.api.request<V1Lease>('PUT', leasePath(node), {
          ...lease,
          spec: { ...lease.spec, holderIdentity: node, leaseDurationSeconds: duration, renewTime: microTime(renewTime) },
        });
        this.leases.set(node, forUpdate(written));
        return { ok: true };
      } catch (err) {
        this.leases.delete(node);
        if (httpCode(err) !== 409 && httpCode(err) !== 404) throw err;
      }
    }
    return { ok: false, reason: 'conflict: lease kept changing', retry: true };
  }

  private async writePodStatus(node: string, body: { namespace?: string; name?: string; uid?: string; status?: V1PodStatus }): Promise<WriteResult> {
    const { namespace, name, uid, status } = body;
    if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string' || typeof status !== 'object' || status === null) {
      return { ok: false, reason: 'pod status needs namespace, name, uid and status', retry: false };
    }
    const cached = this.podLookup(namespace, name);
    if (!cached || cached.spec?.nodeName !== node) return forbidden(`pod ${namespace}/${name} is not bound to node ${node}`);
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      // First try on the cached copy (saves a GET per status update); a 409 means it was stale: re-read.
      let pod: V1Pod;
      if (i === 0 && cached.metadata?.uid === uid && cached.metadata?.resourceVersion) {
        pod = cached;
      } else {
        try {
          pod = await this.api.request<V1Pod>('GET', podPath(namespace, name));
        } catch (err) {
          if (httpCode(err) === 404) return { ok: false, reason: `pod ${namespace}/${name} no longer exists; status dropped`, retry: false };
          throw err;
        }
      }
      if (pod.spec?.nodeName !== node) return forbidden(`pod ${namespace}/${name} is not bound to node ${node}`);
      // The pod was deleted and recreated under the same name: this status belongs to the old one.
      if (pod.metadata?.uid !== uid) return { ok: false, reason: `pod ${namespace}/${name} uid changed; status dropped`, retry: false };
      try {
        await this.api.request('PUT', `${podPath(namespace, name)}/status`, { ...forUpdate(pod), status });
        return { ok: true };
      } catch (err) {
        if (httpCode(err) !== 409 && !(httpCode(err) === 404 && i === 0)) throw err;
      }
    }
    return { ok: false, reason: 'conflict: pod kept changing', retry: true };
  }

  /** The kubelet's last step of graceful deletion: delete with grace 0, only that pod (uid precondition). */
  private async finishPodDeletion(node: string, body: { namespace?: string; name?: string; uid?: string }): Promise<WriteResult> {
    const { namespace, name, uid } = body;
    if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string') return { ok: false, reason: 'pod-terminated needs namespace, name and uid', retry: false };
    let pod: V1Pod;
    try {
      pod = await this.api.request<V1Pod>('GET', podPath(namespace, name));
    } catch (err) {
      if (httpCode(err) === 404) return { ok: true }; // already gone
      throw err;
    }
    if (pod.spec?.nodeName !== node) return forbidden(`pod ${namespace}/${name} is not bound to node ${node}`);
    if (pod.metadata?.uid !== uid) return { ok: true }; // a new pod took the name; the old one is gone
    if (!pod.metadata?.deletionTimestamp) return forbidden(`pod ${namespace}/${name} is not being deleted`);
    try {
      await this.api.request('DELETE', `${podPath(namespace, name)}?gracePeriodSeconds=0`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } });
    } catch (err) {
      if (httpCode(err) !== 404) throw err;
    }
    return { ok: true };
  }

  private async writeEvent(node: string, ev: CoreV1Event): Promise<WriteResult> {
    const io = ev.involvedObject;
    if (!io) return { ok: false, reason: 'event needs involvedObject', retry: false };
    if (io.kind === 'Node') {
      if (io.name !== node) return forbidden(`node ${node} may not record events about node ${JSON.stringify(io.name)}`);
    } else if (io.kind === 'Pod') {
      const pod = io.namespace && io.name ? this.podLookup(io.namespace, io.name) : undefined;
      if (!pod || pod.spec?.nodeName !== node) return forbidden(`pod ${io.namespace}/${io.name} is not bound to node ${node}`);
    } else {
      return forbidden(`node ${node} may not record events about ${JSON.stringify(io.kind)}`);
    }
    const namespace = io.namespace || 'default';
    const name = ev.metadata?.name;
    if (!name) return { ok: false, reason: 'event needs metadata.name', retry: false };
    const body: CoreV1Event = { ...ev, apiVersion: 'v1', kind: 'Event', metadata: { name, namespace }, source: { component: 'kedge-edge', host: node } };
    try {
      await this.api.request('POST', eventsPath(namespace), body);
      return { ok: true };
    } catch (err) {
      if (httpCode(err) !== 409) throw err;
    }
    // Aggregated event seen before: update count/lastTimestamp on the existing one.
    const cur = await this.api.request<CoreV1Event>('GET', `${eventsPath(namespace)}/${seg(name)}`);
    await this.api.request('PUT', `${eventsPath(namespace)}/${seg(name)}`, { ...cur, count: ev.count, lastTimestamp: ev.lastTimestamp, message: ev.message });
    return { ok: true };
  }
}
