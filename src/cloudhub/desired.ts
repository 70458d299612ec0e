/**
 * Per-node desired sets computed from the shared cache, with a change log per node numbered by one
 * hub-wide sequence. A node's view is exactly what it may read (node authorization for reads is
 * membership here): its pods, the configmaps/secrets/serviceaccounts those pods reference, its own
 * Node, and every service and endpoint slice (a node's service proxy routes all of them).
 *
 * Each view maps key → {seq of its last change, deleted?}; services and endpoint slices (the same for
 * every node) live once in a shared log instead of a copy per node. Resuming from a cursor sends the keys
 * whose seq is newer (node log and shared log merged in seq order), latest state only, so a reconnect
 * costs what changed, not what exists. Tombstones are pruned beyond a bound; a cursor older than the
 * pruned range is "compacted" and the session falls back to an inventory diff.
 *
 * Each entry also carries the datastore revision of its change (`revision`), the same number on every server sharing
 * the datastore, so an edge that moves to another server resumes from the revision it holds the cluster through
 * (docs/design/reconnect-traffic.md "A cursor every server understands").
 */
import { isDeepStrictEqual } from 'node:util';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { objectKey } from '../protocol/keys.js';
// One definition for the hub's node authorization and the edge's local API.
import { podReferences } from '../protocol/pod-references.js';
export { podReferences };
import type { CachedObject, SharedCache } from './cache.js';
import { EDGE_ROLE_LABEL } from '../common/node-restriction.js';
import { nodeTenant, TENANT_LABEL, TENANTS_RESOURCE, type TenantObject } from '../common/tenancy.js';
import { KUBELET_POD_CONDITIONS } from '../common/pod-status.js';
import { DEVICE_MODEL_RESOURCE, DEVICE_RESOURCE, deviceModelName, type Device } from '../protocol/devices.js';
import type { ReportedPodStatus } from './reported-status.js';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { NODEPOOL_LABEL } from '../common/node-restriction.js';
import { endpointsForNode, isScopedSlice, ZONE_LABEL } from './endpoint-filter.js';
import { NETPOL_PREFIX, NetpolFeed, variantVersion } from './netpol-feed.js';
import { NETWORK_POLICY_RESOURCE } from '../protocol/network-policy.js';

export interface ViewEntry {
  seq: number;
  /**
   * Datastore revision of this change: the revision of the event that caused it, or of the object's version when that
   * is newer (a key that joins the view through an older event, with content another informer already delivered). NaN
   * for what the hub derives itself (PodTokens differ per server): always re-sent to an edge resuming by revision.
   */
  revision: number;
  deleted: boolean;
  /** Shared by all nodes (services, endpoint slices) rather than derived from this node's pods. */
  global: boolean;
  /**
   * resourceVersion of the version this entry last shipped. Status-only updates of a node's own pods and Node
   * are not shipped, so an edge may hold this older version: an inventory diff counts it as current.
   */
  rv?: string;
  /**
   * resourceVersion of the version this entry shipped before (undefined when the key was absent or deleted):
   * the base a `patch` message may build on (deltas.ts). The edge verifies it and reads the object otherwise.
   */
  prevRv?: string;
}

export const GLOBAL_RESOURCES = ['services', 'endpointslices.discovery.k8s.io'] as const;
const DEVICE_PREFIX = `/registry/${DEVICE_RESOURCE}/`;
/** Objects each hub derives itself (PodTokens: pod-tokens.ts), not datastore objects: no revision names them. */
const DERIVED_PREFIX = '/registry/podtokens.kedge.io/';
export { EDGE_ROLE_LABEL } from '../common/node-restriction.js';

/**
 * Keys with the seq of their last change, iterable in seq order from any point: the Map keeps insertion
 * order (a changed key is moved to the end) and an append-only log of (seq, key) lets `after(seq)` start
 * with a binary search instead of a scan. Tombstones are bounded; pruning one advances `compactedSeq`.
 */
export class ChangeLog {
  readonly entries = new Map<string, ViewEntry>();
  /** Cursors below this seq can no longer be resumed from. */
  compactedSeq = 0;
  /**
   * Revision cursors below this cannot be resumed from: this log knows no deletions before it (it started then, a
   * relist replaced its source, or tombstones up to it were pruned). Infinity until the hub's cache has synced.
   */
  compactedRevision = Number.POSITIVE_INFINITY;
  /** Highest finite revision touched (what a pruned derived tombstone is counted at). */
  private highestRevision = 0;
  private log: Array<{ seq: number; key: string }> = [];
  private tombstones = 0;

  constructor(private readonly maxTombstones: number) {}

  canRead(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && !e.deleted;
  }

