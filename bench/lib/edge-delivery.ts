/**
 * Create→delivered at edge nodes through real `kedge server` processes on one datastore (bench:datastores' second
 * part): one or two servers, hollow nodes (src/sim: the real EdgeAgent on the fake runtime, in this process) spread
 * over their hubs, Services created through the first server's API (every node receives every Service).
 *  - latency: Services created one at a time, each timed from its POST to its arrival in every node's store;
 *  - burst: `burst` Services created at once (8 in flight), timed until every node holds all of them.
 */
import { Fleet } from '../../src/sim/fleet.js';
import { ensureCertificateAuthority, pkiDir } from '../../src/pki/index.js';
import type { Harness } from '../../test/harness/processes.js';
import { copyBootstrapPki, startServer, type HaServer } from '../../test/ha/ha-cluster.js';
import { issueBoundNodeCredentials, registerNode } from './hollow-identity.js';
import { KubeHttp } from './kube-http.js';
import { distribution, now, runConcurrent, since, type Distribution } from './stats.js';

export interface EdgeDeliveryOptions {
  /** `--datastore-endpoint` (sqlite, an etcd URL, a postgres URL). */
  endpoint: string;
  servers: 1 | 2;
  nodes: number;
  /** Services created one at a time for the latency distribution. */
  creates: number;
  burst: number;
  label: string;
}

export interface EdgeDeliveryResult {
  /** Every (Service, node) pair: ms from the POST to the node's store. */
  perNodeMs: Distribution;
  /** ms until every node held all `burst` Services. */
  burstMs: number;
}

const NS = 'default';

export async function edgeDelivery(h: Harness, o: EdgeDeliveryOptions): Promise<EdgeDeliveryResult> {
  const dirs = [h.tempDir(`${o.label}-server-0`), h.tempDir(`${o.label}-server-1`)];
  const servers: HaServer[] = [await startServer(h, `${o.label}-server-0`, dirs[0]!, o.endpoint)];
  if (o.servers === 2) {
    copyBootstrapPki(dirs[0]!, dirs[1]!);
    servers.push(await startServer(h, `${o.label}-server-1`, dirs[1]!, o.endpoint));
  }
  const api = await KubeHttp.fromKubeconfig(servers[0]!.kubeconfig, 16);
  const ca = await ensureCertificateAuthority(pkiDir(dirs[0]!));
  // Arrival time per Service key per node.
  const arrivals = new Map<string, Map<string, number>>();
  const fleet = new Fleet({
    hubUrl: (i) => servers[i % servers.length]!.hubUrl,
    namePrefix: `${o.label}-n`,
    baseDir: h.tempDir(`${o.label}-fleet`),
    credentials: async (name) => issueBoundNodeCredentials(ca, name, await registerNode(api, name)),
    startConcurrency: 10,
    startGateMs: 30_000,
    observer: {
      applied: (node, key, kind, at) => {
        if (kind !== 'upsert' || !key.includes(`/services/${NS}/${o.label}-svc-`)) return;
        const name = key.slice(key.lastIndexOf('/') + 1);
        let m = arrivals.get(name);
        if (!m) arrivals.set(name, (m = new Map()));
        if (!m.has(node.name)) m.set(node.name, at);
      },
    },
  });
  try {
    await fleet.grow(o.nodes);
    await waitUntil(() => fleet.nodes.every((n) => n.connected && n.synced), 300_000, 'every node connected and synced');
    const service = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { ports: [{ port: 80 }] } });
    const allHave = (names: string[]) => () => names.every((n) => (arrivals.get(n)?.size ?? 0) === o.nodes);

    const samples: number[] = [];
    for (let i = 0; i < o.creates; i++) {
      const name = `${o.label}-svc-${i}`;
      const t0 = now();
      await api.json('POST', `/api/v1/namespaces/${NS}/services`, service(name));
      await waitUntil(allHave([name]), 60_000, `${name} at every node`);
      for (const at of arrivals.get(name)!.values()) samples.push(at - t0);
    }
    const burstNames = Array.from({ length: o.burst }, (_, i) => `${o.label}-svc-b${i}`);
    const t0 = now();
    await runConcurrent(o.burst, 8, (i) => api.json('POST', `/api/v1/namespaces/${NS}/services`, service(burstNames[i]!)));
    await waitUntil(allHave(burstNames), 300_000, 'the burst at every node');
    return { perNodeMs: distribution(samples), burstMs: since(t0) };
  } finally {
    await fleet.stop();
    for (const s of servers) await s.server.stop().catch(() => undefined);
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
