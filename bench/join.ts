/**
 * Join benchmark (issue 18): what the real token join costs, beside the pre-minted identities bench:fleet uses.
 * bench:fleet joins its hollow nodes with certificates signed directly by the cluster CA after registering each Node
 * (bench/lib/hollow-identity.ts), so its join phase leaves out the join path itself. This bench measures that path
 * on one real `kedge server`: `real` = the edge agent's own joinCluster (CA discovery checked against the
 * --ca-cert-hash pin, a fresh key and CSR, POST /v1/join with a bootstrap token; the hub validates the token, registers
 * the Node, creates, approves and signs a CertificateSigningRequest); `pre-minted` = what bench:fleet does per node
 * (register the Node over the API, sign a bound certificate in this process). Both run in the same server, in
 * alternating slices so the machine's load hits both alike, at the same concurrency.
 *
 * Reports per path: joins/s, latency p50/p99, server CPU-ms per join (gross; the idle server's CPU is printed beside it), client CPU-ms per
 * join (this process: key generation and TLS for `real`; signing for `pre-minted`), and the time 10,000 real joins
 * would take at the measured rate (a projection, labelled as such).
 *
 * Usage: npm run bench:join [-- --joins 400 --concurrency 20 --slices 4 --no-record]
 */
import { parseArgs, promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Harness } from '../test/harness/processes.js';
import { kedgeCommand } from '../test/helpers/kedge-cli.js';
import { sampleProcess } from '../test/harness/procstat.js';
import { KubeHttp } from './lib/kube-http.js';
import { distribution, runConcurrent, round, now, since, intOption, type Distribution } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';
import { issueBoundNodeCredentials, registerNode } from './lib/hollow-identity.js';
import { joinCluster } from '../src/edge/join.js';
import { ensureCertificateAuthority, pkiDir } from '../src/pki/index.js';

