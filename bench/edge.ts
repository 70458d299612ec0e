/**
 * The edge agent as users run it: one real `kedge server`, a real token join, `kedge edge join --runtime cri`
 * against Kedge's own containerd (CRI client loaded), default heartbeat/keepalive. Measures the agent process's
 * RSS at idle with 0 pods, with N pods of a Deployment Running, its peak during the rollout (VmHWM reset at idle,
 * issue 19: no higher than idle + what the pods need = the settled N-pod RSS) and over the whole run;
 * containerd and the runc shims separately. Baseline in the same run: the same agent joined with `--runtime none`
 * (no CRI client, no pod manager), so the ratio shows what the runtime side costs.
 *
 * Nothing else is run here: figures of other projects (edgecore, the K3s agent) are quoted in the notes with
 * their source, never printed as measurements.
 *
 *   npm run bench:edge [-- --pods 30 --idle-seconds 20 --no-write]
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createToken, eventually, startCluster, type Cluster } from '../test/edge/cluster.js';
import { startRuntime, type RuntimeFixture } from '../test/runtime/env.js';
import type { ManagedProcess } from '../test/harness/processes.js';
import { intOption, toMiB } from './lib/stats.js';
import { resetPeakRss, statusKiB, steadyRssBytes } from './lib/rss.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    pods: { type: 'string', default: '30' },
    'idle-seconds': { type: 'string', default: '20' },
    'no-write': { type: 'boolean', default: false },
  },
});
const P = { pods: intOption(opt, 'pods', 1), idleSeconds: intOption(opt, 'idle-seconds', 1) };

function rssOfMatching(pattern: RegExp): number {
  let bytes = 0;
  for (const line of execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m || !pattern.test(m[2]!)) continue;
    try {
      bytes += statusKiB(Number(m[1]), 'VmRSS') * 1024;
    } catch {
      // the process ended between ps and /proc
    }
  }
  return bytes;
}

/** `kedge edge join` as the README shows it (token in KEDGE_TOKEN; default heartbeat and keepalive; local API on an OS-chosen port). */
async function join(c: Cluster, name: string, runtimeFlags: string[]): Promise<ManagedProcess> {
  const token = await createToken(c);
  return c.h.startKedge(
    name,
    ['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--ca-cert-hash', token.hash, '--node-name', name,
      '--data-dir', c.h.tempDir(name), '--local-api-port', '0', ...runtimeFlags],
    { ready: { logLine: /connected to hub/, timeoutMs: 120_000 }, env: { KEDGE_TOKEN: token.token } },
  );
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench:edge needs root (containerd, runc, CNI)');
  const report = newReport('edge', { pods: P.pods, idleSeconds: P.idleSeconds, agent: 'kedge edge join, default flags', runtime: 'containerd 1.6 (CRI v1) + runc + CNI bridge' });
  const rows: SummaryRow[] = [];
  let fx: RuntimeFixture | undefined;
  let c: Cluster | undefined;
  try {
    fx = await startRuntime();
    c = await startCluster('bench-edge');

    // Baseline: no CRI client, no pod manager.
    const bare = await join(c, 'rss-none', ['--runtime', 'none']);
    await sleep(P.idleSeconds * 1000);
    const bareIdle = await steadyRssBytes(bare.pid);
    await bare.stop();

    // The agent as users run it.
    const agent = await join(c, 'rss-cri', ['--runtime', 'cri', '--cri-socket', fx.socket]);
    await sleep(P.idleSeconds * 1000);
    const idle = await steadyRssBytes(agent.pid);
    // The rollout's own peak: VmHWM from here on (join and start-up excluded).
    const joinPeak = statusKiB(agent.pid, 'VmHWM') * 1024;
    resetPeakRss(agent.pid);
    const rolloutStart = Date.now();
    const runtime = fx;
    const cluster = c;
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'rss', namespace: 'default' },
      spec: {
        replicas: P.pods,
        selector: { matchLabels: { app: 'rss' } },
        template: {
          metadata: { labels: { app: 'rss' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': 'rss-cri' },
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'main', image: runtime.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
          },
        },
      },
    }));
    await eventually(`${P.pods} pods Running`, async () => {
      const out = await cluster.kubectl(['get', 'pods', '-l', 'app=rss', '-o', 'jsonpath={range .items[*]}{.status.phase}{"\\n"}{end}']);
      const running = out.split('\n').filter((p) => p === 'Running').length;
      return running === P.pods || `${running}/${P.pods} Running`;
    }, 900_000, 1000);
    const rolloutSeconds = (Date.now() - rolloutStart) / 1000;
    const rolloutPeak = statusKiB(agent.pid, 'VmHWM') * 1024;
    await sleep(P.idleSeconds * 1000);
    const withPods = await steadyRssBytes(agent.pid);
    const peak = Math.max(joinPeak, statusKiB(agent.pid, 'VmHWM') * 1024);
    const containerd = rssOfMatching(new RegExp(`containerd --config ${runtime.dir.replace(/[/.]/g, '\\$&')}`));
    const shims = rssOfMatching(/containerd-shim-runc-v2/);
    await agent.stop();

    rows.push(
      ['agent RSS idle, 0 pods, --runtime cri', `${toMiB(idle)} MiB`, `as users run it; ×${(idle / bareIdle).toFixed(2)} the --runtime none baseline`],
      ['agent RSS idle, 0 pods, --runtime none (baseline)', `${toMiB(bareIdle)} MiB`, 'same join, no CRI client or pod manager'],
      [`agent RSS with ${P.pods} pods Running`, `${toMiB(withPods)} MiB`, `${toMiB((withPods - idle) / P.pods)} MiB per pod over idle`],
      [`agent peak RSS during the ${P.pods}-pod rollout`, `${toMiB(rolloutPeak)} MiB`, `VmHWM reset at idle, read when all Running (${rolloutSeconds.toFixed(0)} s); ${toMiB(rolloutPeak - withPods)} MiB over the settled ${P.pods}-pod RSS (issue 19 goal: ≤ 0 plus noise)`],
      ['agent peak RSS (VmHWM), whole run', `${toMiB(peak)} MiB`, `join, image checks, ${P.pods} sandboxes started; join/start-up alone ${toMiB(joinPeak)} MiB`],
      ['containerd RSS', `${toMiB(containerd)} MiB`, `plus ${toMiB(shims)} MiB for the runc shims on the machine (not the agent's)`],
    );
    report.results = { agentRolloutPeakRssBytes: rolloutPeak, agentJoinPeakRssBytes: joinPeak, rolloutSeconds, agentIdleRssBytes: idle, agentIdleNoRuntimeRssBytes: bareIdle, agentWithPodsRssBytes: withPods, agentPeakRssBytes: peak, containerdRssBytes: containerd, shimRssBytes: shims };
    report.notes.push(
      'not measured here (no download of other projects is possible on these machines): KubeEdge publishes "memory footprint down to ~70MB" for edgecore (project README); issue 19 reports edgecore v1.15 at 80 MiB (0 pods) / 99 MiB (30 pods) / 104 MiB peak beside a real cluster, measured elsewhere',
      'docs.k3s.io "Resource Profiling" (K3s v1.26.5) gives 275 M minimum RAM for a K3s agent, which includes containerd: compare with agent + containerd, not the agent alone',
    );
  } finally {
    await c?.proxy.close();
    await c?.h.cleanup();
    await fx?.stop();
  }
  publish(report, rows, { write: !opt['no-write'] });
}

main().catch((err) => {
  process.stderr.write(`bench:edge failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
