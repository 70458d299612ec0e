/**
 * Node-local DNS query latency (issue 14). Three servers, each in a child process of its own on 127.0.0.1, asked by
 * the same client in the same run, like with like (UDP, one query in flight per client, C clients):
 *   node DNS   — src/edge/dns NodeDns over a SQLite store holding S Services (1 in 10 headless, with 3 endpoints),
 *                the way `kedge edge` runs it; asked for cluster names (A of a ClusterIP Service, A of a headless one,
 *                an NXDOMAIN) and for an outside name it forwards;
 *   minimal    — the baseline: a dns-packet responder that answers every question with one fixed A record
 *                (decode + encode, nothing else): what any server on Node.js pays;
 *   upstream   — the forwarding target (the same minimal responder), asked directly: the baseline for forwarded names.
 * Reported: p50/p99 per kind and ratios node DNS / minimal (cluster names) and via node DNS / direct (forwarded).
 *
 * Usage: npm run bench:dns [-- --services 1000 --queries 4000 --clients 4 --no-record]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { queryDns } from '../src/edge/dns/query.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { distribution, intOption, now, round, since } from './lib/stats.js';

const { values: opt } = parseArgs({
  options: {
    serve: { type: 'string' },
    upstream: { type: 'string' },
    dir: { type: 'string' },
    services: { type: 'string', default: '1000' },
    queries: { type: 'string', default: '4000' },
    clients: { type: 'string', default: '4' },
    'no-record': { type: 'boolean', default: false },
  },
});

// ---- child roles ----

async function serveMinimal(): Promise<void> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const reply = dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 60, data: '192.0.2.1' }] });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  process.send!({ port: sock.address().port });
}

async function serveNode(services: number, upstreamPort: number, dir: string): Promise<void> {
  const { openSqliteStore } = await import('../src/storage/sqlite.js');
  const { NodeDns } = await import('../src/edge/dns/server.js');
  const { createLogger } = await import('../src/common/logger.js');
  const store = await openSqliteStore(path.join(dir, 'store.db'));
  for (let i = 0; i < services; i++) {
    const headless = i % 10 === 0;
    const name = `svc-${i}`;
    const ns = `ns-${i % 20}`;
    await store.create(`/registry/services/${ns}/${name}`, JSON.stringify({ metadata: { namespace: ns, name }, spec: { clusterIP: headless ? 'None' : `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80 }] } }));
    if (headless) {
      const endpoints = [1, 2, 3].map((k) => ({ addresses: [`10.88.${i >> 8}.${((i & 63) << 2) + k}`], conditions: { ready: true } }));
      await store.create(`/registry/endpointslices.discovery.k8s.io/${ns}/${name}-x`, JSON.stringify({ metadata: { namespace: ns, name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', endpoints }));
    }
  }
  const dns = new NodeDns({ store, log: createLogger('bench-dns', 'silent'), address: '127.0.0.1', port: 0, forwarder: { upstreams: [`127.0.0.1:${upstreamPort}`] } });
  await dns.start();
  process.send!({ port: dns.port });
}

// ---- parent ----

function start(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`bench child ${args.join(' ')} exited ${code}`)));
  });
}

/** Queries `total` names with `clients` in flight; latency samples (ms) and errors are appended to `into`. */
async function measure(port: number, names: (i: number) => string, total: number, clients: number, into: Samples = { ms: [], errors: 0 }): Promise<Samples> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = now();
        try {
          await queryDns({ host: '127.0.0.1', port, name: names(i), type: 'A', timeoutMs: 3000 });
          into.ms.push(since(t0));
        } catch {
          into.errors++;
        }
      }
    }),
  );
  return into;
}

interface Samples {
  ms: number[];
  errors: number;
}

const summary = (s: Samples) => {
  const d = distribution(s.ms);
  return { p50: round(d.p50, 3), p99: round(d.p99, 3), errors: s.errors };
};

