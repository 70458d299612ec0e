/**
 * The stats endpoints on the edge's kubelet server (./server.ts, reachable only through the hub):
 * `GET /stats/summary` (JSON; `?only_cpu_and_memory=true` as the kubelet), `GET /metrics/resource`
 * and `GET /metrics` (Prometheus text 0.0.4). A failed collection answers 500 with a Status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { renderResourceMetrics } from '../../common/resource-metrics.js';
import { toStatusError } from '../../apimachinery/status.js';
import type { StatsProvider, Summary } from './stats.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** The part of the kubelet server these routes need (structural, so either side can change independently). */
export interface RouteRegistrar {
  route(method: string, pattern: string, handler: (req: IncomingMessage, res: ServerResponse, params: Record<string, string>) => void | Promise<void>): void;
}

/** The agent's own registry (`/metrics`), with the kubelet's names where the kubelet has the figure. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly nodeName = new Gauge({ name: 'kubelet_node_name', help: "The node's name. The count is always 1.", labelNames: ['node'], registers: [this.registry] });
  readonly runningPods = new Gauge({ name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', registers: [this.registry] });
  readonly runningContainers = new Gauge({ name: 'kubelet_running_containers', help: 'Number of containers currently running', labelNames: ['container_state'], registers: [this.registry] });
  readonly collectSeconds = new Histogram({
    name: 'kedge_edge_stats_collect_duration_seconds',
    help: 'Time to collect node and container stats from /proc and the container runtime',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** `processMetrics`: add process_* / nodejs_* (one real agent per process; the hollow fleet leaves it off). */
  constructor(nodeName: string, opts: { processMetrics?: boolean } = {}) {
    this.nodeName.labels(nodeName).set(1);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}

function cpuAndMemoryOnly(s: Summary): Summary {
  return {
    node: { nodeName: s.node.nodeName, startTime: s.node.startTime, cpu: s.node.cpu, memory: s.node.memory },
    pods: s.pods.map((p) => ({ podRef: p.podRef, startTime: p.startTime, cpu: p.cpu, memory: p.memory, containers: p.containers.map((c) => ({ name: c.name, startTime: c.startTime, cpu: c.cpu, memory: c.memory })) })),
  };
}

function send(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, err: unknown): void {
  const se = toStatusError(err);
  if (res.headersSent) return void res.destroy();
  send(res, se.code, 'application/json', JSON.stringify(se.status));
}

export function registerStatsRoutes(server: RouteRegistrar, stats: StatsProvider, metrics: AgentMetrics): void {
  const collect = async () => {
    const end = metrics.collectSeconds.startTimer();
    try {
      const c = await stats.collect();
      metrics.runningPods.set(c.summary.pods.length);
      metrics.runningContainers.labels('running').set(c.resource.containers.length);
      return c;
    } finally {
      end();
    }
  };
  server.route('GET', '/stats/summary', async (req, res) => {
    try {
      const { summary } = await collect();
      const only = new URL(req.url ?? '/', 'http://kubelet').searchParams.get('only_cpu_and_memory') === 'true';
      send(res, 200, 'application/json', JSON.stringify(only ? cpuAndMemoryOnly(summary) : summary));
    } catch (err) {
      sendError(res, err);
    }
  });
  server.route('GET', '/metrics/resource', async (_req, res) => {
    try {
      send(res, 200, PROMETHEUS_TEXT, renderResourceMetrics((await collect()).resource));
    } catch (err) {
      sendError(res, err);
    }
  });
  server.route('GET', '/metrics', async (_req, res) => {
    try {
      // Running pods/containers are as of this request (a collection shared with a scrape less than 1 s old).
      await collect().catch(() => undefined);
      send(res, 200, PROMETHEUS_TEXT, await metrics.registry.metrics());
    } catch (err) {
      sendError(res, err);
    }
  });
}
