import type { KubernetesObject } from '@kubernetes/client-node';
import { CUSTOM_RESOURCES, type CustomResourceName } from './custom-resources.js';
import { LeanInformer, informerView, type InformerLookup, type SharedInformer } from '../common/lean-informer.js';
import type { KubeClient } from '../common/kube-client.js';

/** The resources controllers watch. One informer per resource, shared by every controller that needs it. */
export type ResourceName =
  | 'pods' | 'nodes' | 'services' | 'namespaces' | 'serviceaccounts' | 'nodeleases'
  | 'replicasets' | 'replicationcontrollers' | 'deployments' | 'daemonsets' | 'statefulsets' | 'jobs' | 'endpointslices' | 'endpoints'
  | 'nodepools' | 'yurtappsets' | 'deploymentgrids' | 'statefulsetgrids' | 'servicegrids' | 'tenants'
  | 'cronjobs' | 'poddisruptionbudgets' | 'horizontalpodautoscalers'
  | 'resourcequotas' | 'persistentvolumeclaims' | 'persistentvolumes' | 'storageclasses' | 'bootstraptokens';



/** Selectors of resources that are a slice of a collection (only the Secrets that are bootstrap tokens, as upstream's tokencleaner lists). */
const QUERIES: Partial<Record<ResourceName, Record<string, string>>> = {
  bootstraptokens: { fieldSelector: 'type=bootstrap.kubernetes.io/token' },
};

export type { SharedInformer } from '../common/lean-informer.js';

export interface InformerSource {
  get<T extends KubernetesObject>(resource: ResourceName): SharedInformer<T>;
}

const customPath = (r: CustomResourceName): string => {
  const { group, version, plural } = CUSTOM_RESOURCES[r];
  return `/apis/${group}/${version}/${plural}`;
};

/** The collection each resource is listed and watched from. */
const PATHS: Record<ResourceName, string> = {
  pods: '/api/v1/pods',
  nodes: '/api/v1/nodes',
  services: '/api/v1/services',
  namespaces: '/api/v1/namespaces',
  serviceaccounts: '/api/v1/serviceaccounts',
  endpoints: '/api/v1/endpoints',
  nodeleases: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
  replicasets: '/apis/apps/v1/replicasets',
  replicationcontrollers: '/api/v1/replicationcontrollers',
  deployments: '/apis/apps/v1/deployments',
  daemonsets: '/apis/apps/v1/daemonsets',
  statefulsets: '/apis/apps/v1/statefulsets',
  jobs: '/apis/batch/v1/jobs',
  endpointslices: '/apis/discovery.k8s.io/v1/endpointslices',
  nodepools: customPath('nodepools'),
  yurtappsets: customPath('yurtappsets'),
  deploymentgrids: customPath('deploymentgrids'),
  statefulsetgrids: customPath('statefulsetgrids'),
  servicegrids: customPath('servicegrids'),
  tenants: customPath('tenants'),
  cronjobs: '/apis/batch/v1/cronjobs',
  bootstraptokens: '/api/v1/namespaces/kube-system/secrets',
  poddisruptionbudgets: '/apis/policy/v1/poddisruptionbudgets',
  horizontalpodautoscalers: '/apis/autoscaling/v2/horizontalpodautoscalers',
  resourcequotas: '/api/v1/resourcequotas',
  persistentvolumeclaims: '/api/v1/persistentvolumeclaims',
  persistentvolumes: '/api/v1/persistentvolumes',
  storageclasses: '/apis/storage.k8s.io/v1/storageclasses',
};

/**
 * Creates informers lazily on first use, one per resource, and (re)starts them. An informer stops
 * on a list or watch error, so we restart it with capped backoff: a controller manager must outlive API server restarts.
 *
 * `shared`: informers another component of the process already runs (the cloud hub's cache in `kedge cloud`) are
 * used instead of a second list-watch and cache of the same collection; stop() then only drops this factory's
 * subscriptions, the owner keeps its informer running.
 */
export class SharedInformerFactory implements InformerSource {
  private readonly informers = new Map<ResourceName, { inf?: LeanInformer; synced: boolean; view: SharedInformer<KubernetesObject> }>();
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribes: Array<() => void> = [];

  constructor(
    private readonly client: KubeClient,
    private readonly onError: (resource: string, err: unknown) => void = () => {},
    private readonly shared: InformerLookup = () => undefined,
  ) {}

  /** Resources served by another component's informer (for logs and tests). */
  borrowed(): ResourceName[] {
    return [...this.informers.entries()].filter(([, e]) => !e.inf).map(([r]) => r);
  }

  get<T extends KubernetesObject>(resource: ResourceName): SharedInformer<T> {
    let entry = this.informers.get(resource);
    const owned = entry || QUERIES[resource] ? undefined : this.shared(PATHS[resource]);
    if (!entry && owned) {
      const track = (subscribe: (cb: (obj: KubernetesObject) => void) => () => void) => (cb: (obj: KubernetesObject) => void) => {
        const off = subscribe(cb);
        this.unsubscribes.push(off);
        return off;
      };
      entry = {
        synced: false,
        view: { get: owned.get, list: owned.list, onAdd: track(owned.onAdd), onUpdate: track(owned.onUpdate), onDelete: track(owned.onDelete), synced: owned.synced },
      };
      this.informers.set(resource, entry);
    }
    if (!entry) {
      const inf = new LeanInformer(this.client, PATHS[resource], QUERIES[resource]);
      const state = { inf, synced: false, view: undefined as unknown as SharedInformer<KubernetesObject> };
      state.view = informerView(inf, () => state.synced);
      let backoff = 500;
      let failedSinceStart = false;
      inf.on('error', (err) => {
        failedSinceStart = true;
        state.synced = false;
        this.onError(resource, err);
        if (this.stopped) return;
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (!this.stopped) void startOnce();
        }, backoff);
        this.timers.add(t);
        backoff = Math.min(backoff * 2, 10_000);
      });
      const startOnce = async (): Promise<void> => {
        failedSinceStart = false;
        try {
          // start() resolves once the list has been applied and the watch opened (or after reporting an error).
          await inf.start();
        } catch (err) {
          failedSinceStart = true;
          this.onError(resource, err);
        }
        if (!failedSinceStart) {
          state.synced = true;
          backoff = 500;
        }
      };
      entry = state;
      this.informers.set(resource, entry);
      if (this.started) void startOnce();
      else this.pending.push(startOnce);
    }
    return entry.view as unknown as SharedInformer<T>;
  }

  private started = false;
  private pending: Array<() => Promise<void>> = [];

  /** Starts every informer requested so far (and any requested later). */
  start(): void {
    this.started = true;
    for (const s of this.pending.splice(0)) void s();
  }

  /** Resolves once every informer has listed, or rejects after timeoutMs. */
  async waitForSync(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ([...this.informers.values()].some((e) => !e.view.synced())) {
      if (Date.now() > deadline) {
        const missing = [...this.informers.entries()].filter(([, e]) => !e.view.synced()).map(([r]) => r);
        throw new Error(`informers did not sync within ${timeoutMs}ms: ${missing.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const off of this.unsubscribes.splice(0)) off();
    await Promise.all([...this.informers.values()].map((e) => e.inf?.stop().catch(() => {})));
  }
}
