import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector } from './leaderelection.js';
import { FakeCluster } from './testing/fake-cluster.js';

function elector(api: FakeCluster, identity: string, clock: { t: number }, events: string[]) {
  return new LeaderElector(api, {
    namespace: 'kube-system',
    name: 'kedge-controller-manager',
    identity,
    leaseDurationSeconds: 15,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    onStartedLeading: () => void events.push(`${identity} started`),
    onStoppedLeading: () => void events.push(`${identity} stopped`),
    now: () => clock.t,
  });
}

test('only one candidate holds the lease; the other takes over after it expires unrenewed', async () => {
  const api = new FakeCluster();
  const clock = { t: 1_000_000 };
  const events: string[] = [];
  const a = elector(api, 'a', clock, events);
  const b = elector(api, 'b', clock, events);
  assert.equal(await a.tryAcquireOrRenew(), true);
  assert.equal(await b.tryAcquireOrRenew(), false, 'b must not steal a live lease');
  clock.t += 10_000;
  assert.equal(await a.tryAcquireOrRenew(), true, 'a renews');
  assert.equal(await b.tryAcquireOrRenew(), false);
  clock.t += 14_000;
  assert.equal(await b.tryAcquireOrRenew(), false, 'not yet expired as observed by b');
  clock.t += 2_000;
  assert.equal(await b.tryAcquireOrRenew(), true, 'expired: b takes over');
  const lease = api.find<V1Lease>('Lease', 'kedge-controller-manager', 'kube-system')!;
  assert.equal(lease.spec?.holderIdentity, 'b');
  assert.equal(lease.spec?.leaseTransitions, 1);
  assert.equal(await a.tryAcquireOrRenew(), false, 'a lost it');
});

test('a stale write loses on resourceVersion conflict', async () => {
  const api = new FakeCluster();
  const clock = { t: 5_000_000 };
  const a = elector(api, 'a', clock, []);
  await a.tryAcquireOrRenew();
  // Another writer renews between a's read and write.
  let once = true;
  api.failNext = (verb) => {
    if (verb === 'patch' && once) {
      once = false;
      return Object.assign(new Error('conflict'), { code: 409 });
    }
    return undefined;
  };
  assert.equal(await a.tryAcquireOrRenew(), false);
});

test('release empties the holder so another candidate acquires at once', async () => {
  const api = new FakeCluster();
  const clock = { t: 9_000_000 };
  const events: string[] = [];
  const a = elector(api, 'a', clock, events);
  a.run();
  for (let i = 0; i < 50 && !a.isLeader(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(a.isLeader(), true);
  await a.stop();
  assert.deepEqual(events, ['a started', 'a stopped']);
  const b = elector(api, 'b', clock, events);
  assert.equal(await b.tryAcquireOrRenew(), true);
});