  touch(key: string, seq: number, revision: number, deleted: boolean, global: boolean, rv?: string): void {
    const prev = this.entries.get(key);
    if (prev?.deleted) this.tombstones--;
    this.entries.delete(key);
    if (revision > this.highestRevision) this.highestRevision = revision;
    const entry: ViewEntry = rv === undefined ? { seq, revision, deleted, global } : { seq, revision, deleted, global, rv };
    if (prev && !prev.deleted && prev.rv !== undefined && !deleted) entry.prevRv = prev.rv;
    this.entries.set(key, entry);
    this.log.push({ seq, key });
    if (deleted) {
      this.tombstones++;
      this.pruneTombstones();
    }
    // Superseded log records are skipped when read; rebuild once they dominate.
    if (this.log.length > 2 * this.entries.size + 64) this.log = [...this.entries].map(([k, e]) => ({ seq: e.seq, key: k }));
  }

  private pruneTombstones(): void {
    if (this.tombstones <= this.maxTombstones) return;
    for (const [k, e] of this.entries) {
      if (this.tombstones <= this.maxTombstones / 2) break;
      if (!e.deleted) continue;
      this.entries.delete(k);
      this.tombstones--;
      this.compactedSeq = Math.max(this.compactedSeq, e.seq);
      const at = Number.isNaN(e.revision) ? this.highestRevision : e.revision;
      // Before the baseline (Infinity) nothing resumes anyway; the baseline is above every revision touched until then.
      if (at > this.compactedRevision) this.compactedRevision = at;
    }
  }

  /** Current entries changed after `seq`, in seq order. */
  *after(seq: number): Generator<[string, ViewEntry]> {
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.log.length; i++) {
      const rec = this.log[i]!;
      const e = this.entries.get(rec.key);
      if (e && e.seq === rec.seq) yield [rec.key, e];
    }
  }

  /** Live (non-deleted) keys. */
  *liveKeys(): Iterable<string> {
    for (const [k, e] of this.entries) if (!e.deleted) yield k;
  }
}

/**
 * One node's entries that differ by node but are not derived from its pods: EndpointSlices filtered for it
 * (endpoint-filter.ts) and the Nodes of its pool's other members (its pod routes and peers). `sig` is what each
 * entry shipped (the filtered content), so a change elsewhere that leaves this node's version alike sends nothing.
 */
export class ScopedLog extends ChangeLog {
  readonly sig = new Map<string, string>();
}

const SLICE_PREFIX = '/registry/endpointslices.discovery.k8s.io/';
const CLAIM_PREFIX = '/registry/persistentvolumeclaims/';

/*
 * A filtered slice (and a NetworkPolicy with resolved peers) is shipped with resourceVersion variantVersion(): the
 * cloud's plus a tag of its content for that node. Two nodes (or one node before and after its pool changed) may hold
 * different contents of one cloud version; the edge skips an upsert of a version it holds and an inventory diff counts
 * equal versions as current, so each content needs a version of its own. resourceVersions are opaque to clients.
 */
const NODE_PREFIX = '/registry/nodes/';

/** One node's pod-derived entries (its pods, what they reference, its Node). */
export class NodeView extends ChangeLog {
  /** The referenced (configmap/secret/SA) keys of the last recompute. */
  refs = new Set<string>();

  /** Filtered slices and pool peers (see ScopedLog). */
  readonly scoped: ScopedLog;
  /** The tenant the node belonged to when its shared entries were last decided (see DesiredSets.retenant). */
  tenant: string | undefined;

  constructor(readonly node: string, maxTombstones: number) {
    super(maxTombstones);
    this.scoped = new ScopedLog(maxTombstones);
  }
}

/** Merge two seq-ordered streams into one seq-ordered stream. */
export function* mergeBySeq(a: Iterator<[string, ViewEntry]>, b: Iterator<[string, ViewEntry]>): Generator<[string, ViewEntry]> {
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value[1].seq <= y.value[1].seq)) {
      yield x.value as [string, ViewEntry];
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}

/**
 * An object as shipped to edges: without `metadata.managedFields` (server-side apply bookkeeping, often a third
 * of an object's JSON; the edge never applies, and its read-only local API serves objects without it). The
 * cache's object is not touched (the status writer and pod tokens read it whole).
 */
export function shapeForEdge(obj: CachedObject): CachedObject {
  if (!('managedFields' in obj.metadata)) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata as CachedObject['metadata'] & { managedFields?: unknown };
  return { ...obj, metadata } as CachedObject;
}

/**
 * True when a Node or Pod changed only in its status (and the bookkeeping that comes with any write). The edge
 * is the author of its Node's and its pods' status (it reports them), so echoing each report back costs downlink
 * for nothing (measured: 10,000 pods starting on 1,000 nodes sent ~14 KB of pod echoes per pod); labels,
 * annotations, taints, spec, deletion and (for a pod) the conditions others set still reach the edge. The edge keeps what it reported in its own copy
 * (status-reporter.ts), so its local API and a restarted pod manager see the current status.
 */
