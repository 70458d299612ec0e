import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Lease } from '@kubernetes/client-node';
import { DEFAULT_LEADER_ELECTION, LeaderElector, leaderElectionTimingError, type LeaderElectionTiming } from './leaderelection.js';
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

/**
 * The worst case of a kill -9: the leader renews just before it dies, and the candidate's tick falls just before
 * that renewal, so it observes the renewal one retry period late and notices the expiry up to one retry period late.
 * Candidate phases are swept over the retry period; returns the latest kill-to-takeover in ms.
 */
async function worstTakeoverMs(timing: LeaderElectionTiming): Promise<number> {
  let worst = 0;
  for (let phase = 1; phase < timing.retryPeriodMs; phase += timing.retryPeriodMs / 8) {
    const api = new FakeCluster();
    const clock = { t: 1_000_000 };
    const make = (identity: string) => new LeaderElector(api, { namespace: 'kube-system', name: 'kcm', identity, ...timing, onStartedLeading: () => {}, onStoppedLeading: () => {}, now: () => clock.t });
    const [a, b] = [make('a'), make('b')];
    assert.equal(await a.tryAcquireOrRenew(), true);
    // a renews at k × retry, b looks at k × retry + phase; a dies right after its renewal at 10 × retry.
    let nextA = clock.t + timing.retryPeriodMs;
    let nextB = clock.t + phase;
    const killAt = clock.t + 10 * timing.retryPeriodMs;
    for (;;) {
      if (nextA <= killAt && nextA <= nextB) {
        clock.t = nextA;
        assert.equal(await a.tryAcquireOrRenew(), true);
        nextA += timing.retryPeriodMs;
        continue;
      }
      clock.t = nextB;
      if (await b.tryAcquireOrRenew()) break;
      nextB += timing.retryPeriodMs;
    }
    assert.ok(clock.t > killAt - timing.retryPeriodMs + timing.leaseDurationSeconds * 1000, 'never before a full lease after the last renewal');
    worst = Math.max(worst, clock.t - killAt);
  }
  return worst;
}

test('timing: the defaults take a killed leader over within 12 s worst case; upstream 15/10/2 s would take up to 17 s', async () => {
  assert.ok((await worstTakeoverMs(DEFAULT_LEADER_ELECTION)) <= 12_000);
  const upstream = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const upstreamWorst = await worstTakeoverMs(upstream);
  assert.ok(upstreamWorst > 15_000 && upstreamWorst <= 19_000, `upstream timing: ${upstreamWorst} ms`);
});

test('timing: client-go\'s rules and messages', () => {
  assert.equal(leaderElectionTimingError(DEFAULT_LEADER_ELECTION), null);
  assert.equal(leaderElectionTimingError({ leaseDurationSeconds: 5, renewDeadlineMs: 5_000, retryPeriodMs: 1_000 }), 'leaseDuration must be greater than renewDeadline');
  assert.equal(leaderElectionTimingError({ leaseDurationSeconds: 10, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }), 'renewDeadline must be greater than retryPeriod*JitterFactor');
  assert.match(leaderElectionTimingError({ leaseDurationSeconds: 0, renewDeadlineMs: 1, retryPeriodMs: 1 })!, /greater than zero/);
});
