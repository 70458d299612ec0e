import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/logger.js';
import { renderResourceMetrics } from '../../common/resource-metrics.js';
import { dialerMetricsFetcher, MetricsScraper } from './scraper.js';
import { ResourceMetricsStore } from './store.js';

/** A stand-in kubelet per node name: a local HTTP server the fake dialer connects to. */
async function kubelets(handlers: Record<string, http.RequestListener>) {
  const servers = new Map<string, http.Server>();
  for (const [name, h] of Object.entries(handlers)) {
    const s = http.createServer(h);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.set(name, s);
  }
  const dialer = {
    async dialKubelet(node: string) {
      if (node === 'dial-hangs') return new Promise<never>(() => undefined);
      const s = servers.get(node);
      if (!s) throw new Error(`error dialing backend: node "${node}" is not connected`);
      const sock = net.connect((s.address() as AddressInfo).port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      return sock;
    },
  };
  return { dialer, close: () => { for (const s of servers.values()) { s.closeAllConnections(); s.close(); } } };
}

let clock = 1_800_000_000_000;
const body = () => { clock += 15_000; return renderResourceMetrics({ node: { cpuSeconds: clock / 1000, cpuTimestampMs: clock, memoryWorkingSetBytes: 1, memoryTimestampMs: clock }, pods: [], containers: [], scrapeError: false }); };

test('the scraper fetches /metrics/resource through the dialer; errors, hangs (in the dial too) and unknown nodes drop the node and count a failure', async () => {
  const paths: string[] = [];
  const k = await kubelets({
    good: (req, res) => { paths.push(req.url!); res.writeHead(200, { 'content-type': 'text/plain' }).end(body()); },
    broken: (_req, res) => res.writeHead(500).end('runtime down'),
    hung: () => undefined,
    garbage: (_req, res) => res.writeHead(200).end('node_cpu_usage_seconds_total {{{\n'),
  });
  const store = new ResourceMetricsStore();
  const registry = new Registry();
  const scraper = new MetricsScraper({
    store, registry, fetch: dialerMetricsFetcher(k.dialer), timeoutMs: 300, log: createLogger('test', 'silent'),
    nodes: async () => ['good', 'broken', 'hung', 'garbage', 'absent', 'dial-hangs'],
  });
  try {
    await scraper.scrapeOnce();
    await scraper.scrapeOnce();
    assert.deepEqual(paths, ['/metrics/resource', '/metrics/resource']);
    assert.deepEqual(store.nodeNames(), ['good']);
    assert.equal(store.node('good')?.cpuNanoCores, 1e9);
    const text = await registry.metrics();
    assert.match(text, /kedge_metrics_scrape_failures_total 10/);
    assert.match(text, /kedge_metrics_scraped_nodes 1/);
  } finally {
    await scraper.stop();
    k.close();
  }
});
