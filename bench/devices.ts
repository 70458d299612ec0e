/**
 * KubeEdge devices through a real `kedge server` and a real `kedge edge join --runtime none` (default embedded MQTT
 * broker, on an OS-chosen port), driven by an MQTT client written to KubeEdge's twin topics (the mappers' virtual
 * device is not wired into the agent binary yet, so devices are driven by MQTT publishes, one report per device).
 *
 *  - device-to-cloud twin latency: MQTT twin/update (actual value) → the value in a DeviceStatus watch event;
 *    sequential samples, p50/p99.
 *  - MQTT twin updates/s through the agent: N twin/update publishes in flight, until N twin/update/result answers;
 *    baseline in the same run: N plain publishes through the same broker to a subscriber (no twin processing).
 *  - agent RSS with 0, 100 and 1,000 devices bound to the node (each reported once), ratio to the 0-device agent.
 *
 *   npm run bench:devices [-- --samples 50 --updates 2000 --devices 100,1000 --no-write]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { createToken, eventually, startCluster, type Cluster } from '../test/edge/cluster.js';
import { TwinClient } from '../test/devices/mqtt-client.js';
import { distribution, intOption, round, toMiB } from './lib/stats.js';
import { newReport, publish, type SummaryRow } from './lib/report.js';

const { values: opt } = parseArgs({
  options: {
    samples: { type: 'string', default: '50' },
    updates: { type: 'string', default: '2000' },
    devices: { type: 'string', default: '100,1000' },
    'no-write': { type: 'boolean', default: false },
  },
});
const P = { samples: intOption(opt, 'samples', 1), updates: intOption(opt, 'updates', 1), devices: String(opt.devices).split(',').map(Number) };
const NODE = 'dev-bench';

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

async function steadyRss(pid: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 10; i++) {
    xs.push(rssBytes(pid));
    await sleep(500);
  }
  return distribution(xs).p50;
}

const MODEL = {
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: 'bench-model', namespace: 'default' },
  spec: { protocol: 'virtual', properties: [{ name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' }, { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite' }] },
};
const device = (name: string) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name, namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'bench-model' }, nodeName: NODE, protocol: { protocolName: 'virtual' },
    properties: [{ name: 'temperature', reportToCloud: true }, { name: 'setpoint', desired: { value: '20' } }],
  },
});

async function applyDevices(c: Cluster, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 200) {
    const items = [];
    for (let j = i; j < Math.min(to, i + 200); j++) items.push(device(`dev-${j}`));
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  }
}

/** How many devices the edge's twin module holds (KubeEdge's membership/get over MQTT). */
async function membership(client: TwinClient): Promise<number> {
  const from = client.messages.length;
  const id = `m-${Date.now()}`;
  await client.publish(`$hw/events/node/${NODE}/membership/get`, { event_id: id, timestamp: Date.now() });
  const r = await client.waitFor((m) => m.topic.endsWith('/membership/get/result') && m.payload.event_id === id, 'membership result', 30_000, from);
  return (r.payload.devices as unknown[]).length;
}

