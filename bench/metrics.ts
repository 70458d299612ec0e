/**
 * Metrics scrape cost (issue 11): the control-plane CPU one node scrape costs — fetch `/metrics/resource`,
 * parse it, record it, compute rates — as `kedge server`'s scraper does it every 15 s per node.
 *
 * The nodes are real edge stats endpoints (StatsProvider + the kubelet routes over the in-process runtime, P pods
 * of 2 containers each) served by a child process, so only the scraper's CPU is in this process. Baseline, in the
 * same run and over the same connections: the same GETs with the body read and dropped (transport only). Phases
 * alternate (baseline, scrape, baseline, scrape) so machine load drift hits both alike.
 * The path through the hub tunnel is not included here (its per-stream cost is the tunnel bench's figure).
 *
 * `--mode server`: the same figure inside a real `kedge server` (API server + hub thread, as shipped), through the
 * whole path (node dialer → hub CONNECT proxy → tunnel stream on the node's WebSocket → the edge kubelet server of a
 * hollow node running in this process): the server process's CPU over a measured window with
 * `--metric-resolution 1s`, minus the same window of an identical server and fleet with `--metric-resolution 0`,
 * divided by the scrapes it made (kedge_metrics_scrape_duration_seconds_count).
 *
 * Usage: npm run bench:metrics [-- --nodes 100 --pods 30 --rounds 10 --no-record]
 *        npm run bench:metrics -- --mode server [--nodes 20 --pods 10 --seconds 30]
 */
import { parseArgs } from 'node:util';
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../src/common/logger.js';
import { FakeRuntime } from '../src/runtime/fake.js';
import { StatsProvider } from '../src/edge/kubelet/stats.js';
import { syntheticNodeUsage } from '../src/edge/kubelet/node-usage.js';
import { AgentMetrics, registerStatsRoutes } from '../src/edge/kubelet/stats-routes.js';
import { dialerMetricsFetcher, MetricsScraper, type NodeMetricsFetcher } from '../src/apiserver/resource-metrics/scraper.js';
import { ResourceMetricsStore } from '../src/apiserver/resource-metrics/store.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { createToken, eventually, startCluster } from '../test/edge/cluster.js';
import { sampleProcess } from '../test/harness/procstat.js';
import { joinCluster } from '../src/edge/join.js';
import { HollowNode } from '../src/sim/hollow-node.js';
import { round } from './lib/stats.js';

const { values: opt } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    pods: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '10' },
    role: { type: 'string', default: 'scraper' },
    mode: { type: 'string', default: 'scraper' },
    seconds: { type: 'string', default: '30' },
    'no-record': { type: 'boolean', default: false },
  },
});
const nodes = Number(opt.nodes);
const podsPerNode = Number(opt.pods);
const rounds = Number(opt.rounds);