export function statusOnlyChange(old: CachedObject, now: CachedObject, pod = false): boolean {
  const strip = (o: CachedObject) => {
    const { resourceVersion: _rv, managedFields: _mf, ...metadata } = o.metadata as CachedObject['metadata'] & { managedFields?: unknown };
    const { status, ...rest } = o as CachedObject & { status?: { conditions?: Array<{ type: string }> } };
    // A pod's conditions set by others (readiness gates, controllers) are news for the edge: Ready counts them.
    const others = pod ? (status?.conditions ?? []).filter((c) => !KUBELET_POD_CONDITIONS.includes(c.type)) : undefined;
    return { ...rest, metadata, others };
  };
  return old.metadata.uid === now.metadata.uid && isDeepStrictEqual(strip(old), strip(now));
}

export interface DesiredSetsOptions {
  maxTombstonesPerNode?: number;
  /** What nodes last reported of their pods: a status change contradicting it is sent to the node. */
  reported?: ReportedPodStatus;
  maxGlobalTombstones?: number;
}

export class DesiredSets {
  private seq = 0;
  private readonly views = new Map<string, NodeView>();
  /** node → its pod keys (from spec.nodeName). */
  private readonly podsByNode = new Map<string, Set<string>>();
  /** node → the keys of the KubeEdge Devices bound to it (spec.nodeName); their DeviceModels are references. */
  private readonly devicesByNode = new Map<string, Set<string>>();
  /**
   * configmap/secret/SA/pod-token key → the node, or nodes, whose pods reference it. A lone node is held as its
   * name (every pod's own token reference has one: a Set per pod was ~300 B), and a key no pod references any
   * more is forgotten (pod-token keys are unique per pod: they piled up as pods came and went).
   */
  private readonly refNodes = new Map<string, string | Set<string>>();
  private readonly changeListeners: Array<(node: string) => void> = [];
  /** Cached object version → its shipped shape, computed once per version however many nodes receive it. */
  private readonly shaped = new WeakMap<CachedObject, CachedObject>();
  private readonly maxTombstones: number;
  /** Services and endpoint slices: one shared change log for every node instead of a copy per node. */
  readonly global: ChangeLog;

  private readonly reported?: ReportedPodStatus;
  /** EndpointSlices sent per node, filtered (not in the shared log). */
  private readonly scopedSlices = new Set<string>();
  /** Service key → its slices' keys (a Service's annotation decides whether they are scoped). */
  private readonly slicesOfService = new Map<string, Set<string>>();
  /** Node → its NodePool (label), for every Node; pool → member nodes. */
  private readonly poolOfNode = new Map<string, string>();
  private readonly poolMembers = new Map<string, Set<string>>();
  /** Cached slice version → its filtered versions by content. */
  private readonly filtered = new WeakMap<CachedObject, Map<string, CachedObject>>();
  /** The Tenants by name: with a node's labels they decide its tenant (common/tenancy.ts, as the API server does). */
  private readonly tenants = new Map<string, TenantObject>();
  /** Revision of the cache event being handled (NaN outside one, or for what the hub derives itself). */
  private trigger = Number.NaN;
  /** Set once the cache has synced: the revision every log is complete from (unless compacted later). */
  private baseline: number | undefined;
  /** NetworkPolicies with resolved peers, sent per node as scoped entries (netpol-feed.ts). */
  private readonly netpol: NetpolFeed;

  constructor(private readonly cache: SharedCache, opts: DesiredSetsOptions = {}) {
    this.maxTombstones = opts.maxTombstonesPerNode ?? 1000;
    this.reported = opts.reported;
    this.global = new ChangeLog(opts.maxGlobalTombstones ?? 10_000);
    this.netpol = new NetpolFeed(cache);
    cache.onChange((resource, type, key, obj, old, revision) => {
      this.trigger = revision ?? Number.NaN;
      try {
        this.onCacheChange(resource, type, key, obj, old);
      } finally {
        this.trigger = Number.NaN;
      }
    });
    // Logs start knowing nothing of deletions before the cache's lists; a relist (410) says nothing of deletions in
    // the gap either. Both make older revision cursors unresumable here (the edge then sends its inventory).
    cache.onProgress?.(() => {
      if (this.baseline !== undefined || !(this.cache.revision() > 0)) return;
      this.baseline = this.cache.highestRevision();
      this.compactAllBelow(this.baseline);
    });
    cache.onRelist?.((revision) => this.compactAllBelow(revision));
  }

  private compactAllBelow(revision: number): void {
    for (const log of [this.global, ...[...this.views.values()].flatMap((v) => [v, v.scoped])]) {
      if (log.compactedRevision === Number.POSITIVE_INFINITY || log.compactedRevision < revision) log.compactedRevision = revision;
    }
  }

  /**
   * Whether a node may resume from a revision cursor: this hub's logs hold every change of its view after `revision`
   * (NaN-revision entries, derived by this hub, are re-sent anyway). The cache may still be behind `revision`: what it
   * delivers later up to it, the edge holds already (the session skips it).
   */
  resumableFromRevision(node: string, revision: number): boolean {
    if (this.baseline === undefined || !Number.isSafeInteger(revision)) return false;
    const v = this.ensureView(node);
    return revision >= Math.max(v.compactedRevision, v.scoped.compactedRevision, this.global.compactedRevision);
  }

