import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { FakeCluster } from '../testing/fake-cluster.js';
import { eventually, fakeContext } from '../testing/context.js';
import { TokenCleanerController } from './tokencleaner.js';

const token = (id: string, expiration?: string): V1Secret => ({
  apiVersion: 'v1', kind: 'Secret', type: 'bootstrap.kubernetes.io/token',
  metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
  data: { 'token-id': Buffer.from(id).toString('base64'), ...(expiration !== undefined ? { expiration: Buffer.from(expiration).toString('base64') } : {}) },
});

test('expired bootstrap tokens are deleted; live, unexpiring and unreadable ones stay; a live one goes when it expires', async () => {
  const fake = new FakeCluster();
  let now = Date.parse('2026-12-07T08:00:00Z');
  const cleaner = new TokenCleanerController(fakeContext(fake), () => now);
  cleaner.start();
  try {
    await fake.create(token('expird', '2026-12-07T07:59:59Z'));
    await fake.create(token('soonxx', new Date(now + 300).toISOString()));
    await fake.create(token('foreve'));
    await fake.create(token('badexp', 'tomorrow'));
    const names = () => fake.list<V1Secret>('Secret', 'kube-system').map((s) => s.metadata!.name!).sort();
    await eventually(() => !names().includes('bootstrap-token-expird'), 3000, 'the expired token deleted');
    assert.deepEqual(names(), ['bootstrap-token-badexp', 'bootstrap-token-foreve', 'bootstrap-token-soonxx']);
    now += 1000; // the live token's own requeue finds it expired
    await eventually(() => !names().includes('bootstrap-token-soonxx'), 3000, 'the token deleted at its expiry');
    assert.deepEqual(names(), ['bootstrap-token-badexp', 'bootstrap-token-foreve']);
    assert.deepEqual(fake.actions.filter((a) => a.startsWith('delete')), ['delete Secret kube-system/bootstrap-token-expird', 'delete Secret kube-system/bootstrap-token-soonxx']);
  } finally {
    await cleaner.stop();
  }
});
