/**
 * Prometheus metrics of the API server (served at /metrics with upstream's names where they exist), plus any
 * registries other in-process components add (controllers, hub), so one scrape sees the whole control plane.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WatchCacheFeed } from '../apimachinery/watchcache.js';
import { storagePrefix, type Registry as ResourceRegistry } from './registry.js';

export class ApiServerMetrics {
  readonly registry = new Registry();
  /** Other components' registries, appended to the /metrics output. */
  readonly extra: Registry[] = [];
  readonly requests = new Counter({ name: 'apiserver_request_total', help: 'API requests by verb, resource and HTTP code', labelNames: ['verb', 'resource', 'code'], registers: [this.registry] });
  readonly duration = new Histogram({
    name: 'apiserver_request_duration_seconds', help: 'API request latency (watches excluded)', labelNames: ['verb', 'resource'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });

  constructor(feed: WatchCacheFeed, resources: ResourceRegistry) {
    collectDefaultMetrics({ register: this.registry });
    const objects = new Gauge({ name: 'apiserver_storage_objects', help: 'Objects per resource in the watch cache', labelNames: ['resource'], registers: [this.registry],
      collect: async () => {
        objects.reset();
        for (const d of resources.all()) {
          if (d.virtual) continue;
          const c = feed.peek(storagePrefix(d));
          if (c) objects.labels(d.group ? `${d.resource}.${d.group}` : d.resource).set(c.items.size);
        }
      } });
    const watchers = new Gauge({ name: 'apiserver_registered_watchers', help: 'Open watches per resource', labelNames: ['resource'], registers: [this.registry],
      collect: async () => {
        watchers.reset();
        for (const d of resources.all()) {
          const c = feed.peek(storagePrefix(d));
          if (c && !d.virtual) watchers.labels(d.group ? `${d.resource}.${d.group}` : d.resource).set(c.watcherCount);
        }
      } });
    new Gauge({ name: 'kedge_apiserver_watch_cache_revision', help: 'Newest store revision the watch cache has applied', registers: [this.registry], collect() { this.set(feed.revision); } });
  }

  observe(verb: string, resource: string, code: number, seconds: number): void {
    this.requests.labels(verb, resource, String(code)).inc();
    if (verb !== 'watch') this.duration.labels(verb, resource).observe(seconds);
  }

  async text(): Promise<string> {
    const parts = [await this.registry.metrics()];
    for (const r of this.extra) parts.push(await r.metrics());
    return parts.join('\n');
  }
}