  /** The revision through which the cache holds the cluster (0: not yet known). */
  revision(): number {
    const r = this.cache.revision?.() ?? 0;
    return Number.isFinite(r) ? r : 0;
  }

  currentSeq(): number {
    return this.seq;
  }

  view(node: string): NodeView | undefined {
    return this.views.get(node);
  }

  /** Node authorization for reads: the node's own entries or the shared ones (of its tenant, docs/design/tenancy.md). */
  canRead(node: string, key: string): boolean {
    const v = this.views.get(node);
    const own = v?.entries.get(key);
    return (own !== undefined && !own.deleted && !own.global) || (v?.scoped.canRead(key) ?? false) || (this.global.canRead(key) && this.sharedFor(this.tenantOfNode(node), key));
  }

  /** Everything a node should hold that changed after `seq`, in seq order. */
  changesAfter(node: string, seq: number): Generator<[string, ViewEntry]> {
    const v = this.ensureView(node);
    const tenant = this.tenantOfNode(node);
    const global = this.global.after(seq);
    const shared = this.notSuperseded(tenant === undefined ? global : this.ofTenant(global, tenant), v);
    return mergeBySeq(mergeBySeq(this.notSuperseded(v.after(seq), this.global), v.scoped.after(seq)), shared);
  }

  /**
   * A shared key may have an entry in both logs (the node's log re-announces it when the node changed tenant):
   * only the newer of the two is passed on, so a key is sent once.
   */
  private *notSuperseded(entries: Iterable<[string, ViewEntry]>, other: ChangeLog): Generator<[string, ViewEntry]> {
    for (const e of entries) {
      if (!e[1].global) { yield e; continue; }
      const o = other.entries.get(e[0]);
      if (o === undefined || !o.global || o.seq < e[1].seq) yield e;
    }
  }

  /**
   * Tenancy: a tenant's node receives no service or endpoint slice of another tenant. The node's tenant is the API
   * server's answer (its label, else a Tenant listing it in spec.nodes or spec.nodePools). Objects in a tenant's
   * namespaces carry the tenant label (the API server's admission puts it there), so the shared log stays one log
   * and is filtered as it is read. A deleted key is passed on (the edge ignores a delete of what it never had).
   */
  private tenantOfNode(node: string): string | undefined {
    const obj = this.cache.get(objectKey('nodes', undefined, node));
    return obj ? nodeTenant(obj as { metadata?: { name?: string; labels?: Record<string, string> } }, this.tenants.values()) : undefined;
  }

  /**
   * A node's tenant may change (its label or pool, a Tenant's spec): the shared keys it now may or may no longer
   * read are re-announced in its own log (a delete for those it lost), so a live session and a resumed cursor
   * both catch up without a resync. Its filtered slices follow the same rule (recomputeScoped).
   */
  private retenant(view: NodeView): void {
    const now = this.tenantOfNode(view.node);
    const was = view.tenant;
    if (now === was) return;
    view.tenant = now;
    let changed = false;
    for (const key of this.global.liveKeys()) {
      const visible = this.sharedFor(now, key);
      if (visible === this.sharedFor(was, key)) continue;
      const current = visible ? this.cache.get(key) : undefined;
      view.touch(key, ++this.seq, this.entryRevision(key, current), !visible, true, current?.metadata.resourceVersion);
      changed = true;
    }
    this.recomputeScoped(view.node);
    if (changed) this.notify(view.node);
  }

  private sharedFor(tenant: string | undefined, key: string): boolean {
    if (tenant === undefined) return true;
    const owner = (this.cache.get(key)?.metadata as { labels?: Record<string, string> } | undefined)?.labels?.[TENANT_LABEL];
    return owner === undefined || owner === tenant;
  }

  private *ofTenant(entries: Iterable<[string, ViewEntry]>, tenant: string): Generator<[string, ViewEntry]> {
    for (const e of entries) if (e[1].deleted || this.sharedFor(tenant, e[0])) yield e;
  }

  /** Cursors at or below this seq cannot be resumed for this node. */
  compactedSeq(node: string): number {
    const v = this.ensureView(node);
    return Math.max(v.compactedSeq, v.scoped.compactedSeq, this.global.compactedSeq);
  }

  /** Every key the node should hold now. */
  *liveKeys(node: string): Iterable<string> {
    const v = this.ensureView(node);
    for (const [k, e] of v.entries) if (!e.deleted && !e.global) yield k;
    yield* v.scoped.liveKeys();
    const tenant = this.tenantOfNode(node);
    for (const k of this.global.liveKeys()) if (this.sharedFor(tenant, k)) yield k;
  }

  /** Whether `node` receives its own filtered version of `key` (then no shared merge patch applies to it). */
  isFilteredFor(node: string, key: string): boolean {
    return (this.scopedSlices.has(key) || key.startsWith(NETPOL_PREFIX)) && (this.views.get(node)?.scoped.canRead(key) ?? false);
  }

