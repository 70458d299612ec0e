import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../common/kube-client.js';
import type { SharedInformer } from '../common/lean-informer.js';
import { SharedInformerFactory } from './informers.js';

/** An informer another component owns: counts its subscribers. */
function ownedInformer(): SharedInformer<KubernetesObject> & { subscribers: number; emit(o: KubernetesObject): void } {
  const adds: Array<(o: KubernetesObject) => void> = [];
  return {
    get: () => undefined,
    list: () => [],
    onAdd(cb) {
      adds.push(cb);
      return () => adds.splice(adds.indexOf(cb), 1);
    },
    onUpdate: () => () => {},
    onDelete: () => () => {},
    synced: () => true,
    get subscribers() { return adds.length; },
    emit(o) { for (const cb of adds.slice()) cb(o); },
  };
}

test('a factory given another component\'s informers borrows them (no list-watch of its own) and unsubscribes on stop', async () => {
  const pods = ownedInformer();
  const requests: string[] = [];
  const client = { request: async (_m: string, p: string) => { requests.push(p); throw new Error('offline'); }, watch: () => { throw new Error('offline'); } } as unknown as KubeClient;
  const factory = new SharedInformerFactory(client, () => {}, (path) => (path === '/api/v1/pods' ? pods : undefined));
  const seen: string[] = [];
  factory.get('pods').onAdd((o) => seen.push(o.metadata!.name!));
  assert.equal(factory.get('pods').synced(), true);
  factory.get('nodes');
  factory.start();
  await new Promise((r) => setImmediate(r));
  pods.emit({ metadata: { name: 'p1' } });
  assert.deepEqual(seen, ['p1']);
  assert.deepEqual(factory.borrowed(), ['pods']);
  // Only the resource nobody else has is listed by the factory itself.
  assert.deepEqual(requests, ['/api/v1/nodes']);
  await factory.stop();
  assert.equal(pods.subscribers, 0, 'the owner keeps running; this factory\'s handlers are gone');
  pods.emit({ metadata: { name: 'p2' } });
  assert.deepEqual(seen, ['p1']);
});
