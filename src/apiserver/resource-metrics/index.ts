/**
 * metrics.k8s.io in the API server: the scraper (./scraper.ts) fills the store (./store.ts) from every
 * node's `/metrics/resource`; the group (./api.ts) is computed from the store on each read.
 * docs/design/metrics.md says why it runs here and not on the controllers' thread.
 */
import type { Logger } from '../../common/logger.js';
import type { ApiServer } from '../server.js';
import { resourceMetricsDefs, METRICS_GROUP, METRICS_VERSION } from './api.js';
import { MetricsScraper, type NodeMetricsFetcher, type ScraperOptions } from './scraper.js';
import { ResourceMetricsStore } from './store.js';

export { MetricsScraper, dialerMetricsFetcher, type NodeMetricsFetcher } from './scraper.js';
export { ResourceMetricsStore } from './store.js';
export { METRICS_GROUP, METRICS_VERSION } from './api.js';

export interface ResourceMetricsOptions {
  /** How a node's `/metrics/resource` is fetched (the node dialer). */
  fetch: NodeMetricsFetcher;
  /** The usage edges reported to the hub (the node dialer's `usage`): those nodes are not scraped. */
  pushed?: ScraperOptions['pushed'];
  /** Scrape interval (metrics-server --metric-resolution); default 60 s, spread over its first half (scraper.ts). */
  intervalMs?: number;
  log: Logger;
  /** Start scraping now (default true; tests drive `scraper.scrapeOnce()` themselves). */
  autoStart?: boolean;
}

/** Serve metrics.k8s.io/v1beta1 on `server` and start scraping; the returned function stops it. */
export function installResourceMetrics(server: ApiServer, opts: ResourceMetricsOptions): { scraper: MetricsScraper; store: ResourceMetricsStore; stop(): Promise<void> } {
  const store = new ResourceMetricsStore();
  for (const def of resourceMetricsDefs({ store, feed: server.feed })) server.registry.add(def);
  const scraper = new MetricsScraper({
    store,
    fetch: opts.fetch,
    pushed: opts.pushed,
    intervalMs: opts.intervalMs,
    log: opts.log,
    registry: server.metrics.registry,
    // Every Node, Ready or not, as metrics-server (a NotReady node's kubelet may still answer: metrics-server
    // PR #197); an edge node whose link is down fails at once at the hub's proxy, which costs little.
    nodes: async () => {
      const cache = await server.feed.cache('/registry/core/nodes/');
      return [...cache.items.values()].map((i) => i.obj.metadata!.name!);
    },
  });
  if (opts.autoStart !== false) scraper.start();
  return {
    scraper,
    store,
    async stop() {
      await scraper.stop();
      server.registry.remove(METRICS_GROUP, METRICS_VERSION, 'nodes');
      server.registry.remove(METRICS_GROUP, METRICS_VERSION, 'pods');
    },
  };
}