  /**
   * The current object at `key` as edges receive it (see shapeForEdge), or undefined; with `node`, a scoped
   * EndpointSlice comes with only the endpoints that node should use.
   */
  objectForEdge(key: string, node?: string): CachedObject | undefined {
    if (key.startsWith(NETPOL_PREFIX)) return this.netpol.objectFor(key);
    const obj = this.cache.get(key);
    if (!obj) return undefined;
    if (node !== undefined && this.isFilteredFor(node, key)) return this.filteredSlice(node, key, obj);
    let out = this.shaped.get(obj);
    if (out) return out;
    out = shapeForEdge(obj);
    // The cache already drops managedFields (lean informers): a copy is remembered only when one was made.
    if (out !== obj) this.shaped.set(obj, out);
    return out;
  }

  viewCount(): number {
    return this.views.size;
  }

  /** Called with a node name whenever its view gained entries (sessions pump then). */
  onNodeChanged(l: (node: string) => void): void {
    this.changeListeners.push(l);
  }

  /** The view of a node, created (and filled from the cache) on first use. */
  ensureView(node: string): NodeView {
    let v = this.views.get(node);
    if (!v) {
      v = new NodeView(node, this.maxTombstones);
      v.tenant = this.tenantOfNode(node);
      // Built from the cache as it is now: no deletions before are known.
      if (this.baseline !== undefined) v.compactedRevision = v.scoped.compactedRevision = Math.max(this.cache.highestRevision(), Number.isNaN(this.trigger) ? 0 : this.trigger);
      this.views.set(node, v);
      this.recompute(node);
      this.recomputeScoped(node);
    }
    return v;
  }

  private place(node: string): { name: string; pool?: string; zone?: string } {
    const n = this.cache.get(objectKey('nodes', undefined, node)) as V1Node | undefined;
    const pool = this.poolOfNode.get(node);
    const zone = n?.metadata?.labels?.[ZONE_LABEL];
    return { name: node, ...(pool !== undefined ? { pool } : {}), ...(zone !== undefined ? { zone } : {}) };
  }

  private serviceOf(slice: CachedObject): V1Service | undefined {
    const name = (slice.metadata as { labels?: Record<string, string> }).labels?.['kubernetes.io/service-name'];
    return name ? (this.cache.get(objectKey('services', slice.metadata.namespace, name)) as V1Service | undefined) : undefined;
  }

  private filteredSlice(node: string, key: string, obj: CachedObject): CachedObject {
    const sig = this.views.get(node)?.scoped.sig.get(key) ?? '';
    let byContent = this.filtered.get(obj);
    if (!byContent) this.filtered.set(obj, (byContent = new Map()));
    let out = byContent.get(sig);
    if (!out) {
      const kept = endpointsForNode(this.serviceOf(obj), obj as unknown as V1EndpointSlice, this.place(node), (n) => this.poolOfNode.get(n));
      const shaped = shapeForEdge(obj);
      out = { ...shaped, metadata: { ...shaped.metadata, resourceVersion: variantVersion(obj.metadata.resourceVersion, sig) }, endpoints: kept } as CachedObject;
      byContent.set(sig, out);
    }
    return out;
  }

  /** What `node` should hold of a scoped key (its content signature), or undefined when nothing. */
  private scopedWant(node: string, key: string): string | undefined {
    if (key.startsWith(NETPOL_PREFIX)) return this.netpol.want(node, key);
    const obj = this.cache.get(key);
    if (!obj) return undefined;
    if (key.startsWith(NODE_PREFIX)) {
      const peer = obj.metadata.name;
      const pool = this.poolOfNode.get(node);
      if (peer === node || pool === undefined || this.poolOfNode.get(peer) !== pool) return undefined;
      const n = obj as unknown as V1Node;
      return JSON.stringify([n.metadata?.uid, n.metadata?.labels, n.metadata?.annotations, n.spec, n.status?.addresses]);
    }
    if (!this.scopedSlices.has(key) || !this.sharedFor(this.tenantOfNode(node), key)) return undefined;
    const slice = obj as unknown as V1EndpointSlice;
    const kept = endpointsForNode(this.serviceOf(obj), slice, this.place(node), (n) => this.poolOfNode.get(n));
    if (!kept.length) return undefined;
    return JSON.stringify([slice.metadata?.uid, slice.metadata?.labels, slice.addressType, slice.ports, kept]);
  }

  /** Bring one scoped key of one node in line (sent only when its content for that node changed). */
  private applyScoped(node: string, key: string): void {
    const view = this.views.get(node);
    if (!view) return;
    const log = view.scoped;
    const want = this.scopedWant(node, key);
    const live = log.canRead(key);
    if (want === undefined) {
      if (!live) return;
      log.touch(key, ++this.seq, this.entryRevision(key, undefined), true, false);
      log.sig.delete(key);
    } else {
      if (live && log.sig.get(key) === want) return;
      const current = this.cache.get(key);
      const rv = current?.metadata.resourceVersion;
      log.touch(key, ++this.seq, this.entryRevision(key, current), false, false, key.startsWith(SLICE_PREFIX) || key.startsWith(NETPOL_PREFIX) ? variantVersion(rv, want) : rv);
      log.sig.set(key, want);
    }
    this.notify(node);
  }