async function main(): Promise<void> {
  const report = newReport('devices', { ...P, agent: 'kedge edge join --runtime none, embedded aedes broker', driver: 'MQTT publishes (KubeEdge twin topics), one client' });
  const rows: SummaryRow[] = [];
  let c: Cluster | undefined;
  try {
    c = await startCluster('bench-devices');
    const token = await createToken(c);
    const agent = await c.h.startKedge(NODE, ['edge', 'join', '--server', `https://127.0.0.1:${c.hubPort}`, '--ca-cert-hash', token.hash, '--node-name', NODE,
      '--data-dir', c.h.tempDir(NODE), '--local-api-port', '0', '--runtime', 'none', '--mqtt-port', '0'],
    { ready: { logLine: /connected to hub/, timeoutMs: 120_000 }, env: { KEDGE_TOKEN: token.token } });
    const url = (await agent.waitForLog(/device twin MQTT on (mqtt:\/\/\S+)/, 30_000))[1]!;
    const cluster = c;
    await sleep(10_000);
    const rss0 = await steadyRss(agent.pid);

    // ---- latency ----
    await c.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [MODEL, device('lat-1')] }));
    const client = await TwinClient.connect(url);
    await eventually('lat-1 on the edge', async () => (await membership(client)) === 1, 60_000, 500);
    const kc = new KubeConfig();
    kc.loadFromFile(c.kubeconfig);
    const waiters = new Map<string, (t: number) => void>();
    const req = await new Watch(kc).watch('/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicestatuses', {}, (_type, obj: { metadata: { name: string }; status?: { twins?: Array<{ propertyName: string; reported?: { value: string } }> } }) => {
      const v = obj.status?.twins?.find((t) => t.propertyName === 'temperature')?.reported?.value;
      if (obj.metadata.name === 'lat-1' && v !== undefined) waiters.get(v)?.(performance.now());
    }, () => {});
    const lat: number[] = [];
    for (let i = 0; i < P.samples + 3; i++) {
      const value = `${1000 + i}.5`;
      const seen = new Promise<number>((resolve) => waiters.set(value, resolve));
      const t0 = performance.now();
      await client.reportActual('default', 'lat-1', { temperature: value });
      const t1 = await Promise.race([seen, sleep(30_000).then(() => NaN)]);
      waiters.delete(value);
      if (i >= 3) lat.push(t1 - t0); // first samples warm the path up
    }
    (req as { abort?: () => void }).abort?.();
    const latD = distribution(lat.filter((x) => Number.isFinite(x)));

    // ---- throughput: raw broker baseline, then twin updates ----
    const rawTopic = 'bench/raw';
    await client.client.subscribeAsync(rawTopic, { qos: 1 });
    const rawRate = await (async () => {
      const from = client.messages.length;
      const t0 = performance.now();
      for (let i = 0; i < P.updates; i++) void client.client.publishAsync(rawTopic, JSON.stringify({ event_id: `r${i}`, timestamp: Date.now(), twin: { temperature: { actual: { value: String(i) } } } }), { qos: 1 });
      await eventually('raw messages back', async () => client.messages.length - from >= P.updates, 300_000, 20);
      return P.updates / ((performance.now() - t0) / 1000);
    })();
    const twinRate = await (async () => {
      let results = 0;
      client.client.on('message', (topic) => { if (topic.endsWith('lat-1/twin/update/result')) results++; });
      const t0 = performance.now();
      for (let i = 0; i < P.updates; i++) {
        void client.client.publishAsync('$hw/events/device/default/lat-1/twin/update', JSON.stringify({ event_id: `t${i}`, timestamp: Date.now(), twin: { temperature: { actual: { value: String(i) } } } }), { qos: 1 });
      }
      await eventually('twin results', async () => results >= P.updates, 300_000, 20);
      return P.updates / ((performance.now() - t0) / 1000);
    })();

    // ---- RSS with N devices ----
    const rssRows: Array<[number, number]> = [];
    let have = 0;
    for (const n of P.devices) {
      await applyDevices(cluster, have, n);
      have = n;
      await eventually(`${n} devices on the edge`, async () => (await membership(client)) === n + 1, 300_000, 1000);
      for (let i = 0; i < n; i++) await client.reportActual('default', `dev-${i}`, { temperature: `${i}.0` });
      await eventually(`dev-${n - 1} reported in the cloud`, async () => (await cluster.kubectl(['get', 'devicestatus', `dev-${n - 1}`, '-o', 'jsonpath={.status.twins[0].reported.value}']).catch(() => '')) === `${n - 1}.0`, 300_000, 1000);
      await sleep(5000);
      rssRows.push([n, await steadyRss(agent.pid)]);
    }
    await client.close();

    rows.push(
      ['device→cloud twin latency p50 / p99', `${round(latD.p50, 1)} / ${round(latD.p99, 1)} ms`, `${latD.count} sequential MQTT twin/update → DeviceStatus watch event (reportCycle 0)`],
      ['MQTT twin updates/s through the agent', `${Math.round(twinRate)}/s`, `${P.updates} twin/update in flight until every twin/update/result; ×${round(twinRate / rawRate, 2)} the raw broker round trip`],
      ['MQTT raw publish→subscriber through the same broker (baseline)', `${Math.round(rawRate)}/s`, 'same client, same payload, no twin processing'],
      ['agent RSS, 0 devices (baseline)', `${toMiB(rss0)} MiB`, 'embedded broker up, idle'],
      ...rssRows.map(([n, b]): SummaryRow => [`agent RSS, ${n} devices`, `${toMiB(b)} MiB`, `×${round(b / rss0, 2)} the 0-device agent; each device reported once over MQTT`]),
    );
    report.results = { latencyMs: latD, twinUpdatesPerSecond: twinRate, rawPublishesPerSecond: rawRate, rss0Bytes: rss0, rssByDevices: Object.fromEntries(rssRows) };
    report.notes.push('devices driven by MQTT publishes, not by the virtual mapper (not wired into `kedge edge` when this ran)');
  } finally {
    await c?.proxy.close();
    await c?.h.cleanup();
  }
  publish(report, rows, { write: !opt['no-write'] });
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench:devices failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
