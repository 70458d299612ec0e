/**
 * One shared cache of everything any edge node may need, fed by one informer per resource against
 * the Kubernetes API (src/common/kube-client.ts: works against the embedded server and any real kube-apiserver).
 * No per-node watches ever reach the API server; node desired sets are computed from here.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../common/kube-client.js';
import type { Logger } from '../common/logger.js';
import { objectKey } from '../protocol/keys.js';
import { LeanInformer, informerView, revisionOf, type SharedInformer } from '../common/lean-informer.js';
import { DEVICE_MODEL_RESOURCE, DEVICE_RESOURCE, DEVICES_GROUP, DEVICES_VERSION } from '../protocol/devices.js';
import { TENANCY_GROUP, TENANCY_VERSION, TENANTS_RESOURCE } from '../common/tenancy.js';

export type CacheEventType = 'upsert' | 'delete';
export type CachedObject = KubernetesObject & { metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string } } & Record<string, unknown>;
/**
 * `revision`: the datastore revision of the change (the event's resourceVersion; for objects delivered by a list, the
 * list's), NaN for objects the hub derives itself (PodTokens) or an API server without numeric revisions.
 */
export type CacheListener = (resource: string, type: CacheEventType, key: string, obj: CachedObject, old: CachedObject | undefined, revision?: number) => void;

/**
 * `optional`: the resource may not exist on the cluster (KubeEdge's device CRDs on a `kedge cloud` cluster that never
 * installed them): the cache is synced without it, and its informer keeps retrying quietly until the CRD appears.
 */
const RESOURCES: ReadonlyArray<{ resource: string; path: string; optional?: boolean }> = [
  { resource: 'nodes', path: '/api/v1/nodes' },
  { resource: 'configmaps', path: '/api/v1/configmaps' },
  { resource: 'secrets', path: '/api/v1/secrets' },
  { resource: 'serviceaccounts', path: '/api/v1/serviceaccounts' },
  { resource: 'services', path: '/api/v1/services' },
  { resource: 'persistentvolumes', path: '/api/v1/persistentvolumes' },
  { resource: 'persistentvolumeclaims', path: '/api/v1/persistentvolumeclaims' },
  { resource: 'endpointslices.discovery.k8s.io', path: '/apis/discovery.k8s.io/v1/endpointslices' },
  // NetworkPolicies go to the nodes with pods in their namespace, peers resolved against pods and Namespaces' labels.
  { resource: 'namespaces', path: '/api/v1/namespaces' },
  { resource: 'networkpolicies.networking.k8s.io', path: '/apis/networking.k8s.io/v1/networkpolicies' },
  { resource: DEVICE_MODEL_RESOURCE, path: `/apis/${DEVICES_GROUP}/${DEVICES_VERSION}/devicemodels`, optional: true },
  { resource: DEVICE_RESOURCE, path: `/apis/${DEVICES_GROUP}/${DEVICES_VERSION}/devices`, optional: true },
  // Pods last: their refs resolve against objects already cached.
  // Which tenant owns a node (spec.nodes, spec.nodePools) decides the services it receives; a real cluster may lack the CRD.
  { resource: TENANTS_RESOURCE, path: `/apis/${TENANCY_GROUP}/${TENANCY_VERSION}/tenants`, optional: true },
  { resource: 'pods', path: '/api/v1/pods' },
];

interface InformerState {
  resource: string;
  path: string;
  inf: LeanInformer;
  synced: boolean;
  optional: boolean;
  /** The revision this informer has delivered the cluster through (list, events, bookmarks). */
  through: number;
  /** Set while a list's objects are being delivered: their revision. */
  listing?: number;
}

/**
 * Revisions: every informer delivers its resource in revision order, and asks for bookmarks, so the cache holds the
 * cluster's state through `revision()` = the least revision every informer has delivered. That is what an edge's
 * cursor names (desired.ts): the same number on every server sharing the datastore.
 */