  /** Every scoped key of a node (its pool or zone changed, or its view is new). */
  private recomputeScoped(node: string): void {
    const view = this.views.get(node);
    if (!view) return;
    const keys = new Set<string>([...this.scopedSlices, ...view.scoped.liveKeys()]);
    const pool = this.poolOfNode.get(node);
    for (const m of pool === undefined ? [] : this.poolMembers.get(pool) ?? []) keys.add(objectKey('nodes', undefined, m));
    for (const k of this.netpol.policyKeysFor(node)) keys.add(k);
    for (const k of keys) this.applyScoped(node, k);
  }

  /** A slice changed, or its Service did: shared when unscoped, else per node. */
  private onSliceChange(key: string, deleted: boolean, event?: CachedObject): void {
    const obj = deleted ? undefined : this.cache.get(key);
    if (event) {
      const name = (event.metadata as { labels?: Record<string, string> }).labels?.['kubernetes.io/service-name'];
      if (name) {
        const svcKey = objectKey('services', event.metadata.namespace, name);
        let set = this.slicesOfService.get(svcKey);
        if (!deleted) {
          if (!set) this.slicesOfService.set(svcKey, (set = new Set()));
          set.add(key);
        } else if (set) {
          set.delete(key);
          if (!set.size) this.slicesOfService.delete(svcKey);
        }
      }
    }
    const scoped = obj !== undefined && isScopedSlice(this.serviceOf(obj), obj as unknown as V1EndpointSlice);
    const wasScoped = this.scopedSlices.has(key);
    if (scoped) {
      // Leaving the shared log first: its tombstone then precedes (in seq) the per-node versions.
      if (this.global.canRead(key)) this.global.touch(key, ++this.seq, this.entryRevision(key, undefined), true, true);
      this.scopedSlices.add(key);
      for (const n of this.views.keys()) this.applyScoped(n, key);
      return;
    }
    if (wasScoped) {
      this.scopedSlices.delete(key);
      for (const n of this.views.keys()) this.applyScoped(n, key);
    }
    if (deleted && !this.global.entries.has(key)) return;
    this.global.touch(key, ++this.seq, this.entryRevision(key, obj), deleted, true, deleted ? undefined : obj?.metadata.resourceVersion);
    for (const n of this.views.keys()) this.notify(n);
  }

  /** Node labels changed: keep the pool index, and recompute who sees whom. */
  private onNodeForScopes(type: string, obj: CachedObject, old: CachedObject | undefined): void {
    const name = obj.metadata.name;
    const before = this.poolOfNode.get(name);
    const now = type === 'delete' ? undefined : (obj.metadata as { labels?: Record<string, string> }).labels?.[NODEPOOL_LABEL];
    if (before !== now) {
      if (before !== undefined) this.poolMembers.get(before)?.delete(name);
      if (now !== undefined) {
        this.poolOfNode.set(name, now);
        let m = this.poolMembers.get(now);
        if (!m) this.poolMembers.set(now, (m = new Set()));
        m.add(name);
      } else this.poolOfNode.delete(name);
      // Pool-filtered slices change for both pools' members; peers come and go.
      for (const p of [before, now]) for (const m of p === undefined ? [] : [...(this.poolMembers.get(p) ?? [])]) this.recomputeScoped(m);
      this.recomputeScoped(name);
      return;
    }
    const zoneChanged = (old?.metadata as { labels?: Record<string, string> } | undefined)?.labels?.[ZONE_LABEL] !== (obj.metadata as { labels?: Record<string, string> }).labels?.[ZONE_LABEL];
    if (zoneChanged) this.recomputeScoped(name);
    if (now !== undefined) for (const m of this.poolMembers.get(now) ?? []) if (m !== name) this.applyScoped(m, objectKey('nodes', undefined, name));
  }

  private notify(node: string): void {
    for (const l of this.changeListeners) l(node);
  }

  /**
   * A pod or a KubeEdge Device (objects bound to a node by `spec.nodeName`) changed: keep the node → keys index and
   * recompute the old and the new node (an object moved to another node leaves the old one). `echo` says an update on
   * the same node is only the echo of what the edge reported (not news for it).
   */
  private onBoundObjectChange(
    index: Map<string, Set<string>>, type: string, key: string, obj: CachedObject, old: CachedObject | undefined,
    echo: (old: CachedObject, now: CachedObject) => boolean,
  ): void {
    const nodeOf = (o: CachedObject | undefined) => (o as { spec?: { nodeName?: string } } | undefined)?.spec?.nodeName;
    const oldNode = nodeOf(old);
    const newNode = type === 'delete' ? undefined : nodeOf(obj);
    if (type !== 'delete' && old && oldNode === newNode && echo(old, obj)) return;
    if (oldNode && oldNode !== newNode) index.get(oldNode)?.delete(key);
    if (newNode) {
      let s = index.get(newNode);
      if (!s) index.set(newNode, (s = new Set()));
      s.add(key);
    }
    for (const n of new Set([oldNode, newNode])) if (n && this.views.has(n)) this.recompute(n, key);
  }

