import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../common/logger.js';
import { makeKubeApi } from './client.js';
import { defaultControllerOptions, type Controller, type ControllerContext, type ControllerOptions } from './controller.js';
import { ApiEventRecorder } from './events.js';
import { SharedInformerFactory } from './informers.js';
import { DEFAULT_LEADER_ELECTION, LeaderElector, type LeaderElectionTiming } from './leaderelection.js';
import { ControllerMetrics } from './metrics.js';
import type { DisruptionOptions } from './nodes/disruption.js';
import { loadKubeClient } from '../common/kubeconfig.js';
import type { KubeClient } from '../common/kube-client.js';
import type { InformerLookup } from '../common/lean-informer.js';

/** Controllers that exist because of the edge: they make sense against any cluster, Kedge's or a real one. */
export const edgeControllers = ['nodelifecycle', 'podbinding'] as const;
/** What kube-controller-manager + kube-scheduler do; switch these off against a real cluster. */
export const genericControllers = [
  'scheduler', 'replicaset', 'replicationcontroller', 'deployment', 'daemonset', 'statefulset', 'job', 'cronjob', 'disruption', 'horizontalpodautoscaling',
  'endpoints', 'endpointslice', 'serviceaccount', 'namespace', 'garbagecollector', 'podgc', 'resourcequota', 'persistentvolume-binder', 'pvc-protection', 'pv-protection', 'tokencleaner',
] as const;
/**
 * K3s's batteries that are controllers (src/common/batteries.ts): ServiceLB (`servicelb`) and the local-path
 * provisioner (`local-storage`); `kedge server --disable NAME` leaves them out.
 */
export const batteryControllers = ['servicelb', 'local-path-provisioner'] as const;
/**
 * Node pools and per-pool workloads (OpenYurt NodePool/YurtAppSet, SuperEdge grids). They need those kinds served
 * (kedge server serves them as built-in CRDs); against another cluster, install the projects' CRDs first.
 */
export const poolControllers = ['nodepool', 'yurtappset', 'grid'] as const;
export const allControllers: readonly string[] = [...genericControllers, ...edgeControllers, ...poolControllers, ...batteryControllers];

export interface ControllerManagerOptions {
  /** An API client, or the path of a kubeconfig file. */
  kubeConfig: KubeClient | string;
  /**
   * Which controllers run: 'all', or names as kube-controller-manager's --controllers: '*' for all,
   * 'name' to enable, '-name' to disable (e.g. ['*', '-scheduler']). Default 'all'.
   */
  controllers?: readonly string[] | 'all';
  leaderElect?: boolean;
  leaderElectionNamespace?: string;
  leaderElectionName?: string;
  /** Lease timing (the `--leader-elect-*` flags); default DEFAULT_LEADER_ELECTION (10 s / 7 s / 1 s). */
  leaderElection?: LeaderElectionTiming;
  identity?: string;
  /** Seconds without a node heartbeat before the node is unreachable (default 40). */
  nodeMonitorGracePeriodSeconds?: number;
  /** How often node heartbeats are checked (default 5s, never above the grace period / 2). */
  nodeMonitorPeriodSeconds?: number;
  /** tolerationSeconds for pods without their own unreachable/not-ready toleration (default 300). */
  defaultTolerationSeconds?: number;
  workers?: number;
  /** Node lifecycle as kube-controller-manager's (no edge autonomy), with upstream's disruption options. */
  upstreamNodeLifecycle?: DisruptionOptions;
  logger?: Logger;
  /** "host:port" to serve /metrics (Prometheus) and /healthz on; port 0 picks a free one. Off by default. */
  metricsAddress?: string;
  /** Informers another component of the process runs (the cloud hub's): used instead of a second list-watch. */
  sharedInformers?: InformerLookup;
}

