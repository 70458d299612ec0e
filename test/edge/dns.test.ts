/**
 * Issue 14, node-local DNS: a real `kedge server`, a real `kedge edge join --cluster-dns 127.0.0.1 --dns-port 0`
 * (no containerd: the DNS is what is tested, pods resolving through it are in test/services), Services and an
 * EndpointSlice made with kubectl, queries over real UDP and TCP sockets to the agent. Then the cloud is killed
 * (kill -9) and the agent too, the agent is started again offline, and the same names still resolve from its store.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordType } from 'dns-packet';
import { queryDns, recordData, type DnsReply } from '../../src/edge/dns/query.js';
import { createToken, edgeRunArgs, eventually, joinEdge, startCluster, type Cluster, type Edge } from './cluster.js';

let c: Cluster;
let e: Edge;
let dnsPort = 0;
let clusterIP = '';

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] } },
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'db-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4', ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
    endpoints: [{ addresses: ['10.88.7.1'], hostname: 'db-0', conditions: { ready: true } }, { addresses: ['10.88.7.2'], conditions: { ready: true } }, { addresses: ['10.88.7.3'], conditions: { ready: false } }],
  },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'upstream.example.invalid' } },
];

function nodeDnsPort(output: string): number {
  const all = [...output.matchAll(/node DNS on 127\.0\.0\.1:(\d+)/g)];
  return all.length ? Number(all[all.length - 1]![1]) : 0;
}

const ask = (name: string, type: RecordType, transport: 'udp' | 'tcp' = 'udp') => queryDns({ host: '127.0.0.1', port: dnsPort, name, type, transport });
const data = (p: DnsReply) => (p.answers ?? []).map((a) => `${a.type} ${typeof recordData(a) === 'string' ? String(recordData(a)) : JSON.stringify(recordData(a))}`).sort();

before(async () => {
  c = await startCluster('edge-dns');
  const token = await createToken(c);
  e = await joinEdge(c, 'dns-a', token, ['--cluster-dns', '127.0.0.1', '--dns-port', '0']);
  dnsPort = nodeDnsPort(e.proc.tail(200));
  assert.ok(dnsPort > 0, `the agent prints where its DNS listens:\n${e.proc.tail()}`);
  await c.kubectl(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  clusterIP = (await c.kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  assert.match(clusterIP, /^\d+\.\d+\.\d+\.\d+$/);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

/** Every record kind the node answers, over one transport. */
async function checkRecords(transport: 'udp' | 'tcp'): Promise<void> {
  assert.deepEqual(data(await ask('web.default.svc.cluster.local', 'A', transport)), [`A ${clusterIP}`]);
  assert.deepEqual(data(await ask('_http._tcp.web.default.svc.cluster.local', 'SRV', transport)), [`SRV {"priority":0,"weight":100,"port":80,"target":"web.default.svc.cluster.local"}`]);
  assert.deepEqual(data(await ask('db.default.svc.cluster.local', 'A', transport)), ['A 10.88.7.1', 'A 10.88.7.2'], 'headless: the ready endpoints');
  assert.deepEqual(data(await ask('db-0.db.default.svc.cluster.local', 'A', transport)), ['A 10.88.7.1']);
  assert.ok(data(await ask('ext.default.svc.cluster.local', 'A', transport)).includes('CNAME upstream.example.invalid'));
  const nx = await ask('nope.default.svc.cluster.local', 'A', transport);
  assert.equal(nx.rcode, 'NXDOMAIN');
  const nodata = await ask('web.default.svc.cluster.local', 'AAAA', transport);
  assert.equal(nodata.rcode, 'NOERROR');
  assert.equal(nodata.answers?.length ?? 0, 0);
}

test('the edge agent answers cluster names from what the hub sent it, over UDP and TCP', async () => {
  await eventually('the edge resolves the headless service', async () => {
    const r = await ask('db.default.svc.cluster.local', 'A').catch(() => undefined);
    return r?.answers?.length === 2;
  });
  await checkRecords('udp');
  await checkRecords('tcp');
});

test('with the cloud gone (kill -9) and the agent restarted offline, the same names resolve', async () => {
  await c.server.kill9();
  await e.proc.kill9();
  e.proc = await c.h.startKedge('dns-a-offline', edgeRunArgs(e), { ready: { logLine: /node DNS on/, timeoutMs: 60_000 } });
  dnsPort = nodeDnsPort(e.proc.tail(200));
  assert.ok(dnsPort > 0);
  assert.doesNotMatch(e.proc.tail(200), /connected to hub/);
  await checkRecords('udp');
  await checkRecords('tcp');
});