const { values: opt } = parseArgs({
  options: {
    /** joins per path, split over the slices */
    joins: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '20' },
    /** alternating slices per path (real, pre-minted, real, ...) */
    slices: { type: 'string', default: '4' },
    'idle-seconds': { type: 'string', default: '3' },
    'no-record': { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof opt, min = 0) => intOption(opt, name, min);
const P = { joins: int('joins', 1), concurrency: int('concurrency', 1), slices: int('slices', 1), idleSeconds: int('idle-seconds', 1) };
if (P.joins < P.slices) throw new Error(`--joins ${P.joins} must be at least --slices ${P.slices}`);

type JoinPath = 'real' | 'pre-minted';
const PATHS: JoinPath[] = ['real', 'pre-minted'];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[bench:join ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface PathTotals {
  joins: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  serverCpuMs: number;
  clientCpuMs: number;
  latencies: number[];
}

async function main(): Promise<void> {
  const report = newReport('join', P);
  const h = new Harness('bench-join');
  process.once('SIGINT', () => void h.cleanup().then(() => process.exit(130)));
  try {
    const dataDir = h.tempDir('data');
    const [apiPort, hubPort] = [await h.freePort(), await h.freePort()];
    const serverArgs = ['server', '--data-dir', dataDir, '--bind-address', '127.0.0.1', '--secure-port', String(apiPort), '--hub-port', String(hubPort)];
    log(`starting kedge server (API :${apiPort}, hub :${hubPort})`);
    const server = await h.startKedge('kedge-server', serverArgs, { ready: { url: `https://127.0.0.1:${apiPort}/readyz`, timeoutMs: 60_000 } });
    const kubeconfig = path.join(dataDir, 'admin.kubeconfig');
    for (let i = 0; i < 100 && !existsSync(kubeconfig); i++) await sleep(100);
    const client = await KubeHttp.fromKubeconfig(kubeconfig, P.concurrency);
    const ca = await ensureCertificateAuthority(pkiDir(dataDir));
    const cmd = kedgeCommand(['token', 'create', '--kubeconfig', kubeconfig, '--ttl', '2h']);
    const [token, caCertHash] = (await promisify(execFile)(cmd.command, cmd.args)).stdout.trim().split('\n');
    if (!token || !caCertHash) throw new Error('kedge token create printed no token and CA hash');
    const hubUrl = `https://127.0.0.1:${hubPort}`;

    const idle0 = sampleProcess(server.pid);
    await sleep(P.idleSeconds * 1000);
    const idle1 = sampleProcess(server.pid);
    const idleCoresServer = (idle1.cpuSeconds - idle0.cpuSeconds) / ((idle1.at - idle0.at) / 1000);
    log(`idle server CPU ${round(idleCoresServer, 3)} cores`);

    const joinOnce: Record<JoinPath, (name: string) => Promise<unknown>> = {
      real: (name) => joinCluster({ server: hubUrl, token, caCertHash, nodeName: name, dataDir: h.tempDir(name) }),
      'pre-minted': async (name) => issueBoundNodeCredentials(ca, name, await registerNode(client, name)),
    };
    const totals = new Map<JoinPath, PathTotals>(PATHS.map((p) => [p, { joins: 0, errors: 0, wallMs: 0, serverCpuMs: 0, clientCpuMs: 0, latencies: [] }]));
    const perSlice = Math.floor(P.joins / P.slices);
    for (let s = 0; s < P.slices; s++) {
      for (const p of PATHS) {
        const t = totals.get(p)!;
        const count = s === P.slices - 1 ? P.joins - perSlice * (P.slices - 1) : perSlice;
        const base = t.joins;
        const before = sampleProcess(server.pid);
        const client0 = process.cpuUsage();
        const run = await runConcurrent(count, P.concurrency, async (i) => {
          const start = now();
          await joinOnce[p](`join-${p === 'real' ? 'r' : 'm'}-${String(base + i).padStart(5, '0')}`);
          t.latencies.push(since(start));
        });
        const clientCpu = process.cpuUsage(client0);
        const after = sampleProcess(server.pid);
        t.joins += count;
        t.errors += run.errors;
        t.firstError ??= run.firstError;
        t.wallMs += run.wallMs;
        t.serverCpuMs += (after.cpuSeconds - before.cpuSeconds) * 1000;
        t.clientCpuMs += (clientCpu.user + clientCpu.system) / 1000;
        log(`slice ${s + 1}/${P.slices} ${p}: ${count} joins in ${round(run.wallMs / 1000, 1)} s (${run.errors} errors${run.firstError ? `: ${run.firstError}` : ''})`);
      }
    }

    const rows: SummaryRow[] = [];
    const perJoin = new Map<JoinPath, { rate: number; server: number; client: number; lat: Distribution }>();
    for (const p of PATHS) {
      const t = totals.get(p)!;
      const ok = t.joins - t.errors;
      const m = { rate: (ok / t.wallMs) * 1000, server: t.serverCpuMs / Math.max(ok, 1), client: t.clientCpuMs / Math.max(ok, 1), lat: distribution(t.latencies) };
      perJoin.set(p, m);
      rows.push([`${p}: joins/s at concurrency ${P.concurrency}`, `${round(m.rate, 1)}/s`, `${ok} of ${t.joins} joined${t.errors ? `; first error: ${t.firstError}` : ''}`]);
      rows.push([`${p}: latency p50 / p99`, `${round(m.lat.p50, 0)} / ${round(m.lat.p99, 0)} ms`]);
      rows.push([`${p}: server CPU per join`, `${round(m.server, 2)} ms`, `gross: the idle server used ${round(idleCoresServer, 3)} cores`]);
      rows.push([`${p}: client CPU per join`, `${round(m.client, 2)} ms`, p === 'real' ? 'this process: key + CSR, TLS, pin check' : 'this process: certificate signing, API client']);
    }
    const real = perJoin.get('real')!;
    const minted = perJoin.get('pre-minted')!;
    rows.push(['real / pre-minted: server CPU per join', `${round(real.server / Math.max(minted.server, 1e-9), 2)}×`]);
    rows.push(['real / pre-minted: joins/s', `${round(real.rate / Math.max(minted.rate, 1e-9), 2)}×`]);
    rows.push(['projection: 10,000 real joins at the measured rate', `${round(10_000 / real.rate, 0)} s`, `server CPU ${round((10_000 * real.server) / 1000, 0)} s; a projection from this run, not a 10,000-join run`]);
    report.notes.push(`alternating slices (${P.slices} per path); nodes do not connect after joining (their heartbeats are bench:fleet's subject)`);
    publish(report, rows, { write: !opt['no-record'] });
  } finally {
    await h.cleanup();
  }
}

await main();
