import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import { toWire } from './client.js';
import { CUSTOM_RESOURCES, type CustomResourceName } from './custom-resources.js';
import { leanInformer } from '../common/lean-informer.js';

/** The resources controllers watch. One informer per resource, shared by every controller that needs it. */
export type ResourceName =
  | 'pods' | 'nodes' | 'services' | 'namespaces' | 'serviceaccounts' | 'nodeleases'
  | 'replicasets' | 'deployments' | 'daemonsets' | 'statefulsets' | 'jobs' | 'endpointslices' | 'endpoints'
  | 'nodepools' | 'yurtappsets' | 'deploymentgrids' | 'statefulsetgrids' | 'servicegrids' | 'tenants';



/** A read-only view of one resource's cache plus change notifications. */
export interface SharedInformer<T extends KubernetesObject> extends ObjectCache<T> {
  onAdd(cb: (obj: T) => void): void;
  onUpdate(cb: (obj: T) => void): void;
  onDelete(cb: (obj: T) => void): void;
  /** True once the first list has been loaded. */
  synced(): boolean;
}

export interface InformerSource {
  get<T extends KubernetesObject>(resource: ResourceName): SharedInformer<T>;
}

type Lister = () => Promise<KubernetesListObject<KubernetesObject>>;

function listers(kc: KubeConfig): Record<ResourceName, { path: string; list: Lister }> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const coord = kc.makeApiClient(CoordinationV1Api);
  const disc = kc.makeApiClient(DiscoveryV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const customLister = (r: CustomResourceName): { path: string; list: Lister } => {
    const { group, version, plural } = CUSTOM_RESOURCES[r];
    return {
      path: `/apis/${group}/${version}/${plural}`,
      list: () => wire(custom.listClusterCustomObject({ group, version, plural }) as Promise<KubernetesListObject<KubernetesObject>>),
    };
  };
  // The typed list functions deserialize timestamps into Date objects, the watch stream does not: normalise
  // the list to wire JSON so the cache holds one shape.
  const wire = (p: Promise<KubernetesListObject<KubernetesObject>>): Promise<KubernetesListObject<KubernetesObject>> =>
    p.then((l) => ({ ...l, items: toWire(l.items) }));
  return {
    pods: { path: '/api/v1/pods', list: () => wire(core.listPodForAllNamespaces()) },
    nodes: { path: '/api/v1/nodes', list: () => wire(core.listNode()) },
    services: { path: '/api/v1/services', list: () => wire(core.listServiceForAllNamespaces()) },
    namespaces: { path: '/api/v1/namespaces', list: () => wire(core.listNamespace()) },
    serviceaccounts: { path: '/api/v1/serviceaccounts', list: () => wire(core.listServiceAccountForAllNamespaces()) },
    endpoints: { path: '/api/v1/endpoints', list: () => wire(core.listEndpointsForAllNamespaces()) },
    nodeleases: {
      path: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases',
      list: () => wire(coord.listNamespacedLease({ namespace: 'kube-node-lease' })),
    },
    replicasets: { path: '/apis/apps/v1/replicasets', list: () => wire(apps.listReplicaSetForAllNamespaces()) },
    deployments: { path: '/apis/apps/v1/deployments', list: () => wire(apps.listDeploymentForAllNamespaces()) },
    daemonsets: { path: '/apis/apps/v1/daemonsets', list: () => wire(apps.listDaemonSetForAllNamespaces()) },
    statefulsets: { path: '/apis/apps/v1/statefulsets', list: () => wire(apps.listStatefulSetForAllNamespaces()) },
    jobs: { path: '/apis/batch/v1/jobs', list: () => wire(batch.listJobForAllNamespaces()) },
    endpointslices: {
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => wire(disc.listEndpointSliceForAllNamespaces()),
    },
    nodepools: customLister('nodepools'),
    yurtappsets: customLister('yurtappsets'),
    deploymentgrids: customLister('deploymentgrids'),
    statefulsetgrids: customLister('statefulsetgrids'),
    servicegrids: customLister('servicegrids'),
    tenants: customLister('tenants'),
  };
}

/**
 * Creates informers lazily on first use, one per resource, and (re)starts them. client-node's ListWatch stops
 * on a list error, so we restart it with capped backoff: a controller manager must outlive API server restarts.
 */
export class SharedInformerFactory implements InformerSource {
  private readonly informers = new Map<ResourceName, { inf: Informer<KubernetesObject> & ObjectCache<KubernetesObject>; synced: boolean; view: SharedInformer<KubernetesObject> }>();
  private readonly table: ReturnType<typeof listers>;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(kc: KubeConfig, private readonly onError: (resource: string, err: unknown) => void = () => {}) {
    this.table = listers(kc);
    this.kc = kc;
  }
  private readonly kc: KubeConfig;

  get<T extends KubernetesObject>(resource: ResourceName): SharedInformer<T> {
    let entry = this.informers.get(resource);
    if (!entry) {
      const { path, list } = this.table[resource];
      const inf = leanInformer(this.kc, path, list);
      const state = { inf, synced: false, view: undefined as unknown as SharedInformer<KubernetesObject> };
      state.view = {
        get: (name, ns) => inf.get(name, ns),
        list: (ns) => inf.list(ns),
        onAdd: (cb) => inf.on('add', cb),
        onUpdate: (cb) => inf.on('update', cb),
        onDelete: (cb) => inf.on('delete', cb),
        synced: () => state.synced,
      };
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
    while ([...this.informers.values()].some((e) => !e.synced)) {
      if (Date.now() > deadline) {
        const missing = [...this.informers.entries()].filter(([, e]) => !e.synced).map(([r]) => r);
        throw new Error(`informers did not sync within ${timeoutMs}ms: ${missing.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([...this.informers.values()].map((e) => e.inf.stop().catch(() => {})));
  }
}
