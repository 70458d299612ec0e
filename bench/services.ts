/**
 * What each node is sent of Services (issue 14): 1,000 Services across 10 NodePools (100 per pool, 3 endpoints each
 * on that pool's nodes), 10 nodes per pool. For one run with the Services annotated `openyurt.io/topologyKeys:
 * openyurt.io/nodepool` and one without (like with like: same objects otherwise), the bytes of the Services,
 * EndpointSlices and peer Nodes each node's desired set holds — what its first sync (or an inventory diff) ships —
 * computed by the hub's own DesiredSets (src/cloudhub/desired.ts) as objects are serialised for the edge (JSON, before
 * the link's compression). Plus the objects sent per node when one endpoint of one Service moves.
 *
 * In-process (the hub's desired-set code, no sockets): the WAN bytes are these plus framing and compression.
 * Usage: npm run bench:services [-- --services 1000 --pools 10 --nodes-per-pool 10]
 */
import { parseArgs } from 'node:util';
import { DesiredSets } from '../src/cloudhub/desired.js';
import type { CacheListener, CachedObject, SharedCache } from '../src/cloudhub/cache.js';
import { objectKey } from '../src/protocol/keys.js';

const { values } = parseArgs({ options: { services: { type: 'string', default: '1000' }, pools: { type: 'string', default: '10' }, 'nodes-per-pool': { type: 'string', default: '10' } } });
const SERVICES = Number(values.services);
const POOLS = Number(values.pools);
const PER_POOL = Number(values['nodes-per-pool']);

class Cache {
  objects = new Map<string, CachedObject>();
  listeners: CacheListener[] = [];
  rv = 1;
  get(k: string) {
    return this.objects.get(k);
  }
  onChange(l: CacheListener) {
    this.listeners.push(l);
  }
  put(resource: string, obj: Record<string, unknown> & { metadata: { name: string; namespace?: string } & Record<string, unknown> }): string {
    const key = objectKey(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.objects.get(key);
    const o = { ...obj, metadata: { uid: `uid-${resource}-${obj.metadata.name}`, ...obj.metadata, resourceVersion: String(++this.rv) } } as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l(resource, 'upsert', key, o, old);
    return key;
  }
}

function world(filtered: boolean) {
  const cache = new Cache();
  const sets = new DesiredSets(cache as unknown as SharedCache);
  const node = (p: number, i: number) => `edge-p${p}-n${i}`;
  for (let p = 0; p < POOLS; p++) for (let i = 0; i < PER_POOL; i++) {
    cache.put('nodes', { metadata: { name: node(p, i), labels: { 'node-role.kubernetes.io/edge': '', 'apps.openyurt.io/nodepool': `pool-${p}`, 'kubernetes.io/hostname': node(p, i) } }, spec: { podCIDR: `10.${100 + p}.${i}.0/24` }, status: { addresses: [{ type: 'InternalIP', address: `192.168.${p}.${10 + i}` }] } });
  }
  let slice0 = '';
  for (let s = 0; s < SERVICES; s++) {
    const p = s % POOLS;
    const name = `svc-${s}`;
    cache.put('services', {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'default', labels: { app: name }, ...(filtered ? { annotations: { 'openyurt.io/topologyKeys': 'openyurt.io/nodepool' } } : {}) },
      spec: { type: 'ClusterIP', clusterIP: `10.43.${s >> 8}.${s & 255}`, clusterIPs: [`10.43.${s >> 8}.${s & 255}`], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }], sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' },
    });
    const key = cache.put('endpointslices.discovery.k8s.io', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-abcde`, namespace: 'default', generateName: `${name}-`, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: `uid-services-${name}`, controller: true, blockOwnerDeletion: true }] },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [0, 1, 2].map((e) => ({ addresses: [`10.${100 + p}.${(s + e) % PER_POOL}.${2 + (s % 200)}`], conditions: { ready: true, serving: true, terminating: false }, nodeName: node(p, (s + e) % PER_POOL), targetRef: { kind: 'Pod', namespace: 'default', name: `${name}-pod-${e}`, uid: `uid-pod-${s}-${e}` } })),
    });
    if (s === 0) slice0 = key;
  }
  return { cache, sets, node, slice0 };
}

function bytesPerNode(w: ReturnType<typeof world>): { bytes: number; objects: number } {
  let bytes = 0;
  let objects = 0;
  const nodes = POOLS * PER_POOL;
  for (let p = 0; p < POOLS; p++) for (let i = 0; i < PER_POOL; i++) {
    const n = w.node(p, i);
    for (const k of w.sets.liveKeys(n)) {
      if (!/^\/registry\/(services|endpointslices\.discovery\.k8s\.io|nodes)\//.test(k) || k === `/registry/nodes/${n}`) continue;
      bytes += JSON.stringify(w.sets.objectForEdge(k, n)).length;
      objects++;
    }
  }
  return { bytes: bytes / nodes, objects: objects / nodes };
}

/** Objects sent, summed over nodes, when one endpoint of one Service moves to another node of its pool. */
function oneEndpointMove(w: ReturnType<typeof world>): number {
  const before = w.sets.currentSeq();
  const cur = w.cache.get(w.slice0) as unknown as { endpoints: Array<Record<string, unknown>> } & Record<string, unknown>;
  const endpoints = cur.endpoints.map((e, i) => (i === 0 ? { ...e, addresses: ['10.100.9.250'], nodeName: w.node(0, PER_POOL - 1) } : e));
  w.cache.put('endpointslices.discovery.k8s.io', { ...(cur as object), endpoints } as never);
  let sent = 0;
  for (let p = 0; p < POOLS; p++) for (let i = 0; i < PER_POOL; i++) sent += [...w.sets.changesAfter(w.node(p, i), before)].length;
  return sent;
}

const t0 = Date.now();
const plain = world(false);
const a = bytesPerNode(plain);
const movePlain = oneEndpointMove(plain);
const scoped = world(true);
const b = bytesPerNode(scoped);
const moveScoped = oneEndpointMove(scoped);
const kb = (x: number) => `${(x / 1024).toFixed(1)} KiB`;
console.log(`services=${SERVICES} pools=${POOLS} nodes=${POOLS * PER_POOL} (${Date.now() - t0} ms)`);
console.log(`per node, unfiltered (baseline): ${kb(a.bytes)} in ${a.objects.toFixed(0)} objects`);
console.log(`per node, openyurt.io/topologyKeys=openyurt.io/nodepool: ${kb(b.bytes)} in ${b.objects.toFixed(0)} objects`);
console.log(`ratio filtered/unfiltered: ${(b.bytes / a.bytes).toFixed(3)}`);
console.log(`one endpoint moves: objects sent over all nodes: unfiltered ${movePlain}, filtered ${moveScoped} (ratio ${(moveScoped / movePlain).toFixed(3)})`);