async function main(): Promise<void> {
  const services = intOption(opt, 'services', 1);
  const queries = intOption(opt, 'queries', 10);
  const clients = intOption(opt, 'clients', 1);
  const report = newReport('dns', { services, queries, clients, transport: 'udp' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-dns-'));
  const upstream = await start(['--serve', 'minimal']);
  const minimal = await start(['--serve', 'minimal']);
  const node = await start(['--serve', 'node', '--services', String(services), '--upstream', String(upstream.port), '--dir', dir]);
  try {
    const svcName = (i: number) => `svc-${(i * 7) % services}.ns-${((i * 7) % services) % 20}.svc.cluster.local`;
    const headless = (i: number) => `svc-${(i * 10) % services}.ns-${((i * 10) % services) % 20}.svc.cluster.local`;
    const outside = (i: number) => `host-${i}.example.org`;
    // Warm up every server (JIT, first index build).
    for (const port of [node.port, minimal.port, upstream.port]) await measure(port, svcName, 200, clients);
    // Interleaved in rounds, so a burst of load from elsewhere on the machine hits every kind alike.
    const kinds = {
      base: { port: minimal.port, names: svcName },
      cluster: { port: node.port, names: svcName },
      headless: { port: node.port, names: headless },
      nxdomain: { port: node.port, names: (i: number) => `nope-${i}.ns-1.svc.cluster.local` },
      direct: { port: upstream.port, names: outside },
      forwarded: { port: node.port, names: outside },
      // The same 10 outside names again and again, as pods ask: answered from the node DNS' forward cache.
      cached: { port: node.port, names: (i: number) => `repeat-${i % 10}.example.org` },
    };
    const acc = Object.fromEntries(Object.keys(kinds).map((k) => [k, { ms: [], errors: 0 } as Samples])) as Record<keyof typeof kinds, Samples>;
    const ROUNDS = 10;
    for (let r = 0; r < ROUNDS; r++) for (const [k, v] of Object.entries(kinds)) await measure(v.port, (i) => v.names(i + r * queries), Math.ceil(queries / ROUNDS), clients, acc[k as keyof typeof kinds]);
    const [base, cluster, hl, nx, direct, forwarded, cached] = (['base', 'cluster', 'headless', 'nxdomain', 'direct', 'forwarded', 'cached'] as const).map((k) => summary(acc[k]));
    report.results = { base, cluster, headless: hl, nxdomain: nx, direct, forwarded, cached };
    const errors = [base, cluster, hl, nx, direct, forwarded, cached].reduce((a, r) => a + r!.errors, 0);
    if (errors) report.notes.push(`${errors} queries got no answer within 3 s`);
    report.notes.push(`the baseline and the upstream are the same minimal responder in two processes: their p50s (${base.p50} vs ${direct.p50} ms) show this run's noise floor; a ratio inside it says "no measurable difference"`);
    report.notes.push('small run on a 2-core machine shared with other engineers\' tests: read the ratios, not the absolute numbers');
    const rows: SummaryRow[] = [
      ['node DNS, ClusterIP Service A, p50 / p99', `${cluster.p50} / ${cluster.p99} ms`, `×${round(cluster.p50 / base.p50)} the minimal responder's p50`],
      ['node DNS, headless Service A (3 endpoints), p50 / p99', `${hl.p50} / ${hl.p99} ms`, `×${round(hl.p50 / base.p50)}`],
      ['node DNS, NXDOMAIN in the zone, p50 / p99', `${nx.p50} / ${nx.p99} ms`, `×${round(nx.p50 / base.p50)}`],
      ['minimal dns-packet responder (baseline), p50 / p99', `${base.p50} / ${base.p99} ms`, 'decode + one fixed A record + encode'],
      ['outside name via node DNS (forwarded), p50 / p99', `${forwarded.p50} / ${forwarded.p99} ms`, `×${round(forwarded.p50 / direct.p50)} asking the upstream directly`],
      ['outside name asked of the upstream directly, p50 / p99', `${direct.p50} / ${direct.p99} ms`, 'the same minimal responder as upstream'],
      ['outside name via node DNS, repeated (forward cache hit), p50 / p99', `${cached.p50} / ${cached.p99} ms`, `×${round(cached.p50 / direct.p50)} asking the upstream directly; ×${round(cached.p50 / forwarded.p50)} a forwarded miss`],
    ];
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    for (const c of [node, minimal, upstream]) c.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (opt.serve === 'minimal') await serveMinimal();
else if (opt.serve === 'node') await serveNode(intOption(opt, 'services', 1), Number(opt.upstream), opt.dir!);
else await main();
