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

test('a round spreads its scrapes over the given span instead of starting them all at once; stop ends the wait', async () => {
  const started: number[] = [];
  const store = new ResourceMetricsStore();
  const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
  const scraper = new MetricsScraper({
    store, log: createLogger('test', 'silent'), nodes: async () => names,
    fetch: async () => { started.push(Date.now()); return body(); },
  });
  const t0 = Date.now();
  await scraper.scrapeOnce(500);
  assert.equal(started.length, 10);
  // the i-th of 10 starts no sooner than i × 50 ms: the last one at least 450 ms after the round began
  assert.ok(started[9]! - t0 >= 440, `last scrape started ${started[9]! - t0} ms after the round began`);
  assert.ok(started[1]! - t0 < 400, 'the early ones did not wait for the late ones');
  assert.equal(scraper.intervalMs, 60_000, "metrics-server's default resolution");
  assert.equal(scraper.spreadMs, 30_000);
  // a long spread does not hold up stop()
  started.length = 0;
  const round = scraper.scrapeOnce(60_000);
  await new Promise((r) => setTimeout(r, 50));
  const tStop = Date.now();
  await scraper.stop();
  await round;
  assert.ok(Date.now() - tStop < 5_000, 'stop ended the spread wait');
  assert.ok(started.length < 10);
});

test('nodes that report their usage to the hub are recorded from its page and not scraped; the rest are; a restarted hub is read from 0', async () => {
  const scraped: string[] = [];
  const k = await kubelets({ old: (_req, res) => { scraped.push('old'); res.writeHead(200).end(body()); }, pusher: (_req, res) => { scraped.push('pusher'); res.writeHead(200).end(body()); } });
  const sample = (t: number) => ({ node: { cpuSeconds: t / 1000, cpuTimestampMs: t, memoryWorkingSetBytes: 7, memoryTimestampMs: t }, pods: [], containers: [], scrapeError: false });
  const asked: number[] = [];
  let hubSeq = 10;
  const pages = [
    { seq: 10, entries: [{ node: 'pusher', receivedMs: 1, sample: sample(1_800_000_000_000) }, { node: 'not-a-node', receivedMs: 1, sample: sample(1) }], reporting: ['pusher', 'not-a-node'] },
    { seq: 11, entries: [{ node: 'pusher', receivedMs: 2, sample: sample(1_800_000_060_000) }], reporting: ['pusher'] },
  ];
  const store = new ResourceMetricsStore();
  const scraper = new MetricsScraper({
    store, fetch: dialerMetricsFetcher(k.dialer), timeoutMs: 1000, log: createLogger('test', 'silent'),
    nodes: async () => ['old', 'pusher'],
    pushed: async (since) => {
      asked.push(since);
      if (since > hubSeq) return { seq: hubSeq, entries: [], reporting: [] }; // a hub that restarted
      return pages.shift()!;
    },
  });
  try {
    await scraper.scrapeOnce();
    await scraper.scrapeOnce();
    assert.deepEqual(scraped, ['old', 'old'], 'the reporting node is never scraped through the tunnel');
    assert.deepEqual(asked, [0, 10]);
    const u = store.node('pusher');
    assert.ok(u, 'two reports give the reporting node a usage point');
    assert.equal(u.windowMs, 60_000);
    assert.equal(u.memoryBytes, 7);
    assert.deepEqual(store.nodeNames().sort(), ['old', 'pusher'], 'a report for a node the API does not have is not recorded');
    hubSeq = 0;
    pages.push({ seq: 1, entries: [], reporting: ['pusher'] });
    await scraper.scrapeOnce();
    assert.deepEqual(asked, [0, 10, 11, 0], 'a page older than the last one read means a new hub: read all of it');
  } finally {
    await scraper.stop();
    k.close();
  }
});