  private onCacheChange(resource: string, type: string, key: string, obj: CachedObject, old: CachedObject | undefined): void {
    if (resource === 'pods') {
      if (type === 'delete') this.reported?.forget(key);
      // Before the echo filter below: a pod's IP arrives in the status its node reports, and other nodes' rules need it.
      this.onPodForPolicies(key, obj, old, type === 'delete');
      // The echo of a node's own report stays in the cloud; a status someone else set that contradicts the report
      // (upstream's node lifecycle: Ready=False) goes to the node, which then reports its truth again.
      this.onBoundObjectChange(this.podsByNode, type, key, obj, old,
        (was, now) => statusOnlyChange(was, now, true) && !this.reported?.contradicted(key, (was as V1Pod).status, (now as V1Pod).status));
      return;
    }
    if (resource === 'nodes') {
      this.onNodeForScopes(type, obj, old);
      const name = obj.metadata.name;
      const isEdge = type !== 'delete' && obj.metadata && (obj.metadata as { labels?: Record<string, string> }).labels?.[EDGE_ROLE_LABEL] !== undefined;
      if (isEdge && !this.views.has(name)) this.ensureView(name);
      // A status-only update keeps the node's entry (and seq) as is: the edge holds an older resourceVersion
      // of its Node, which an inventory diff (hub restart, compacted cursor) sends once; see reconnect-traffic.md.
      else if (this.views.has(name) && !(type !== 'delete' && old && statusOnlyChange(old, obj))) this.recompute(name, key);
      const view = this.views.get(name);
      if (view) this.retenant(view);
      return;
    }
    if (resource === TENANTS_RESOURCE) {
      if (type === 'delete') this.tenants.delete(obj.metadata.name);
      else this.tenants.set(obj.metadata.name, obj as TenantObject);
      for (const view of this.views.values()) this.retenant(view);
      return;
    }
    if (resource === DEVICE_RESOURCE) {
      // The hub writes a device's state into its status: the edge, which reported it, needs no echo.
      this.onBoundObjectChange(this.devicesByNode, type, key, obj, old, (was, now) => statusOnlyChange(was, now));
      return;
    }
    if (resource === 'endpointslices.discovery.k8s.io') {
      this.onSliceChange(key, type === 'delete', obj);
      return;
    }
    if (resource === NETWORK_POLICY_RESOURCE) {
      const ns = this.netpol.onPolicy(key, obj, type === 'delete');
      if (ns !== undefined) for (const n of this.netpol.nodesIn(ns)) this.applyScoped(n, key);
      return;
    }
    if (resource === 'namespaces') {
      for (const k of this.netpol.onNamespace(obj, old, type === 'delete')) this.policyChanged(k);
      return;
    }
    if (resource === 'services') {
      this.global.touch(key, ++this.seq, this.entryRevision(key, type === 'delete' ? undefined : obj), type === 'delete', true, type === 'delete' ? undefined : obj.metadata.resourceVersion);
      for (const n of this.views.keys()) this.notify(n);
      // Its annotation or traffic distribution decides how its slices are sent.
      for (const s of this.slicesOfServiceKey(key)) this.onSliceChange(s, !this.cache.get(s));
      return;
    }
    if ((GLOBAL_RESOURCES as readonly string[]).includes(resource)) {
      this.global.touch(key, ++this.seq, this.entryRevision(key, type === 'delete' ? undefined : obj), type === 'delete', true, type === 'delete' ? undefined : obj.metadata.resourceVersion);
      for (const n of this.views.keys()) this.notify(n);
      return;
    }
    // configmaps, secrets, serviceaccounts: only the nodes whose pods reference them; device models: only the nodes
    // whose devices use them.
    for (const n of this.nodesReferencing(key)) if (this.views.has(n)) this.recompute(n, key);
  }

  private onPodForPolicies(key: string, obj: CachedObject, old: CachedObject | undefined, deleted: boolean): void {
    const { flips, policies } = this.netpol.onPod(key, obj, old, deleted);
    for (const [node, ns] of flips) for (const k of this.netpol.policiesIn(ns)) this.applyScoped(node, k);
    for (const k of policies) this.policyChanged(k);
  }

  /** A policy's resolution changed: the nodes holding its namespace's policies get the new version. */
  private policyChanged(key: string): void {
    const ns = key.slice(NETPOL_PREFIX.length).split('/')[0]!;
    for (const n of this.netpol.nodesIn(ns)) this.applyScoped(n, key);
  }