export class SharedCache {
  private readonly objects = new Map<string, CachedObject>();
  private readonly listeners: CacheListener[] = [];
  private readonly informers: InformerState[] = [];
  private readonly relistListeners: Array<(revision: number) => void> = [];
  private readonly progressListeners: Array<() => void> = [];
  private progressTimer: NodeJS.Timeout | undefined;
  /** Highest revision any informer delivered. */
  private highest = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly client: KubeClient, private readonly log: Logger) {}

  get(key: string): CachedObject | undefined {
    return this.objects.get(key);
  }

  /** All cached keys of one resource (e.g. every service for a new node view). */
  *keysOf(resource: string): Iterable<string> {
    const prefix = `/registry/${resource}/`;
    for (const k of this.objects.keys()) if (k.startsWith(prefix)) yield k;
  }

  /**
   * The informer behind one collection path (e.g. /api/v1/pods), for other components of the process to consume
   * instead of listing and watching it again (`kedge cloud`'s controllers). Call after start(); objects are shared
   * with the hub's cache: read-only.
   */
  informerAt(path: string): SharedInformer<KubernetesObject> | undefined {
    const state = this.informers.find((i) => i.path === path);
    return state && informerView(state.inf, () => state.synced);
  }

  onChange(l: CacheListener): void {
    this.listeners.push(l);
  }

  synced(): boolean {
    return this.informers.length > 0 && this.informers.every((i) => i.synced || i.optional);
  }

  size(): number {
    return this.objects.size;
  }

  /** Objects the hub derives itself (PodTokens) join the cache as if an informer had delivered them. */
  inject(resource: string, type: CacheEventType, obj: CachedObject): void {
    this.apply(resource, type, obj, Number.NaN);
  }

  /**
   * The cluster's state is in this cache through this revision: every required informer has delivered it (0 before
   * all have listed, or against an API server without numeric revisions).
   */
  revision(): number {
    let least = Number.POSITIVE_INFINITY;
    for (const i of this.informers) {
      if (!i.synced) {
        if (i.optional) continue;
        return 0;
      }
      least = Math.min(least, i.through);
    }
    return least === Number.POSITIVE_INFINITY ? 0 : least;
  }

  /** The highest revision any informer has delivered: no change the cache holds is newer. */
  highestRevision(): number {
    return this.highest;
  }

  /** Called with the list's revision when an informer lists again after its first list (a 410 relist). */
  onRelist(l: (revision: number) => void): void {
    this.relistListeners.push(l);
  }

  /** Called (at most every 100 ms) after `revision()` may have advanced. */
  onProgress(l: () => void): void {
    this.progressListeners.push(l);
  }

  private progressed(state: InformerState, revision: number): void {
    if (!(revision > state.through)) return;
    state.through = revision;
    if (revision > this.highest) this.highest = revision;
    if (this.progressTimer || this.progressListeners.length === 0 || this.stopped) return;
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      for (const l of this.progressListeners) l();
    }, 100);
  }

  private apply(resource: string, type: CacheEventType, raw: KubernetesObject, revision: number): void {
    const obj = raw as CachedObject;
    if (!obj.metadata?.name) return;
    const key = objectKey(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.objects.get(key);
    if (type === 'delete') {
      if (!old) return;
      this.objects.delete(key);
    } else {
      // Relists re-deliver unchanged objects; a same-resourceVersion update is not a change.
      if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion && old.metadata.uid === obj.metadata.uid) return;
      this.objects.set(key, obj);
    }
    for (const l of this.listeners) l(resource, type, key, obj, old, revision);
  }

  /** Starts every informer; resolves once all have listed (or rejects after timeoutMs). */
  async start(timeoutMs = 60_000): Promise<void> {
    for (const { resource, path, optional } of RESOURCES) {
      // Cached without managedFields: edges never receive them (shapeForEdge), and the status writer's
      // updates omit them anyway; ~1.3 KiB less per cached pod.
      let listedBefore = false;
      const state: InformerState = {
        resource, path, synced: false, optional: optional === true, through: 0,
        inf: new LeanInformer(this.client, path, {}, {
          listing: (revision) => { state.listing = revision; },
          listed: () => {
            const at = state.listing;
            state.listing = undefined;
            if (at === undefined) return;
            // A relist replaced what the watch missed: deletions in the gap came without their revisions.
            if (listedBefore) for (const l of this.relistListeners) l(at);
            listedBefore = true;
            this.progressed(state, at);
          },
          watched: (revision) => this.progressed(state, revision),
        }),
      };
      const inf = state.inf;
      let failures = 0;
      this.informers.push(state);
      // Objects a list delivers carry the list's revision: a relist's deletions happened somewhere before it.
      const revisionFor = (o: KubernetesObject) => state.listing ?? revisionOf(o.metadata?.resourceVersion);
      inf.on('add', (o) => this.apply(resource, 'upsert', o, revisionFor(o)));
      inf.on('update', (o) => this.apply(resource, 'upsert', o, revisionFor(o)));
      inf.on('delete', (o) => this.apply(resource, 'delete', o, revisionFor(o)));
      let backoff = 500;
      const startOnce = async (): Promise<void> => {
        try {
          await inf.start();
          state.synced = true;
          failures = 0;
          backoff = 500;
        } catch (err) {
          // An optional resource that is not there (404) is said once, not every retry.
          if (!state.optional || failures++ === 0) this.log.warn({ resource, err: String(err) }, state.optional ? 'optional resource not listable (CRD not installed?); retrying quietly' : 'informer list failed; retrying');
          retry();
        }
      };
      let pending = false;
      const retry = (): void => {
        // start() rejecting and the 'error' event can both report one failure: schedule one restart.
        if (this.stopped || pending) return;
        pending = true;
        state.synced = false;
        const t = setTimeout(() => {
          pending = false;
          this.timers.delete(t);
          if (!this.stopped) void startOnce();
        }, backoff);
        this.timers.add(t);
        backoff = Math.min(backoff * 2, 10_000);
      };
      // The informer stops after reporting an error: restart it with capped backoff.
      inf.on('error', (err) => {
        if (!state.optional || state.synced) this.log.warn({ resource, err: String(err) }, 'informer watch failed; restarting');
        retry();
      });
      void startOnce();
    }
    const deadline = Date.now() + timeoutMs;
    while (!this.synced()) {
      if (this.stopped) throw new Error('cache stopped');
      if (Date.now() > deadline) {
        const missing = this.informers.filter((i) => !i.synced).map((i) => i.resource);
        throw new Error(`hub cache did not sync within ${timeoutMs}ms: ${missing.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.progressTimer);
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.informers.map((i) => i.inf.stop().catch(() => {})));
  }
}