/** Child: one stats endpoint per node on its own loopback port; prints the ports. */
async function serveKubelets(): Promise<void> {
  const ports: number[] = [];
  for (let n = 0; n < nodes; n++) {
    const rt = new FakeRuntime();
    rt.addImage('busybox');
    for (let p = 0; p < podsPerNode; p++) {
      const sbConfig = { metadata: { name: `pod-${n}-${p}`, namespace: `ns-${p % 5}`, uid: `uid-${n}-${p}` } };
      const sb = await rt.runPodSandbox(sbConfig);
      for (const c of ['app', 'sidecar']) await rt.startContainer(await rt.createContainer(sb, { metadata: { name: c }, image: { image: 'busybox' } }, sbConfig));
    }
    const stats = new StatsProvider({
      nodeName: `node-${n}`, runtime: rt,
      nodeUsage: syntheticNodeUsage({ capacityBytes: 8 << 30, baseNanoCores: 1e8, baseWorkingSetBytes: 256 << 20, pods: async () => ({ nanoCores: 0, workingSetBytes: 0 }) }),
      reuseWithinMs: 0,
    });
    const routes = new Map<string, Parameters<Parameters<typeof registerStatsRoutes>[0]['route']>[2]>();
    registerStatsRoutes({ route: (m, p, h) => void routes.set(`${m} ${p}`, h) }, stats, new AgentMetrics(`node-${n}`));
    const server = http.createServer((req, res) => {
      const h = routes.get(`${req.method} ${new URL(req.url!, 'http://x').pathname}`);
      if (h) void h(req, res, {});
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    ports.push((server.address() as AddressInfo).port);
  }
  process.send!({ ports });
}

/** One `kedge server` with a hollow fleet; the server's CPU seconds and scrape count over `seconds`. */
async function measureServer(resolution: string): Promise<{ cpuSeconds: number; scrapes: number }> {
  const c = await startCluster(`bench-metrics-${resolution}`, { serverArgs: ['--metric-resolution', resolution] });
  const hollows: HollowNode[] = [];
  try {
    const token = await createToken(c);
    const hubUrl = `https://127.0.0.1:${c.hubPort}`;
    for (let n = 0; n < nodes; n++) {
      const nodeName = `hollow-${n}`;
      const dataDir = c.h.tempDir(nodeName);
      const credentials = await joinCluster({ server: hubUrl, token: token.token, caCertHash: token.hash, nodeName, dataDir });
      const node = new HollowNode({ nodeName, dataDir, hubUrl, credentials, log: createLogger('hollow', 'error'), podSyncIntervalMs: 1000 });
      await node.start();
      hollows.push(node);
    }
    const items = hollows.flatMap((h) => Array.from({ length: podsPerNode }, (_, p) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: `${h.name}-pod-${p}`, namespace: 'default' },
      spec: { nodeName: h.name, containers: [{ name: 'app', image: 'busybox' }, { name: 'sidecar', image: 'busybox' }] },
    })));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    await eventually('all pods Running', async () => {
      const phases = (await c.kubectl(['get', 'pods', '-o', 'jsonpath={.items[*].status.phase}'])).trim().split(/\s+/);
      return phases.filter((p) => p === 'Running').length === items.length || `${phases.filter((p) => p === 'Running').length}/${items.length}`;
    }, 300_000, 2000);
    await new Promise((r) => setTimeout(r, 5000)); // status writes settle
    const scrapes = async () => Number(/^kedge_metrics_scrape_duration_seconds_count (\d+)/m.exec(await c.kubectl(['get', '--raw', '/metrics']))?.[1] ?? 0);
    const s0 = await scrapes();
    const a = sampleProcess(c.server.pid);
    await new Promise((r) => setTimeout(r, Number(opt.seconds) * 1000));
    const b = sampleProcess(c.server.pid);
    const s1 = await scrapes();
    return { cpuSeconds: b.cpuSeconds - a.cpuSeconds, scrapes: s1 - s0 };
  } finally {
    for (const h of hollows) await h.stop().catch(() => undefined);
    await c.proxy.close();
    await c.h.cleanup();
  }
}

