/**
 * exec and port-forward through the hub against the same operations on containerd's local streaming server, on the
 * same node, in the same run, with the same client code (src/common/spdy):
 *  - through the hub: SPDY upgrade to the API server (TLS, admin credentials) → hub → the node's link → edge kubelet
 *    → containerd, the path kubectl's SPDY executor takes (its WebSocket one adds the API server's v5 translation);
 *  - local: CRI Exec / PortForward for a one-time URL, then SPDY straight to containerd on 127.0.0.1 (what the
 *    kubelet's own proxy does).
 * Measured: a whole `exec sh -c true` (request → exit status), an echo round trip inside one exec session (stdin →
 * `cat` → stdout), and a download through port-forward from busybox httpd in the pod.
 *
 *   npm run bench:streams [-- --execs 20 --echoes 200 --mb 32 --no-write]
 */
import { parseArgs } from 'node:util';
import { createToken, eventually, joinEdge, startCluster, type Cluster } from '../test/edge/cluster.js';
import { startRuntime, type RuntimeFixture } from '../test/runtime/env.js';
import { upgradeToSpdy } from '../src/common/spdy/upgrade.js';
import { apiSpdyOpener } from './lib/api-spdy.js';
import type { SpdySession, SpdyStream } from '../src/common/spdy/session.js';
import { distribution, intOption, round } from './lib/stats.js';
import { readdirSync, readFileSync } from 'node:fs';
import { sampleProcess } from '../test/harness/procstat.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    execs: { type: 'string', default: '20' },
    echoes: { type: 'string', default: '200' },
    mb: { type: 'string', default: '32' },
    'no-write': { type: 'boolean', default: false },
  },
});
const P = { execs: intOption(opt, 'execs', 1), echoes: intOption(opt, 'echoes', 1), mb: intOption(opt, 'mb', 1) };
const NODE = 'edge-bench';

/** How to open a SPDY session for an operation: through the API server, or to containerd's URL. */
type Opener = (kind: 'exec' | 'portforward', query: URLSearchParams) => Promise<SpdySession>;

function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('close', () => resolve(Buffer.concat(parts)));
  });
}

async function execOnce(open: Opener, cmd: string[]): Promise<string> {
  const q = new URLSearchParams();
  for (const c of cmd) q.append('command', c);
  q.set('stdout', 'true');
  const session = await open('exec', q);
  const error = await session.openStream({ streamtype: ['error'] });
  error.end();
  const stdout = await session.openStream({ streamtype: ['stdout'] });
  const [status] = await Promise.all([readAll(error), readAll(stdout)]);
  session.close();
  return status.toString();
}

async function echoRoundTrips(open: Opener, n: number): Promise<number[]> {
  const q = new URLSearchParams([['command', 'cat'], ['stdin', 'true'], ['stdout', 'true']]);
  const session = await open('exec', q);
  const error = await session.openStream({ streamtype: ['error'] });
  error.end();
  const stdin = await session.openStream({ streamtype: ['stdin'] });
  const stdout = await session.openStream({ streamtype: ['stdout'] });
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const line = `ping ${i}\n`;
    const t0 = performance.now();
    const got = new Promise<void>((resolve) => {
      let acc = '';
      const on = (d: Buffer) => {
        acc += d.toString();
        if (acc.includes(line)) {
          stdout.off('data', on);
          resolve();
        }
      };
      stdout.on('data', on);
    });
    stdin.write(line);
    await got;
    times.push(performance.now() - t0);
  }
  stdin.end();
  await readAll(error);
  session.close();
  return times;
}

async function download(open: Opener, bytes: number): Promise<number> {
  const session = await open('portforward', new URLSearchParams());
  const error = await session.openStream({ streamtype: ['error'], port: ['8080'], requestid: ['0'] });
  error.end();
  const data = await session.openStream({ streamtype: ['data'], port: ['8080'], requestid: ['0'] });
  const t0 = performance.now();
  // As kubectl does: the request is written and the stream left open; the response ends at its Content-Length.
  data.write('GET /big HTTP/1.0\r\n\r\n');
  let got = 0;
  let need = Infinity;
  let head = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    data.on('data', (d: Buffer) => {
      got += d.length;
      if (need === Infinity) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        const len = /content-length: (\d+)/i.exec(head.toString('latin1'));
        if (end >= 0 && len) need = end + 4 + Number(len[1]);
      }
      if (got >= need) resolve();
    });
    data.once('close', () => (got >= need ? resolve() : reject(new Error(`port-forward download got ${got} bytes of ${need}`))));
  });
  const ms = performance.now() - t0;
  session.close();
  if (need - got > 0 || need < bytes) throw new Error(`port-forward download got ${got} of ${need} bytes`);
  return (bytes / (1024 * 1024)) / (ms / 1000);
}

/** The pid of the `command` process whose command line names `needle` (the bench's containerd by its directory, not a shim). */
function pidByCmdline(command: string, needle: string): number {
  const pid = readdirSync('/proc').find((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return readFileSync(`/proc/${p}/comm`, 'latin1').trim() === command && readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(needle);
    } catch {
      return false;
    }
  });
  if (!pid) throw new Error(`no process with ${needle} in its command line`);
  return Number(pid);
}

/**
 * CPU milliseconds each process spent per MiB moved during `run` (the bench's own process includes the client and
 * the fault proxy on the node's link): where a byte costs, which throughput alone does not say.
 */
async function cpuPerMiB(pids: Record<string, number>, mib: number, run: () => Promise<number>): Promise<{ mibps: number; msPerMiB: Record<string, number> }> {
  const ownSeconds = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === process.pid ? ownSeconds() : sampleProcess(pid).cpuSeconds]));
  const before = cpu();
  const mibps = await run();
  const after = cpu();
  return { mibps, msPerMiB: Object.fromEntries(Object.keys(pids).map((k) => [k, round(((after[k]! - before[k]!) * 1000) / mib, 1)])) };
}

