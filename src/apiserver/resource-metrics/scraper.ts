/**
 * The metrics scraper (what metrics-server's scraper does, inside the API server): every interval it asks
 * each Node's kubelet API for `/metrics/resource` (through the node dialer: for edge nodes, the hub's
 * tunnel over the node's own connection), parses it and records it in the store. Scrapes run with a
 * concurrency bound and a timeout under the interval; a failed scrape drops the node's metrics (an offline
 * node is absent from metrics.k8s.io, as with metrics-server). Rounds never overlap.
 * Edge nodes on a v6 link report their usage to the hub every interval instead (`pushed`: protocol `usage`,
 * src/cloudhub/usage-board.ts): a round first reads what the hub received since the last round, one local request,
 * and scrapes through the tunnel only the nodes that do not report (older agents, nodes on another server's hub,
 * a node whose reports stopped). docs/design/metrics.md "Reported usage".
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../common/logger.js';
import { parseResourceMetrics, type UsagePage } from '../../common/resource-metrics.js';
import type { ResourceMetricsStore } from './store.js';

/** GET `/metrics/resource` on a node's kubelet API: the body, or a rejection. Must honour `signal`. */
export type NodeMetricsFetcher = (nodeName: string, signal: AbortSignal) => Promise<string>;

/** The dial, given up when `signal` aborts first (a stream that connects after that is closed at once). */
function dialWithin(dialer: { dialKubelet(nodeName: string): Promise<Duplex> }, nodeName: string, signal: AbortSignal): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('scrape aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    dialer.dialKubelet(nodeName).then(
      (stream) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) stream.destroy();
        else resolve(stream);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * A fetcher over a node dialer (src/apiserver/node-dialer.ts: a byte stream to the node's kubelet API):
 * one HTTP/1.1 GET of `/metrics/resource` per scrape, the body read up to MAX_METRICS_BODY_BYTES.
 */
export function dialerMetricsFetcher(dialer: { dialKubelet(nodeName: string): Promise<Duplex> }): NodeMetricsFetcher {
  return async (nodeName, signal) => {
    signal.throwIfAborted();
    const stream = await dialWithin(dialer, nodeName, signal);
    return new Promise<string>((resolve, reject) => {
      const req = http.request({ method: 'GET', path: '/metrics/resource', host: nodeName, headers: { accept: 'text/plain', connection: 'close' }, createConnection: () => stream as never, signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_METRICS_BODY_BYTES) return req.destroy(new Error(`answer over the ${MAX_METRICS_BODY_BYTES} byte limit`));
          chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`kubelet answered ${res.statusCode}: ${body.slice(0, 300)}`));
        });
        res.on('error', reject);
      });
      req.on('error', (err) => { stream.destroy(); reject(err); });
      req.end();
    });
  };
}

export interface ScraperOptions {
  store: ResourceMetricsStore;
  /** The nodes to scrape (the API's Node names). */
  nodes: () => Promise<string[]>;
  fetch: NodeMetricsFetcher;
  /** Default 60 s (metrics-server's --metric-resolution default). */
  intervalMs?: number;
  /** Span a round's scrapes are spread over; default half the interval (0: all at once, up to `concurrency`). */
  spreadMs?: number;
  /** Per-node deadline; default min(10 s, 90 % of the interval). */
  timeoutMs?: number;
  /** Scrapes in flight at once; default 32. */
  concurrency?: number;
  log: Logger;
  /** Where the scraper's own metrics go (the API server's /metrics). */
  registry?: Registry;
  /** The usage edges reported to this server's hub since `since` (node-dialer.ts `hubUsage`); absent: all scraped. */
  pushed?: (since: number, signal: AbortSignal) => Promise<UsagePage>;
}

/** metrics-server's own --metric-resolution default (its deployment manifest sets 15 s). */
export const DEFAULT_METRIC_RESOLUTION_MS = 60_000;

/** A body bigger than this is refused (a node with ~100k containers would be needed to reach it honestly). */
export const MAX_METRICS_BODY_BYTES = 16 * 1024 * 1024;

export class MetricsScraper {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly duration: Histogram;
  private readonly failures: Counter;
  private readonly scrapedNodes: Gauge;
  private readonly reportingNodes: Gauge;
  /** The hub's seq of the last usage page read. */
  private pushedSeq = 0;
  readonly intervalMs: number;
  readonly spreadMs: number;

