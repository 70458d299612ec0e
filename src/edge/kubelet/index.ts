/**
 * The edge's kubelet API, assembled: the server (server.ts) plus each endpoint family's routes. Each family
 * registers itself here with one line; the agent calls `startKubeletServer` and hands it the tunnel streams.
 *   logs.ts     /containerLogs/{ns}/{pod}/{container}
 *   stats-routes.ts /stats/summary, /metrics/resource, /metrics (stats.ts collects, node-usage.ts reads /proc)
 *   streaming.ts /exec, /attach, /portForward (proxied to the runtime's streaming server)
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger.js';
import type { ResourceSample } from '../../common/resource-metrics.js';
import type { Store } from '../../storage/types.js';
import type { PodManagerHandle } from '../contracts.js';
import { KubeletServer } from './server.js';
import { registerLogRoutes } from './logs.js';
import { StatsProvider } from './stats.js';
import { AgentMetrics, registerStatsRoutes } from './stats-routes.js';
import { hostNodeUsage, type NodeUsageSource } from './node-usage.js';
import { registerStreamingRoutes } from './streaming.js';

export { KubeletServer, KUBELET_PORT, sendStatusError, type Params, type RouteHandler, type UpgradeRouteHandler } from './server.js';

export interface KubeletContext {
  nodeName: string;
  store: Store;
  log: Logger;
  /** Absent with `--runtime none`: log/exec endpoints answer that this node runs no containers. */
  podManager?: PodManagerHandle;
  /** The agent's data dir: node filesystem stats, and container logs under `pods/`. */
  dataDir?: string;
  /** Node usage for /stats/summary and /metrics/resource (default: this host's /proc; hollow nodes: synthetic). */
  nodeUsage?: NodeUsageSource;
  /** Process metrics on /metrics (one real agent per process; the hollow fleet leaves them off). */
  processMetrics?: boolean;
  /** The agent's registry for /metrics, when the agent made it (other components, e.g. the node DNS, add to it). */
  metrics?: AgentMetrics;
}

/** The kubelet server, and the usage its /metrics/resource serves (what the agent reports to a v6 hub). */
export type EdgeKubelet = KubeletServer & { usage(): Promise<ResourceSample> };

export function startKubeletServer(ctx: KubeletContext): EdgeKubelet {
  const kubelet = new KubeletServer({ nodeName: ctx.nodeName, store: ctx.store, log: ctx.log.child({ component: 'kubelet-server' }) });
  registerLogRoutes(kubelet, ctx.podManager);
  const stats = new StatsProvider({
    nodeName: ctx.nodeName,
    runtime: ctx.podManager?.statsRuntime,
    nodeUsage: ctx.nodeUsage ?? hostNodeUsage(ctx.dataDir ?? '/'),
    podsDir: ctx.dataDir ? `${ctx.dataDir}/pods` : undefined,
    log: ctx.log,
  });
  registerStatsRoutes(kubelet, stats, ctx.metrics ?? new AgentMetrics(ctx.nodeName, { processMetrics: ctx.processMetrics }));
  registerStreamingRoutes(kubelet, ctx.podManager);
  // The kubelet's /pods: the pods bound to this node as it holds them (read-only, as upstream's).
  kubelet.route('GET', '/pods', async (_req, res) => {
    const items: V1Pod[] = [];
    for (const kv of (await ctx.store.list('/registry/pods/')).items) {
      const pod = JSON.parse(kv.value) as V1Pod;
      if (pod.spec?.nodeName === ctx.nodeName) items.push(pod);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items }));
  });
  return Object.assign(kubelet, { usage: () => stats.collectResource() });
}