export interface ControllerManager {
  /** Stops every controller and informer, and releases the leader lease. */
  stop(): Promise<void>;
  /** Prometheus registry with queue depth, reconcile errors/durations, scheduling attempts, leadership. */
  metrics: Registry;
  isLeader(): boolean;
  /** The controllers that were selected. */
  controllers: string[];
  /** Resolves once the controllers run with synced caches (when leading). */
  started: Promise<void>;
  /** http://host:port of the metrics endpoint once listening (metricsAddress set), else undefined. */
  metricsUrl: Promise<string | undefined>;
}

/** Serves the registry on /metrics and liveness on /healthz, like kube-controller-manager's secure port (plain HTTP here). */
async function serveMetrics(address: string, registry: Registry): Promise<{ url: string; close: () => Promise<void> }> {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new Error(`metricsAddress must be host:port, got ${JSON.stringify(address)}`);
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`metricsAddress port must be 0-65535, got ${JSON.stringify(address)}`);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err) => res.writeHead(500).end(String(err)),
      );
    } else if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  const a = server.address() as AddressInfo;
  return { url: `http://${host}:${a.port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The component each controller's events name, as kube-controller-manager's and kube-scheduler's recorders do. */
const EVENT_SOURCES: Record<string, string> = {
  scheduler: 'default-scheduler',
  replicaset: 'replicaset-controller',
  replicationcontroller: 'replication-controller',
  deployment: 'deployment-controller',
  daemonset: 'daemonset-controller',
  statefulset: 'statefulset-controller',
  job: 'job-controller',
  cronjob: 'cronjob-controller',
  disruption: 'controllermanager',
  horizontalpodautoscaling: 'horizontal-pod-autoscaler',
  endpoints: 'endpoint-controller',
  endpointslice: 'endpoint-slice-controller',
  serviceaccount: 'service-account-controller',
  namespace: 'namespace-controller',
  garbagecollector: 'garbage-collector-controller',
  nodelifecycle: 'node-controller',
  podgc: 'pod-garbage-collector',
  nodepool: 'nodepool-controller',
  yurtappset: 'yurtappset-controller',
  grid: 'grid-controller',
  podbinding: 'podbinding-controller',
};

export function selectControllers(spec: readonly string[] | 'all' | undefined): string[] {
  if (spec === undefined || spec === 'all') return [...allControllers];
  const enabled = new Set<string>();
  for (const s of spec) {
    if (s === '*' || s === 'all') allControllers.forEach((c) => enabled.add(c));
  }
  for (const s of spec) {
    if (s === '*' || s === 'all') continue;
    const name = s.startsWith('-') ? s.slice(1) : s;
    if (!allControllers.includes(name)) throw new Error(`unknown controller "${name}": known controllers are ${allControllers.join(', ')}`);
    if (s.startsWith('-')) enabled.delete(name);
    else enabled.add(name);
  }
  return allControllers.filter((c) => enabled.has(c));
}

/**
 * The controller `name`, its module loaded only now: `kedge cloud` runs one controller by default and must not
 * carry the code of the other fifteen (issue 19: idle memory).
 */
async function build(name: string, ctx: ControllerContext, selected: string[], kc: KubeClient): Promise<Controller | undefined> {
  switch (name) {
    case 'scheduler': return new (await import('./scheduler/scheduler.js')).Scheduler(ctx);
    case 'replicaset': return new (await import('./workloads/replicaset.js')).ReplicaSetController(ctx);
    case 'replicationcontroller': {
      const rs = await import('./workloads/replicaset.js');
      return new rs.ReplicaSetController(ctx, rs.REPLICATION_CONTROLLER_KIND);
    }
    case 'deployment': return new (await import('./workloads/deployment.js')).DeploymentController(ctx);
    case 'daemonset': return new (await import('./workloads/daemonset.js')).DaemonSetController(ctx);
    case 'statefulset': return new (await import('./workloads/statefulset.js')).StatefulSetController(ctx);
    case 'job': return new (await import('./workloads/job.js')).JobController(ctx);
    case 'cronjob': return new (await import('./workloads/cronjob.js')).CronJobController(ctx);
    case 'disruption': return new (await import('./workloads/disruption.js')).DisruptionController(ctx);
    case 'horizontalpodautoscaling': {
      const hpa = await import('./autoscaling/hpa.js');
      return new hpa.HorizontalPodAutoscalerController(ctx, hpa.makeScaleApi(kc));
    }
    // One controller maintains both Endpoints and EndpointSlices (they share all inputs).
    case 'endpoints': return new (await import('./services/endpoints.js')).EndpointsController(ctx, { endpoints: true, slices: selected.includes('endpointslice') });
    case 'endpointslice': return selected.includes('endpoints') ? undefined : new (await import('./services/endpoints.js')).EndpointsController(ctx, { endpoints: false, slices: true });
    case 'serviceaccount': return new (await import('./namespaces/serviceaccount.js')).ServiceAccountController(ctx);
    case 'namespace': return new (await import('./namespaces/namespace.js')).NamespaceController(ctx);
    case 'garbagecollector': return new (await import('./gc/garbagecollector.js')).GarbageCollector(ctx);
    case 'nodelifecycle': return new (await import('./nodes/lifecycle.js')).NodeLifecycleController(ctx);
    case 'resourcequota': return new (await import('./quota/resourcequota.js')).ResourceQuotaController(ctx);
    case 'persistentvolume-binder': return new (await import('./storage/pv-binder.js')).PersistentVolumeBinder(ctx);
    case 'pvc-protection': return new (await import('./storage/protection.js')).PvcProtectionController(ctx);
    case 'pv-protection': return new (await import('./storage/protection.js')).PvProtectionController(ctx);
    case 'local-path-provisioner': return new (await import('./storage/local-path.js')).LocalPathProvisioner(ctx);
    case 'podgc': return new (await import('./nodes/podgc.js')).PodGCController(ctx);
    case 'servicelb': return new (await import('./services/servicelb.js')).ServiceLbController(ctx);
    case 'tokencleaner': return new (await import('./tokens/tokencleaner.js')).TokenCleanerController(ctx);
    case 'nodepool': return new (await import('./pools/nodepool.js')).NodePoolController(ctx);
    case 'yurtappset': return new (await import('./pools/yurtappset.js')).YurtAppSetController(ctx);
    case 'grid': return new (await import('./pools/grid.js')).GridController(ctx);
    // Beside Kedge's own edge-aware lifecycle (no NoExecute taint on a node bound forever) only nodes with an
    // autonomy-duration or an opt-out need their pods rewritten; against upstream's lifecycle every edge pod does.
    case 'podbinding': return new (await import('./nodes/podbinding.js')).PodBindingController(ctx, { onlyWhereTainted: selected.includes('nodelifecycle') && !ctx.options.upstreamNodeLifecycle });
    default: return undefined;
  }
}

/**
 * Starts the selected controllers against the API described by kubeConfig (only through plain Kubernetes REST,
 * src/common/kube-client.ts, so a real kube-apiserver works as well as Kedge's). With leaderElect, controllers
 * run only while this instance holds the kube-system/kedge-controller-manager Lease.
 */
export function startControllerManager(opts: ControllerManagerOptions): ControllerManager {
  const kc = typeof opts.kubeConfig === 'string' ? loadKubeClient(opts.kubeConfig) : opts.kubeConfig;
  const selected = selectControllers(opts.controllers);
  const log = opts.logger ?? createLogger('controller-manager');
  const metrics = new ControllerMetrics();
  const grace = opts.nodeMonitorGracePeriodSeconds ?? defaultControllerOptions.nodeMonitorGracePeriodSeconds;
  if (!(grace > 0)) throw new Error(`nodeMonitorGracePeriodSeconds must be > 0, got ${grace}`);
  const options: ControllerOptions = {
    nodeMonitorGracePeriodSeconds: grace,
    nodeMonitorPeriodSeconds: Math.min(opts.nodeMonitorPeriodSeconds ?? defaultControllerOptions.nodeMonitorPeriodSeconds, grace / 2),
    defaultTolerationSeconds: opts.defaultTolerationSeconds ?? defaultControllerOptions.defaultTolerationSeconds,
    workers: opts.workers ?? defaultControllerOptions.workers,
    upstreamNodeLifecycle: opts.upstreamNodeLifecycle,
  };
  const api = makeKubeApi(kc);
  const identity = opts.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;

  let running: { factory: SharedInformerFactory; controllers: Controller[]; events: ApiEventRecorder } | undefined;
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => (resolveStarted = r));

  // Bumped by every halt: a run whose controller modules were still loading when leadership was lost gives up.
  let generation = 0;
  const run = async () => {
    const gen = generation;
    const factory = new SharedInformerFactory(kc, (resource, err) => log.warn({ resource, err: String((err as Error)?.message ?? err) }, 'informer error, retrying'), opts.sharedInformers);
    let resolveSynced!: () => void;
    const synced = new Promise<void>((r) => (resolveSynced = r));
    const events = new ApiEventRecorder(api, 'kedge-controller-manager');
    const ctx: ControllerContext = { api, informers: factory, events, metrics, log, options, synced };
    const controllers: Controller[] = [];
    for (const name of selected) {
      const c = await build(name, { ...ctx, events: events.forComponent(EVENT_SOURCES[name] ?? name) }, selected, kc);
      if (c) controllers.push(c);
    }
    if (gen !== generation) return;
    running = { factory, controllers, events };
    for (const c of controllers) await c.start();
    factory.start();
    for (;;) {
      try {
        await factory.waitForSync(30_000);
        break;
      } catch (err) {
        if (running?.factory !== factory) return;
        log.warn({ err: String(err) }, 'waiting for informers');
      }
    }
    resolveSynced();
    log.info({ controllers: selected, sharedInformers: factory.borrowed() }, 'controllers started');
    resolveStarted();
  };

  const halt = async () => {
    generation++;
    const r = running;
    running = undefined;
    if (!r) return;
    await Promise.all(r.controllers.map((c) => Promise.resolve(c.stop()).catch(() => {})));
    await r.factory.stop();
    await r.events.flush();
  };

  const metricsServer = opts.metricsAddress ? serveMetrics(opts.metricsAddress, metrics.registry) : undefined;
  metricsServer?.catch((err) => log.error({ err: String(err) }, 'metrics endpoint failed'));

  let elector: LeaderElector | undefined;
  if (opts.leaderElect) {
    elector = new LeaderElector(api, {
      namespace: opts.leaderElectionNamespace ?? 'kube-system',
      name: opts.leaderElectionName ?? 'kedge-controller-manager',
      identity,
      ...(opts.leaderElection ?? DEFAULT_LEADER_ELECTION),
      onStartedLeading: () => {
        metrics.isLeader.labels('kedge-controller-manager').set(1);
        log.info({ identity }, 'became leader');
        void run().catch((err) => log.error({ err: String(err) }, 'controllers failed to start'));
      },
      onStoppedLeading: async () => {
        metrics.isLeader.labels('kedge-controller-manager').set(0);
        log.warn({ identity }, 'lost leadership, stopping controllers');
        await halt();
      },
    });
    elector.run();
  } else {
    void run().catch((err) => log.error({ err: String(err) }, 'controllers failed to start'));
  }

  return {
    controllers: selected,
    metrics: metrics.registry,
    started,
    metricsUrl: metricsServer ? metricsServer.then((m) => m.url) : Promise.resolve(undefined),
    isLeader: () => (elector ? elector.isLeader() : true),
    async stop() {
      if (elector) await elector.stop();
      await halt();
      if (metricsServer) await (await metricsServer.catch(() => undefined))?.close();
    },
  };
}
