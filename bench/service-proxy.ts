/**
 * Service throughput and connection setup latency through the edge service proxy (issue 14), as a ratio to the same
 * traffic sent to the pod IP directly. The Services test site (test/services/cluster.ts): two edge nodes in network
 * namespaces with their own containerd, one pool; a busybox httpd pod on node 2 serving a file; the client runs in
 * node 1's network namespace (a route to the ClusterIP range is added there for it: pods have a default route, the
 * bench's host-side client does not). Both paths cross the same veth LAN and host-gw route; the proxied one adds the
 * nftables DNAT (and conntrack) on node 1. Measured interleaved, in rounds:
 *   connect: N TCP connections opened and closed one after another, p50/p99 of connect time;
 *   throughput: an M MiB download over HTTP, MiB/s.
 * Usage: npm run bench:service-proxy [-- --connects 300 --mib 64 --rounds 3]   (needs root; ~2 min on a quiet machine)
 */
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { busybox, startSite, waitReadyPods } from '../test/services/cluster.js';

const { values } = parseArgs({ options: { connects: { type: 'string', default: '300' }, mib: { type: 'string', default: '64' }, rounds: { type: 'string', default: '3' } } });
const CONNECTS = Number(values.connects);
const MIB = Number(values.mib);
const ROUNDS = Number(values.rounds);

// Runs inside node 1's namespace: prints JSON {connectMs: number[], mibPerSec}.
const CLIENT = `
const net = require('node:net'); const http = require('node:http');
const [host, port, n, path] = process.argv.slice(1);
(async () => {
  const times = [];
  for (let i = 0; i < Number(n); i++) {
    const t = process.hrtime.bigint();
    await new Promise((res, rej) => { const s = net.connect(Number(port), host, () => { times.push(Number(process.hrtime.bigint() - t) / 1e6); s.destroy(); res(); }); s.on('error', rej); });
  }
  const t0 = process.hrtime.bigint(); let bytes = 0;
  await new Promise((res, rej) => http.get({ host, port: Number(port), path }, (r) => { r.on('data', (d) => (bytes += d.length)); r.on('end', res); }).on('error', rej));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ connectMs: times, mibPerSec: bytes / 1048576 / s, bytes }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
`;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function main(): Promise<void> {
  const site = await startSite('bench-svc', [{ name: 'edge-a1', pool: 'site-a' }, { name: 'edge-a2', pool: 'site-a' }]);
  try {
    await site.apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'files', namespace: 'default', labels: { app: 'files' } },
      spec: { nodeName: 'edge-a2', containers: [busybox(site, 'httpd', `mkdir -p /www && dd if=/dev/zero of=/www/blob bs=1048576 count=${MIB} 2>/dev/null && exec httpd -f -p 8080 -h /www`, { readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } })] },
    });
    await site.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'files', namespace: 'default' }, spec: { selector: { app: 'files' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const [pod] = await waitReadyPods(site, 'app=files', 1);
    const clusterIP = (await site.kubectl(['get', 'svc', 'files', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    const a1 = site.node('edge-a1');
    site.lab.exec(a1.lab.netns, 'ip', ['route', 'replace', '10.43.0.0/16', 'dev', 'eth0']);
    const run = (host: string, port: number) => JSON.parse(site.lab.exec(a1.lab.netns, process.execPath, ['-e', CLIENT, host, String(port), String(CONNECTS), '/blob'])) as { connectMs: number[]; mibPerSec: number; bytes: number };
    // Wait for the proxy's rules and the route to the pod (the first answer through each path).
    for (const [h, p] of [[pod!.status!.podIP!, 8080], [clusterIP, 80]] as const) {
      for (let i = 0; ; i++) {
        try {
          execFileSync('nsenter', [`--net=/run/netns/${a1.lab.netns}`, '--', process.execPath, '-e', `require('node:net').connect(${p}, '${h}', function () { this.destroy(); }).on('error', () => process.exit(1))`], { timeout: 5000 });
          break;
        } catch {
          if (i > 120) throw new Error(`${h}:${p} never answered`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
    const direct = { c: [] as number[], t: [] as number[] };
    const proxied = { c: [] as number[], t: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      const d = run(pod!.status!.podIP!, 8080);
      const s = run(clusterIP, 80);
      if (d.bytes !== MIB * 1048576 || s.bytes !== MIB * 1048576) throw new Error(`short download: ${d.bytes} / ${s.bytes}`);
      direct.c.push(...d.connectMs); direct.t.push(d.mibPerSec);
      proxied.c.push(...s.connectMs); proxied.t.push(s.mibPerSec);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`rounds=${ROUNDS} connects/round=${CONNECTS} download=${MIB} MiB, client in node 1's namespace, server pod on node 2`);
    console.log(`connect p50: direct ${pct(direct.c, 50).toFixed(3)} ms, ClusterIP ${pct(proxied.c, 50).toFixed(3)} ms, ratio ${(pct(proxied.c, 50) / pct(direct.c, 50)).toFixed(2)}`);
    console.log(`connect p99: direct ${pct(direct.c, 99).toFixed(3)} ms, ClusterIP ${pct(proxied.c, 99).toFixed(3)} ms, ratio ${(pct(proxied.c, 99) / pct(direct.c, 99)).toFixed(2)}`);
    console.log(`throughput: direct ${mean(direct.t).toFixed(0)} MiB/s, ClusterIP ${mean(proxied.t).toFixed(0)} MiB/s, ratio ${(mean(proxied.t) / mean(direct.t)).toFixed(2)}`);
  } finally {
    await site.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