  private slicesOfServiceKey(serviceKey: string): string[] {
    return [...(this.slicesOfService.get(serviceKey) ?? [])];
  }

  /**
   * The revision an entry changes at: the triggering event's, or the object's own version when that is newer (see
   * ViewEntry.revision). Outside a cache event (a view built for a hello), the newest revision the cache delivered.
   */
  private entryRevision(key: string, obj: CachedObject | undefined): number {
    if (key.startsWith(DERIVED_PREFIX)) return Number.NaN;
    const at = Number.isNaN(this.trigger) ? this.cache.highestRevision?.() ?? Number.NaN : this.trigger;
    const own = Number(obj?.metadata.resourceVersion);
    return Number.isSafeInteger(own) && own > at ? own : at;
  }

  /** Nodes whose pods reference `ref` (a copy: recomputing them edits the index). */
  private nodesReferencing(ref: string): string[] {
    const cur = this.refNodes.get(ref);
    return cur === undefined ? [] : typeof cur === 'string' ? [cur] : [...cur];
  }

  private addReference(ref: string, node: string): void {
    const cur = this.refNodes.get(ref);
    if (cur === undefined) this.refNodes.set(ref, node);
    else if (typeof cur === 'string') { if (cur !== node) this.refNodes.set(ref, new Set([cur, node])); }
    else cur.add(node);
  }

  private dropReference(ref: string, node: string): void {
    const cur = this.refNodes.get(ref);
    if (cur === undefined) return;
    if (typeof cur === 'string') {
      if (cur === node) this.refNodes.delete(ref);
      return;
    }
    cur.delete(node);
    if (cur.size <= 1) {
      const [last] = cur;
      if (last === undefined) this.refNodes.delete(ref);
      else this.refNodes.set(ref, last);
    }
  }

  /** References indexed (ref keys with at least one referencing node): for tests and memory accounting. */
  referenceCount(): number {
    return this.refNodes.size;
  }

  /**
   * Recompute a node's pod-derived entries. `changedKey` is the key whose object changed (its entry is
   * bumped even when membership did not change).
   */
  recompute(node: string, changedKey?: string): void {
    const view = this.views.get(node);
    if (!view) return;
    const want = new Set<string>();
    const nodeKey = objectKey('nodes', undefined, node);
    if (this.cache.get(nodeKey)) want.add(nodeKey);
    const refs = new Set<string>();
    for (const podKey of this.podsByNode.get(node) ?? []) {
      const pod = this.cache.get(podKey) as V1Pod | undefined;
      if (!pod) continue;
      want.add(podKey);
      for (const r of podReferences(pod)) {
        refs.add(r);
        const referenced = this.cache.get(r);
        if (referenced) want.add(r);
        // A bound claim's PersistentVolume goes with it (the node mounts the volume's path).
        const volumeName = r.startsWith(CLAIM_PREFIX) ? (referenced as V1PersistentVolumeClaim | undefined)?.spec?.volumeName : undefined;
        if (volumeName) {
          const pvKey = objectKey('persistentvolumes', undefined, volumeName);
          refs.add(pvKey);
          if (this.cache.get(pvKey)) want.add(pvKey);
        }
      }
    }
    for (const deviceKey of this.devicesByNode.get(node) ?? []) {
      const device = this.cache.get(deviceKey) as unknown as Device | undefined;
      if (!device) continue;
      want.add(deviceKey);
      const model = deviceModelName(device);
      if (!model) continue;
      const modelKey = objectKey(DEVICE_MODEL_RESOURCE, device.metadata.namespace, model);
      refs.add(modelKey);
      if (this.cache.get(modelKey)) want.add(modelKey);
    }
    // Maintain the reverse index (ref → nodes) so a configmap change finds its nodes without a scan.
    for (const r of view.refs) if (!refs.has(r)) this.dropReference(r, node);
    for (const r of refs) this.addReference(r, node);
    view.refs = refs;
    let changed = false;
    // References first: within one recompute the edge then receives a pod's configmaps/secrets before
    // the pod, and a device's model before the device (across resources there is no order: a configmap may still
    // arrive after its pod).
    const rank = (k: string) => (k.startsWith('/registry/pods/') ? 2 : k.startsWith(DEVICE_PREFIX) ? 1 : 0);
    const ordered = [...want].sort((x, y) => rank(x) - rank(y));
    for (const k of ordered) {
      const e = view.entries.get(k);
      if (!e || e.deleted || k === changedKey) {
        const obj = this.cache.get(k);
        view.touch(k, ++this.seq, this.entryRevision(k, obj), false, false, obj?.metadata.resourceVersion);
        changed = true;
      }
    }
    for (const [k, e] of [...view.entries]) {
      if (e.global || e.deleted || want.has(k)) continue;
      view.touch(k, ++this.seq, this.entryRevision(k, undefined), true, false);
      changed = true;
    }
    if (changed) this.notify(node);
  }
}
