/**
 * The up path: writes what an edge node reports (Node status, Lease renewals, pod statuses, events)
 * to the Kubernetes API, after node authorization: a node writes only its own Node and Lease, the
 * status of pods bound to it, and events about those (src/common/node-restriction.ts: the rules upstream's
 * NodeRestriction applies, also to the labels a node reports); of a pod's status, only what the kubelet owns
 * (src/common/pod-status.ts). Conflicts with newer cloud writes are handled
 * by re-reading and replacing only the status (the cloud keeps spec/metadata it changed meanwhile).
 */
import { LOCAL_STORAGE_PATH_ANNOTATION, validLocalStoragePath } from '../common/local-storage.js';
import type { CoreV1Event, V1Lease, V1Node, V1NodeCondition, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { seg, type KubeClient } from '../common/kube-client.js';
import type { StatusKind } from '../protocol/messages.js';
import {
  EDGE_ROLE_LABEL, forbiddenLabelsOnUpdateMessage, forbiddenNodeLabelChanges, modifiedLabelKeys, nodeEventRefusal,
} from '../common/node-restriction.js';
import { formatPeerHealth, parsePeerHealth, PEER_HEALTH_ANNOTATION } from '../common/peer-health.js';
import { mergeNodePodStatus } from '../common/pod-status.js';
import { DeviceStatusWriter, type DeviceLookup } from './device-status.js';
import { objectKey } from '../protocol/keys.js';
import type { ReportedPodStatus } from './reported-status.js';
import { NodeStatusReassertion } from './node-reassertion.js';
import { NodeWriteBatcher } from './node-write-batcher.js';

export interface WriteResult {
  ok: boolean;
  reason?: string;
  /** Transient (API unreachable, conflict storm): the edge keeps the item and retries. */
  retry?: boolean;
  /** A lease renewal accepted and held back (see LEASE_COALESCE_FRACTION), not written to the API. */
  coalesced?: boolean;
}

/**
 * Lease renewal coalescing: a renewal is written only when the renewTime this hub last wrote for the node is at
 * least 3/8 of the node monitor grace period old (and of the lease duration); a younger one is held back and
 * written when the node's session ends, so the Lease then shows the last renewal the hub received. With the
 * kubelet's 10 s renewals and a 40 s grace every other one is written: a reader (`kubectl get lease`, the node
 * lifecycle controller) sees a renewTime at most ~20 s old while the node is connected — half the grace after which
 * the node is unhealthy — instead of ~10 s. docs/design/fleet-scale.md, "Lease coalescing".
 */
export const LEASE_COALESCE_FRACTION = 0.375;

/** The coalescing window for a node monitor grace period: renewals younger than this are held back. */
export function leaseCoalesceWindowMs(gracePeriodSeconds: number): number {
  return Math.round(gracePeriodSeconds * 1000 * LEASE_COALESCE_FRACTION);
}

export interface StatusWriterOptions {
  /**
   * Renewals younger than this (and than 3/8 of their lease duration) after the last written one are held back;
   * 0 (the default) writes every renewal. `kedge server` sets leaseCoalesceWindowMs(its --node-monitor-grace-period);
   * `kedge cloud` does not coalesce: the grace that matters there is kube-controller-manager's, which it cannot see.
   */
  leaseCoalesceMs?: number;
  /**
   * Write Lease renewals, Node statuses and pod statuses in node-write batches (node-write-batcher.ts), each as
   * its node; needs an API server that serves `nodewrites.kedge.io` (`kedge server`). Off: one request each.
   */
  batchNodeWrites?: boolean;
  /** Each node-write batch request sent: its items and whether it was answered item by item. */
  onBatchSent?: (items: number, ok: boolean) => void;
  /** How long a batch gathers writes (node-write-batcher.ts BATCH_WINDOW_MS; 0: one event-loop turn). */
  batchWindowMs?: number;
  /** The outcome of each re-assertion of a connected node's conditions (node-reassertion.ts). */
  onNodeReasserted?: (node: string, result: WriteResult) => void;
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

type LeaseBody = { renewTime?: string; durationSeconds?: number };
/** Renewals waiting behind a node's Lease write in flight: the newest is written next, for all of them. */
interface LeaseQueue {
  next?: { body: LeaseBody; waiters: Array<(r: WriteResult) => void> };
}
const renewMs = (b: LeaseBody): number => (b.renewTime ? new Date(b.renewTime).getTime() || 0 : 0);

/** Looks up a pod bound to a node in the hub cache (node authorization for pod status/events). */
export type PodLookup = (namespace: string, name: string) => V1Pod | undefined;

/**
 * A Node's labels after its node's report: the current labels (the edge role added: the hub, not the node, sets it)
 * with the reported ones on top; `forbidden` lists the reported changes NodeRestriction does not let a node make.
 * A node only adds or changes labels here; nothing it reports removes one.
 */
export function labelsAfterReport(current: Record<string, string> | undefined, reported: Record<string, string> | undefined): { labels: Record<string, string>; forbidden: string[] } {
  const base = { ...(current ?? {}), [EDGE_ROLE_LABEL]: current?.[EDGE_ROLE_LABEL] ?? '' };
  const labels = { ...base, ...(reported ?? {}) };
  return { labels, forbidden: forbiddenNodeLabelChanges(labels, base) };
}

/**
 * The annotations a node writes on its own Node: its peer-health report (src/common/peer-health.ts), kept only when
 * it parses, and its local-path directory (src/common/local-storage.ts), kept only when it is an absolute normal
 * path; each removed when the node reports none (peer health turned off, or no peer decided yet: an old report must
 * not keep voting). Every other reported annotation is ignored (the cloud owns them). Undefined: nothing to change.
 */
export function annotationsAfterReport(current: Record<string, string> | undefined, reported: Record<string, string> | undefined): Record<string, string> | undefined {
  let next: Record<string, string> | undefined;
  const set = (key: string, value: string | undefined) => {
    if ((current?.[key]) === value) return;
    next ??= { ...(current ?? {}) };
    if (value === undefined) delete next[key];
    else next[key] = value;
  };
  set(PEER_HEALTH_ANNOTATION, reportedPeerHealth(current?.[PEER_HEALTH_ANNOTATION], reported?.[PEER_HEALTH_ANNOTATION]));
  const storage = reported?.[LOCAL_STORAGE_PATH_ANNOTATION];
  set(LOCAL_STORAGE_PATH_ANNOTATION, storage === undefined ? undefined : validLocalStoragePath(storage) ? storage : current?.[LOCAL_STORAGE_PATH_ANNOTATION]);
  return next;
}

/** The peer-health value to keep: the report normalized, the current one when the report does not parse, none when absent. */
function reportedPeerHealth(current: string | undefined, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value === current || value.length > MAX_PEER_HEALTH_BYTES) return current;
  const report = parsePeerHealth({ [PEER_HEALTH_ANNOTATION]: value });
  return report ? formatPeerHealth(report) : current;
}

/** A pool of a few hundred peers fits; beyond that a report is refused rather than bloating the Node. */
const MAX_PEER_HEALTH_BYTES = 64 * 1024;

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
   * serializers: this is the hub's hottest path (every node, every 10 s) — see src/common/kube-client.ts.
   */
  private readonly api: KubeClient;
  /** Last lease written per node (bounded by the number of nodes; dropped on any failure). */
  private readonly leases = new Map<string, V1Lease>();
  /** Nodes with a Lease write in flight, and the renewal to write after it (renewLease). */
  private readonly leaseQueues = new Map<string, LeaseQueue>();
  /** Per node, the newest renewal held back by coalescing (written on the session's end or by the next renewal). */
  private readonly heldLeases = new Map<string, { renewTime: string; durationSeconds: number }>();
  private readonly leaseCoalesceMs: number;
  private readonly batch?: NodeWriteBatcher;

  /** KubeEdge devices' reports (device-status.ts). */
  readonly devices: DeviceStatusWriter;
  /** Nodes' conditions re-asserted when the cloud contradicts a connected node (node-reassertion.ts). */
  readonly nodeReports: NodeStatusReassertion;

  constructor(
    client: KubeClient, private readonly podLookup: PodLookup, deviceLookup: DeviceLookup = () => undefined, private readonly reported?: ReportedPodStatus,
    opts: StatusWriterOptions = {},
  ) {
    this.leaseCoalesceMs = opts.leaseCoalesceMs ?? 0;
    this.api = client;
    if (opts.batchNodeWrites) this.batch = new NodeWriteBatcher(client, { windowMs: opts.batchWindowMs, onSent: opts.onBatchSent });
    this.devices = new DeviceStatusWriter(this.api, deviceLookup);
    this.nodeReports = new NodeStatusReassertion(
      (node, conditions) => this.reassertNodeConditions(node, conditions).catch(failure),
      opts.onNodeReasserted,
    );
  }

  async write(node: string, kind: StatusKind, body: Record<string, unknown>): Promise<WriteResult> {
    try {
      switch (kind) {
        case 'node':
          return await this.writeNode(node, body as V1Node);
        case 'lease':
          return await this.renewLease(node, body as LeaseBody);
        case 'pod':
          return await this.writePodStatus(node, body as { namespace?: string; name?: string; uid?: string; status?: V1PodStatus });
        case 'event':
          return await this.writeEvent(node, body as unknown as CoreV1Event);
        case 'pod-terminated':
          return await this.finishPodDeletion(node, body as { namespace?: string; name?: string; uid?: string });
        case 'device':
          return await this.devices.write(node, body);
      }
    } catch (err) {
      return failure(err);
    }
  }

  /** A PUT made for `node`: in a node-write batch as that node, or as a request of its own. */
  private async putFor(node: string, path: string, body: object): Promise<void> {
    if (this.batch) await this.batch.put(node, path, body);
    else await this.api.request('PUT', path, body);
  }

  private async writeNode(node: string, desired: V1Node): Promise<WriteResult> {
    if (desired.metadata?.name !== node) return forbidden(`node ${node} may not write node ${JSON.stringify(desired.metadata?.name)}`);
    const reported = desired.metadata?.labels;
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      let current: V1Node;
      try {
        current = await this.api.request<V1Node>('GET', nodePath(node));
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
        // Nodes are registered by the join (join.ts), never here: a report that arrives after the Node was deleted
        // must not bring it back (deleting the Node revokes the node; the hub ends its session).
        return { ok: false, reason: `node ${node} does not exist (deleted?); a status report does not register a node`, retry: false };
      }
      current = forUpdate(current);
      // The edge owns status; of labels, only those a kubelet may set on itself (cloud-set labels and spec are kept).
      const next = labelsAfterReport(current.metadata?.labels, reported);
      if (next.forbidden.length) return forbidden(`node ${JSON.stringify(node)} ${forbiddenLabelsOnUpdateMessage(next.forbidden)}`);
      const annotations = annotationsAfterReport(current.metadata?.annotations, desired.metadata?.annotations);
      try {
        if (modifiedLabelKeys(next.labels, current.metadata?.labels).length || annotations) {
          // A refused report changes nothing: the status is checked (dry run) before the metadata write it would follow.
          await this.api.request('PUT', `${nodePath(node)}/status?dryRun=All`, { ...current, status: desired.status });
          const metadata = { ...current.metadata, labels: next.labels, ...(annotations ? { annotations } : {}) };
          current = forUpdate(await this.api.request<V1Node>('PUT', nodePath(node), { ...current, metadata }));
        }
        this.nodeReports.reportWritten(node, desired.status);
        await this.putFor(node, `${nodePath(node)}/status`, { ...current, status: desired.status });
        return { ok: true };
      } catch (err) {
        if (httpCode(err) === 409) continue;
        throw err;
      }
    }
    return { ok: false, reason: 'conflict: node kept changing', retry: true };
  }

  /**
   * The conditions `node` last reported, written again over the ones someone else set (node-reassertion.ts). A
   * condition whose status changes gets a new lastTransitionTime, as the kubelet sets it; its heartbeat is the node's.
   */
  async reassertNodeConditions(node: string, reported: V1NodeCondition[]): Promise<WriteResult> {
    for (let i = 0; i < CONFLICT_RETRIES; i++) {
      let current: V1Node;
      try {
        current = forUpdate(await this.api.request<V1Node>('GET', nodePath(node)));
      } catch (err) {
        if (httpCode(err) === 404) return { ok: false, reason: `node ${node} does not exist`, retry: false };
        throw err;
      }
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') as unknown as Date;
      const others = (current.status?.conditions ?? []).filter((c) => !reported.some((r) => r.type === c.type));
      const own = reported.map((r) => {
        const was = current.status?.conditions?.find((c) => c.type === r.type);
        return was && was.status !== r.status ? { ...r, lastTransitionTime: now } : r;
      });
      try {
        await this.putFor(node, `${nodePath(node)}/status`, { ...current, status: { ...current.status, conditions: [...own, ...others] } });
        return { ok: true };
      } catch (err) {
        if (httpCode(err) !== 409) throw err;
      }
    }
    return { ok: false, reason: 'conflict: node kept changing', retry: true };
  }

  /**
   * The node's session ended: write the renewal coalescing held back, so the Lease shows the last one received
   * and the node lifecycle controller's grace runs from it, as without coalescing.
   */
  async sessionEnded(node: string): Promise<WriteResult> {
    this.nodeReports.sessionEnded(node);
    const held = this.heldLeases.get(node);
    if (!held) return { ok: true };
    this.heldLeases.delete(node);
    try {
      return await this.writeLease(node, held, false);
    } catch (err) {
      return failure(err);
    }
  }

  /**
   * One Lease write in flight per node. A renewal that arrives while the node's previous one is still being written
   * waits for it; of several waiting only the newest is written and all of them get its result (a superseded
   * renewal is as good as written once a newer one is). Without this, renewals of a lagging hub overlapped: both
   * writes used the one cached resourceVersion, one got 409, re-read and wrote again, and the extra GET and PUT made
   * the lag worse — at 10,000 nodes 42,688 of 228,090 Lease updates were conflicts and the rate of written renewals
   * fell to 15 a second (bench/RESULTS.md, session 10).
   */
  private renewLease(node: string, body: LeaseBody): Promise<WriteResult> {
    const queued = this.leaseQueues.get(node);
    if (queued) {
      const next = (queued.next ??= { body, waiters: [] });
      if (renewMs(body) > renewMs(next.body)) next.body = body;
      return new Promise((resolve) => next.waiters.push(resolve));
    }
    const queue: LeaseQueue = {};
    this.leaseQueues.set(node, queue);
    const first = this.writeLease(node, body).catch(failure);
    void (async () => {
      await first;
      for (let n = queue.next; n; n = queue.next) {
        queue.next = undefined;
        const r = await this.writeLease(node, n.body).catch(failure);
        // The waiters share one write: they show as coalesced in kedge_hub_status_writes_total.
        for (const w of n.waiters) w(r.ok ? { ...r, coalesced: true } : r);
      }
      this.leaseQueues.delete(node);
    })();
    return first;
  }

  private async writeLease(node: string, body: LeaseBody, coalesce = this.leaseCoalesceMs > 0): Promise<WriteResult> {
    const receivedAt = Date.now();
    const renewTime = body.renewTime ? new Date(body.renewTime) : new Date();
    if (Number.isNaN(renewTime.getTime())) return { ok: false, reason: 'invalid renewTime', retry: false };
    const duration = typeof body.durationSeconds === 'number' ? body.durationSeconds : 40;
    const last = this.leases.get(node)?.spec;
    if (coalesce && last?.renewTime && last.holderIdentity === node && last.leaseDurationSeconds === duration) {
      const age = renewTime.getTime() - new Date(last.renewTime).getTime();
      if (age <= 0) return { ok: true }; // stale (replayed from the offline buffer): never moves the lease backwards
      if (age < Math.min(this.leaseCoalesceMs, duration * 1000 * LEASE_COALESCE_FRACTION)) {
        this.heldLeases.set(node, { renewTime: renewTime.toISOString(), durationSeconds: duration });
        this.nodeReports.renewed(node, receivedAt);
        return { ok: true, coalesced: true };
      }
    }
    this.heldLeases.delete(node);
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
            this.nodeReports.renewed(node, receivedAt);
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
        // Wire form (renewTime a MicroTime string), as everything this writer sends.
        const next = { ...lease, spec: { ...lease.spec, holderIdentity: node, leaseDurationSeconds: duration, renewTime: microTime(renewTime) } } as unknown as V1Lease;
        // A batch answers only the resourceVersion: the next renewal replaces the Lease from the copy sent.
        const written = this.batch
          ? { ...next, metadata: { ...next.metadata, resourceVersion: await this.batch.put(node, leasePath(node), next) } }
          : await this.api.request<V1Lease>('PUT', leasePath(node), next);
        this.leases.set(node, forUpdate(written));
        this.nodeReports.renewed(node, receivedAt);
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
        // The edge's report replaces only what the kubelet owns; others' conditions survive and gate Ready.
        const merged = mergeNodePodStatus(pod.status, status, pod.spec?.readinessGates, () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'));
        // Recorded first: the cache may see the write before this request returns.
        this.reported?.record(objectKey('pods', namespace, name), merged);
        await this.putFor(node, `${podPath(namespace, name)}/status`, { ...forUpdate(pod), status: merged });
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

  /**
   * Events are correlated at the edge (src/common/event-correlator.ts): a repeat carries the name of the Event
   * written before and its new count. The node may record events only about itself and pods bound to it, in
   * their namespaces (the same rule the API server's NodeRestriction applies to a node's own requests).
   */
  private async writeEvent(node: string, ev: CoreV1Event): Promise<WriteResult> {
    const io = ev.involvedObject;
    if (!io) return { ok: false, reason: 'event needs involvedObject', retry: false };
    const namespace = ev.metadata?.namespace || (io.kind === 'Node' ? 'default' : io.namespace ?? '');
    const refusal = nodeEventRefusal(node, namespace, io, (ns, name) => this.podLookup(ns, name)?.spec?.nodeName);
    if (refusal) return forbidden(refusal);
    const name = ev.metadata?.name;
    if (!name) return { ok: false, reason: 'event needs metadata.name', retry: false };
    const body: CoreV1Event = { ...ev, apiVersion: 'v1', kind: 'Event', metadata: { name, namespace }, source: { component: 'kedge-edge', host: node } };
    try {
      await this.api.request('POST', eventsPath(namespace), body);
      return { ok: true };
    } catch (err) {
      if (httpCode(err) !== 409) throw err;
    }
    // A repeat of an event written before: update its count, lastTimestamp and message (as client-go's PATCH).
    const cur = await this.api.request<CoreV1Event>('GET', `${eventsPath(namespace)}/${seg(name)}`);
    const was = cur.involvedObject ?? {};
    if (was.kind !== io.kind || was.name !== io.name || (was.namespace ?? '') !== (io.namespace ?? '') || cur.source?.host !== node) {
      return forbidden(`node ${JSON.stringify(node)} may not update event ${namespace}/${name}: it is about another object or from another source`);
    }
    await this.api.request('PUT', `${eventsPath(namespace)}/${seg(name)}`, { ...forUpdate(cur), count: ev.count, lastTimestamp: ev.lastTimestamp, message: ev.message });
    return { ok: true };
  }
}