const describeCpu = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ');

async function main(): Promise<void> {
  const report = newReport('streams', { ...P, path: 'SPDY client → API server → hub → edge kubelet → containerd vs SPDY client → containerd (CRI URL)' });
  const rows: SummaryRow[] = [];
  let fx: RuntimeFixture | undefined;
  let c: Cluster | undefined;
  try {
    fx = await startRuntime();
    c = await startCluster('bench-streams');
    const edge = await joinEdge(c, NODE, await createToken(c), ['--runtime', 'cri', '--cri-socket', fx.socket]);
    const script = `mkdir -p /www && head -c ${P.mb * 1024 * 1024} /dev/urandom > /www/big && httpd -p 8080 -h /www && exec sleep 36000`;
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bench', namespace: 'default' },
      spec: { nodeName: NODE, containers: [{ name: 'main', image: fx.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] }] },
    }));
    const rt = fx.runtime;
    let containerId = '';
    let sandboxId = '';
    await eventually('bench pod running with its file', async () => {
      const cs = await rt.listContainers({ labelSelector: { 'io.kubernetes.pod.name': 'bench' }, state: { state: 'CONTAINER_RUNNING' } });
      if (!cs[0]) return false;
      containerId = cs[0].id;
      sandboxId = cs[0].podSandboxId;
      const r = await rt.execSync(containerId, ['sh', '-c', 'wc -c < /www/big'], 10);
      return Number(r.stdout.toString()) === P.mb * 1024 * 1024;
    }, 180_000);

    const openViaApi = await apiSpdyOpener(c.kubeconfig, c.apiPort);
    const viaHub: Opener = (kind, q) => openViaApi('bench', kind, q);
    const local: Opener = async (kind, q) => {
      const url = kind === 'exec'
        ? await rt.exec(containerId, q.getAll('command'), { stdin: q.get('stdin') === 'true', stdout: true, stderr: false, tty: false })
        : await rt.portForward(sandboxId, [8080]);
      return (await upgradeToSpdy({ url: new URL(url), protocols: kind === 'exec' ? ['v4.channel.k8s.io'] : ['portforward.k8s.io'] })).session;
    };

    const execTimes = async (open: Opener) => {
      const xs: number[] = [];
      for (let i = 0; i < P.execs; i++) {
        const t0 = performance.now();
        const status = await execOnce(open, ['sh', '-c', 'true']);
        if (!status.includes('Success')) throw new Error(`exec failed: ${status}`);
        xs.push(performance.now() - t0);
      }
      return distribution(xs);
    };
    await execOnce(viaHub, ['true']); // warm: TLS, the node's connection, the pod's first exec
    const hubExec = await execTimes(viaHub);
    const localExec = await execTimes(local);
    const hubEcho = distribution(await echoRoundTrips(viaHub, P.echoes));
    const localEcho = distribution(await echoRoundTrips(local, P.echoes));
    const containerd = pidByCmdline('containerd', fx.dir);
    const hubPids = { server: c.server.pid, edge: edge.proc.pid, containerd, 'bench (client + link proxy)': process.pid };
    const hub = await cpuPerMiB(hubPids, P.mb, () => download(viaHub, P.mb * 1024 * 1024));
    const localRun = await cpuPerMiB({ containerd, 'bench (client)': process.pid }, P.mb, () => download(local, P.mb * 1024 * 1024));
    const hubMBs = hub.mibps;
    const localMBs = localRun.mibps;
    report.results = { hubExec, localExec, hubEcho, localEcho, hubMBs, localMBs, hubCpuMsPerMiB: hub.msPerMiB, localCpuMsPerMiB: localRun.msPerMiB };
    rows.push(
      ['exec `sh -c true` through the hub, p50 / p99', `${round(hubExec.p50, 1)} / ${round(hubExec.p99, 1)} ms`, `×${round(hubExec.p50 / localExec.p50)} the local p50`],
      ['exec `sh -c true` on containerd locally, p50 / p99', `${round(localExec.p50, 1)} / ${round(localExec.p99, 1)} ms`, 'CRI Exec + SPDY to the streaming server'],
      ['echo round trip in an exec session through the hub, p50 / p99', `${round(hubEcho.p50, 2)} / ${round(hubEcho.p99, 2)} ms`, `×${round(hubEcho.p50 / localEcho.p50)} the local p50`],
      ['echo round trip in an exec session locally, p50 / p99', `${round(localEcho.p50, 2)} / ${round(localEcho.p99, 2)} ms`, 'stdin → cat → stdout'],
      [`port-forward download of ${P.mb} MiB through the hub`, `${round(hubMBs, 1)} MiB/s`, `${round((hubMBs / localMBs) * 100, 0)}% of local`],
      [`port-forward download of ${P.mb} MiB locally`, `${round(localMBs, 1)} MiB/s`, 'busybox httpd in the pod'],
      ['CPU ms per MiB through the hub, by process', describeCpu(hub.msPerMiB), `total ${round(Object.values(hub.msPerMiB).reduce((a, b) => a + b, 0), 1)}`],
      ['CPU ms per MiB locally, by process', describeCpu(localRun.msPerMiB), `total ${round(Object.values(localRun.msPerMiB).reduce((a, b) => a + b, 0), 1)}`],
    );
    report.notes.push('one run, small counts, on a 2-core machine shared with other engineers\' tests: read the ratios, not the absolute numbers');
  } finally {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  }
  publish(report, rows, { write: !opt['no-write'] });
}

void main().then(() => process.exit(0), (err: unknown) => {
  console.error(err);
  process.exit(1);
});
