/**
 * What each node is sent of NetworkPolicy (issue 17), by the hub's own DesiredSets (src/cloudhub/desired.ts +
 * netpol-feed.ts): PODS pods over NODES nodes in NAMESPACES namespaces; per namespace one policy admitting the
 * namespace's `role=client` pods (podSelector peer) and one admitting `role=probe` pods of `team=ops` namespaces
 * (namespaceSelector + podSelector). Measured per node: the JSON bytes of the policies it holds with the peers resolved
 * at the hub, against the baseline of resolving on the edge — the policies as written plus what the edge would need to
 * resolve them (every pod of the namespaces the peers name, in a lean form: name, namespace, labels, IP, named ports,
 * and the Namespaces' labels). Then one peer pod's IP change and one unrelated pod's status change: entries re-sent,
 * bytes, and the hub's time for the change.
 *
 * In-process (no sockets): the WAN bytes are these plus framing and compression.
 * Usage: npm run bench:netpol [-- --pods 2000 --nodes 50 --namespaces 20]
 */
import { parseArgs } from 'node:util';
import { DesiredSets } from '../src/cloudhub/desired.js';
import type { CacheListener, CachedObject, SharedCache } from '../src/cloudhub/cache.js';
import { objectKey } from '../src/protocol/keys.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '2000' }, nodes: { type: 'string', default: '50' }, namespaces: { type: 'string', default: '20' } } });
const PODS = Number(values.pods);
const NODES = Number(values.nodes);
const NAMESPACES = Number(values.namespaces);
const NP = 'networkpolicies.networking.k8s.io';

class Cache {
  objects = new Map<string, CachedObject>();
  listeners: CacheListener[] = [];
  rv = 1;
  get(k: string) { return this.objects.get(k); }
  onChange(l: CacheListener) { this.listeners.push(l); }
  put(resource: string, obj: Record<string, unknown> & { metadata: { name: string; namespace?: string } & Record<string, unknown> }): string {
    const key = objectKey(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.objects.get(key);
    const o = { ...obj, metadata: { uid: `uid-${resource}-${obj.metadata.namespace}-${obj.metadata.name}`, ...obj.metadata, resourceVersion: String(++this.rv) } } as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l(resource, 'upsert', key, o, old);
    return key;
  }
}

const cache = new Cache();
const sets = new DesiredSets(cache as unknown as SharedCache);
const nodes = Array.from({ length: NODES }, (_, i) => `edge-${i}`);
for (const n of nodes) sets.ensureView(n);
for (let s = 0; s < NAMESPACES; s++) cache.put('namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${s}`, labels: { 'kubernetes.io/metadata.name': `ns-${s}`, team: s % 5 === 0 ? 'ops' : 'app' } } });
const roles = ['server', 'client', 'probe', 'worker'];
const podObj = (i: number, ip: string) => {
  const ns = `ns-${i % NAMESPACES}`;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 7}`, role: roles[i % roles.length]!, 'pod-template-hash': '5d8f7c9b6' } },
    spec: { nodeName: nodes[i % NODES], containers: [{ name: 'main', image: 'registry.example/app:1.2.3', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `192.168.${(i % NODES) >> 8}.${(i % NODES) & 255}` },
  };
};
const ipOf = (i: number, gen = 0) => `10.${100 + gen}.${i >> 8}.${i & 255}`;
for (let i = 0; i < PODS; i++) cache.put('pods', podObj(i, ipOf(i)));
for (let s = 0; s < NAMESPACES; s++) {
  const ns = `ns-${s}`;
  cache.put(NP, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-clients', namespace: ns }, spec: { podSelector: { matchLabels: { role: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'http' }] }] } });
  cache.put(NP, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-ops-probes', namespace: ns }, spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { role: 'probe' } } }] }] } });
}

const bytes = (o: unknown) => Buffer.byteLength(JSON.stringify(o));
const policyKeys = (n: string) => [...sets.liveKeys(n)].filter((k) => k.startsWith(`/registry/${NP}/`));
let resolvedBytes = 0;
let baselineBytes = 0;
const lean = (p: CachedObject) => {
  const pod = p as unknown as ReturnType<typeof podObj>;
  return { metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, labels: pod.metadata.labels }, spec: { containers: pod.spec.containers.map((c) => ({ ports: c.ports })) }, status: { podIP: pod.status.podIP } };
};
const allPods = [...cache.objects.entries()].filter(([k]) => k.startsWith('/registry/pods/')).map(([, v]) => v);
for (const n of nodes) {
  const keys = policyKeys(n);
  for (const k of keys) resolvedBytes += bytes(sets.objectForEdge(k, n));
  // Edge-side resolution: the policies as written + the pods its peers could name (own namespaces for podSelector
  // peers, every namespace for the namespaceSelector peer) + the Namespaces' labels.
  for (const k of keys) baselineBytes += bytes(cache.get(k));
  const namespaces = new Set(keys.map((k) => k.split('/')[3]));
  const anyNsSelector = keys.some((k) => k.endsWith('/allow-ops-probes'));
  for (const p of allPods) if (anyNsSelector || namespaces.has(p.metadata.namespace ?? "")) baselineBytes += bytes(lean(p));
  for (let s = 0; s < NAMESPACES; s++) baselineBytes += bytes({ metadata: { name: `ns-${s}`, labels: (cache.get(objectKey('namespaces', undefined, `ns-${s}`))!.metadata as { labels: unknown }).labels } });
}

const seqs = () => new Map(nodes.flatMap((n) => policyKeys(n).map((k) => [`${n}|${k}`, sets.view(n)!.scoped.entries.get(k)!.seq] as const)));
function change(i: number, obj: ReturnType<typeof podObj>): { entries: number; bytes: number; ms: number } {
  const before = seqs();
  const t0 = process.hrtime.bigint();
  cache.put('pods', obj);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let entries = 0;
  let b = 0;
  for (const [id, seq] of seqs()) if (before.get(id) !== seq) {
    entries++;
    const [n, k] = id.split('|') as [string, string];
    b += bytes(sets.objectForEdge(k, n));
  }
  return { entries, bytes: b, ms };
}
const clientIdx = roles.indexOf('client');
const peerMove = change(clientIdx, podObj(clientIdx, ipOf(clientIdx, 1)));
const workerIdx = roles.indexOf('worker');
const unrelated = change(workerIdx, { ...podObj(workerIdx, ipOf(workerIdx)), status: { ...podObj(workerIdx, ipOf(workerIdx)).status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } as never });

const perNode = (x: number) => Math.round(x / NODES);
console.log(JSON.stringify({ pods: PODS, nodes: NODES, namespaces: NAMESPACES, policies: NAMESPACES * 2 }));
console.log(`policies per node, hub-resolved peers: ${perNode(resolvedBytes)} B/node`);
console.log(`baseline, edge resolves (policies + pods its peers may name + namespaces): ${perNode(baselineBytes)} B/node`);
console.log(`ratio hub-resolved / edge-resolved: ×${(resolvedBytes / baselineBytes).toFixed(3)}`);
console.log(`one peer pod's IP changes: ${peerMove.entries} node entries re-sent, ${peerMove.bytes} B in all, hub ${peerMove.ms.toFixed(2)} ms`);
console.log(`one unrelated pod's status changes: ${unrelated.entries} entries re-sent, hub ${unrelated.ms.toFixed(2)} ms`);