  constructor(private readonly o: ScraperOptions) {
    this.intervalMs = o.intervalMs ?? DEFAULT_METRIC_RESOLUTION_MS;
    this.spreadMs = o.spreadMs ?? Math.floor(this.intervalMs / 2);
    const registers = o.registry ? [o.registry] : [];
    this.duration = new Histogram({ name: 'kedge_metrics_scrape_duration_seconds', help: 'Time to scrape and record one node\'s /metrics/resource', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.failures = new Counter({ name: 'kedge_metrics_scrape_failures_total', help: 'Node scrapes that failed (node unreachable, timeout, bad answer)', registers });
    this.scrapedNodes = new Gauge({ name: 'kedge_metrics_scraped_nodes', help: 'Nodes whose last scrape succeeded or whose usage report was read', registers });
    this.reportingNodes = new Gauge({ name: 'kedge_metrics_reporting_nodes', help: 'Nodes that report their usage over their link (not scraped through the tunnel), as of the last round', registers });
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.round = this.scrapeOnce(this.spreadMs).finally(() => {
        this.round = undefined;
        if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    // First round soon, so metrics exist one interval after start rather than two.
    this.timer = setTimeout(tick, Math.min(1000, this.intervalMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.round?.catch(() => undefined);
  }

  /**
   * One round over every node; resolves when all are recorded or dropped. The i-th of n scrapes starts no
   * sooner than i × spreadMs / n after the round began.
   */
  async scrapeOnce(spreadMs = 0): Promise<void> {
    let names: string[];
    try {
      names = await this.o.nodes();
    } catch (err) {
      this.o.log.warn({ err: String(err) }, 'metrics scraper: cannot list nodes');
      return;
    }
    const known = new Set(names);
    for (const n of this.o.store.nodeNames()) if (!known.has(n)) this.o.store.forget(n);
    const reporting = await this.readReported(known);
    if (reporting.size > 0) names = names.filter((n) => !reporting.has(n));
    let next = 0;
    let ok = reporting.size;
    const roundStart = Date.now();
    const gapMs = names.length ? spreadMs / names.length : 0;
    const worker = async () => {
      while (next < names.length && !this.stopped) {
        const i = next++;
        const wait = roundStart + i * gapMs - Date.now();
        if (wait > 0) await this.sleep(wait);
        if (this.stopped) break;
        if (await this.scrapeNode(names[i]!)) ok++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 32, names.length) }, worker));
    this.scrapedNodes.set(ok);
  }

  /** Records the usage reports the hub received since the last round; returns the nodes that report. */
  private async readReported(known: ReadonlySet<string>): Promise<Set<string>> {
    const pushed = this.o.pushed;
    if (!pushed) return new Set();
    const signal = AbortSignal.any([AbortSignal.timeout(this.o.timeoutMs ?? Math.min(10_000, Math.round(this.intervalMs * 0.9))), this.abort.signal]);
    try {
      let page = await pushed(this.pushedSeq, signal);
      // A hub that restarted counts from 0 again: read all it holds.
      if (page.seq < this.pushedSeq) page = await pushed(0, signal);
      this.pushedSeq = page.seq;
      for (const e of page.entries) if (known.has(e.node)) this.o.store.record(e.node, e.sample, e.receivedMs);
      const reporting = new Set(page.reporting.filter((n) => known.has(n)));
      this.reportingNodes.set(reporting.size);
      return reporting;
    } catch (err) {
      if (!this.stopped) this.o.log.debug({ err: String(err) }, 'metrics scraper: cannot read the usage nodes reported; scraping every node');
      this.reportingNodes.set(0);
      return new Set();
    }
  }

  /** A delay that ends early when the scraper stops. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      const signal = this.abort.signal;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async scrapeNode(name: string): Promise<boolean> {
    const end = this.duration.startTimer();
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? Math.min(10_000, Math.round(this.intervalMs * 0.9)));
    try {
      const body = await this.o.fetch(name, AbortSignal.any([timeout, this.abort.signal]));
      if (body.length > MAX_METRICS_BODY_BYTES) throw new Error(`answer of ${body.length} bytes is over the ${MAX_METRICS_BODY_BYTES} limit`);
      this.o.store.record(name, parseResourceMetrics(body), Date.now());
      return true;
    } catch (err) {
      this.o.store.forget(name);
      if (!this.stopped) {
        this.failures.inc();
        this.o.log.debug({ node: name, err: String(err) }, 'metrics scrape failed');
      }
      return false;
    } finally {
      end();
    }
  }
}