async function serverMode(): Promise<void> {
  const scraping = await measureServer('1s');
  const idle = await measureServer('0');
  const perScrapeMs = ((scraping.cpuSeconds - idle.cpuSeconds) * 1000) / scraping.scrapes;
  const report = newReport('metrics-server', { nodes, podsPerNode, seconds: Number(opt.seconds), resolution: '1s' });
  report.results = { scrapes: scraping.scrapes, serverCpuSecondsScraping: round(scraping.cpuSeconds, 2), serverCpuSecondsBaseline: round(idle.cpuSeconds, 2), serverCpuMsPerNodeScrape: round(perScrapeMs, 2) };
  report.notes.push('small run on the shared 2-core VM (8 engineers working): the difference of two windows carries their noise');
  report.notes.push('server process = API server + hub thread; the hollow nodes (edge side of the tunnel) run in the bench process');
  const rows: SummaryRow[] = [
    ['fleet', `${nodes} hollow nodes × ${podsPerNode} pods × 2 containers`],
    ['scrapes in the window', String(scraping.scrapes), `${opt.seconds} s at --metric-resolution 1s`],
    ['server CPU, scraping', `${round(scraping.cpuSeconds, 2)} s`],
    ['server CPU, baseline', `${round(idle.cpuSeconds, 2)} s`, 'same server and fleet, --metric-resolution 0'],
    ['server CPU per node scrape', `${round(perScrapeMs, 2)} ms`, 'through the hub tunnel'],
    ['at 1,000 nodes every 15 s', `${round((perScrapeMs * 1000) / 15 / 10, 1)} % of one core`],
  ];
  publish(report, rows, { write: !opt['no-record'] });
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--role', 'kubelets', '--nodes', String(nodes), '--pods', String(podsPerNode)], { execArgv: ['--import', 'tsx'] });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`kubelet child exited ${code}`)));
  });
  const dialer = {
    async dialKubelet(name: string) {
      const sock = net.connect(ports[Number(name.slice(5))]!, '127.0.0.1');
      await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
      return sock;
    },
  };
  const names = ports.map((_, i) => `node-${i}`);
  const real = dialerMetricsFetcher(dialer);
  let bodyBytes = 0;
  const log = createLogger('bench', 'silent');
  const phase = async (fetch: NodeMetricsFetcher, store: ResourceMetricsStore) => {
    const scraper = new MetricsScraper({ store, fetch, log, nodes: async () => names });
    await scraper.scrapeOnce(); // warm-up round (JIT, connections)
    const c0 = cpuMs();
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) await scraper.scrapeOnce();
    return { cpuMs: cpuMs() - c0, wallMs: performance.now() - t0 };
  };
  // Transport only: the same request, body read and dropped.
  const transportOnly: NodeMetricsFetcher = async (name, signal) => { const b = await real(name, signal); bodyBytes = b.length; return ''; };
  const nullStore = { record() {}, forget() {}, nodeNames: () => [] } as unknown as ResourceMetricsStore;
  const results = { baseline: [] as number[], scrape: [] as number[] };
  const store = new ResourceMetricsStore();
  for (let i = 0; i < 2; i++) {
    results.baseline.push((await phase(transportOnly, nullStore)).cpuMs);
    results.scrape.push((await phase(real, store)).cpuMs);
  }
  child.kill();
  const scrapes = nodes * rounds * 2;
  const baselinePer = results.baseline.reduce((a, b) => a + b, 0) / scrapes;
  const scrapePer = results.scrape.reduce((a, b) => a + b, 0) / scrapes;
  const pods = store.pods().length;
  const report = newReport('metrics', { nodes, podsPerNode, rounds });
  report.results = { bodyBytes, cpuMsPerScrape: round(scrapePer, 3), cpuMsPerTransportOnly: round(baselinePer, 3), ratio: round(scrapePer / baselinePer, 2), podsServed: pods };
  report.notes.push('small run on the shared 2-core VM (8 engineers working); the scraper process only (the nodes run in a child process)');
  report.notes.push('transport = plain HTTP on loopback here; through the hub tunnel add the tunnel\'s per-request cost');
  const rows: SummaryRow[] = [
    ['body per node', `${bodyBytes} B`, `${podsPerNode} pods × 2 containers`],
    ['scraper CPU per node scrape', `${round(scrapePer, 3)} ms`, 'fetch + parse + record + rates'],
    ['baseline: fetch only', `${round(baselinePer, 3)} ms`, 'same GETs, body dropped'],
    ['ratio scrape / fetch only', `${round(scrapePer / baselinePer, 2)}×`],
    ['at 1,000 nodes every 15 s', `${round((scrapePer * 1000) / 15 / 10, 2)} % of one core`],
    ['pods with usage after the run', String(pods), `expected ${nodes * podsPerNode}`],
  ];
  publish(report, rows, { write: !opt['no-record'] });
}

if (opt.role === 'kubelets') await serveKubelets();
else if (opt.mode === 'server') await serverMode();
else await main();
