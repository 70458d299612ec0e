import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DesiredSets } from './desired.js';
import type { CacheListener, CachedObject, SharedCache } from './cache.js';
import { objectKey } from '../protocol/keys.js';
import { RESOLVED_PEERS_ANNOTATION, type ResolvedPeers } from '../protocol/network-policy.js';

/** The informer-fed cache's interface, fed by hand. */
class HandCache {
  objects = new Map<string, CachedObject>();
  listeners: CacheListener[] = [];
  rv = 1;
  get(k: string) { return this.objects.get(k); }
  *keysOf(resource: string) { for (const k of this.objects.keys()) if (k.startsWith(`/registry/${resource}/`)) yield k; }
  onChange(l: CacheListener) { this.listeners.push(l); }
  put(resource: string, obj: { metadata: { name: string; namespace?: string } & Record<string, unknown> } & Record<string, unknown>): string {
    const key = objectKey(resource, obj.metadata.namespace, obj.metadata.name);
    const old = this.objects.get(key);
    const o = { ...obj, metadata: { uid: `uid-${obj.metadata.name}`, ...obj.metadata, resourceVersion: String(++this.rv) } } as CachedObject;
    this.objects.set(key, o);
    for (const l of this.listeners) l(resource, 'upsert', key, o, old);
    return key;
  }
  del(resource: string, ns: string | undefined, name: string): void {
    const key = objectKey(resource, ns, name);
    const old = this.objects.get(key)!;
    this.objects.delete(key);
    for (const l of this.listeners) l(resource, 'delete', key, old, old);
  }
}

const NP = 'networkpolicies.networking.k8s.io';
const pod = (name: string, ns: string, node: string, ip: string, labels: Record<string, string>, ports: Array<{ name: string; containerPort: number }> = []) => ({
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'x', ports }] },
  status: { phase: 'Running', podIP: ip },
});

function held(sets: DesiredSets, node: string): Map<string, CachedObject> {
  const out = new Map<string, CachedObject>();
  for (const k of sets.liveKeys(node)) if (k.startsWith(`/registry/${NP}/`)) out.set(k, sets.objectForEdge(k, node)!);
  return out;
}
const peersOf = (o: CachedObject) => JSON.parse((o.metadata as { annotations: Record<string, string> }).annotations[RESOLVED_PEERS_ANNOTATION]!) as ResolvedPeers;

test('a node gets the policies of namespaces with its pods, peers resolved to IPs wherever they run; changes are incremental', () => {
  const cache = new HandCache();
  const sets = new DesiredSets(cache as unknown as SharedCache);
  cache.put('namespaces', { metadata: { name: 'web', labels: { team: 'a' } } });
  cache.put('namespaces', { metadata: { name: 'ops', labels: { team: 'ops' } } });
  sets.ensureView('n1');
  sets.ensureView('n2');
  cache.put('pods', pod('server', 'web', 'n1', '10.244.1.2', { app: 'server' }));
  cache.put('pods', pod('client', 'web', 'n2', '10.244.2.3', { role: 'client' }, [{ name: 'http', containerPort: 8080 }]));
  cache.put('pods', pod('probe', 'ops', 'n2', '10.244.2.9', { role: 'probe' }));
  const key = cache.put(NP, {
    metadata: { name: 'allow', namespace: 'web', annotations: { [RESOLVED_PEERS_ANNOTATION]: '{"ingress":[{"ips":["0.0.0.0"]}],"egress":[]}' } },
    spec: {
      podSelector: { matchLabels: { app: 'server' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }, { namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { role: 'probe' } } }] }],
      egress: [{ ports: [{ port: 'http' }] }],
      policyTypes: ['Ingress', 'Egress'],
    },
  });
  const a = held(sets, 'n1').get(key)!;
  assert.ok(a, 'n1 has a pod in web');
  assert.deepEqual(peersOf(a), { ingress: [{ ips: ['10.244.2.3', '10.244.2.9'] }], egress: [{ ips: [], namedPorts: { 'tcp/http': ['10.244.2.3,tcp,8080'] } }] }, 'a forged annotation is replaced');
  assert.ok(held(sets, 'n2').has(key), 'n2 has a pod in web too');
  assert.notEqual(a.metadata.resourceVersion, cache.get(key)!.metadata.resourceVersion, 'shipped with a version of its own content');

  // An unrelated pod's change does not touch the policy's entry.
  const seq = sets.view('n1')!.scoped.entries.get(key)!.seq;
  cache.put('pods', pod('unrelated', 'ops', 'n2', '10.244.2.50', { role: 'x' }));
  assert.equal(sets.view('n1')!.scoped.entries.get(key)!.seq, seq);
  // A peer's new IP re-sends it; a namespace relabel drops the probe.
  cache.put('pods', pod('client', 'web', 'n2', '10.244.2.4', { role: 'client' }, [{ name: 'http', containerPort: 8080 }]));
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, ['10.244.2.4', '10.244.2.9']);
  assert.ok(sets.view('n1')!.scoped.entries.get(key)!.seq > seq);
  cache.put('namespaces', { metadata: { name: 'ops', labels: { team: 'other' } } });
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, ['10.244.2.4']);

  // n2 leaves the namespace: the policy is deleted there; n1 keeps it.
  cache.del('pods', 'web', 'client');
  assert.equal(held(sets, 'n2').has(key), false);
  assert.equal(sets.view('n2')!.scoped.entries.get(key)!.deleted, true);
  assert.deepEqual(peersOf(held(sets, 'n1').get(key)!).ingress[0]!.ips, []);
  cache.del(NP, 'web', 'allow');
  assert.equal(held(sets, 'n1').size, 0);
});
