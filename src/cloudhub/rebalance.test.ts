import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rebalancePlan, type HubLoad } from './rebalance.js';

const hub = (identity: string, nodes: number): HubLoad => ({ identity, peerUrl: `https://${identity}:10000`, nodes });

test('a hub over its share moves the excess to the least-loaded peer, no more than that peer is short', () => {
  assert.deepEqual(rebalancePlan(hub('a', 6), [hub('b', 0)], 10), { moves: 3, to: 'https://b:10000' });
  assert.deepEqual(rebalancePlan(hub('a', 9), [hub('b', 3), hub('c', 0)], 10), { moves: 4, to: 'https://c:10000' });
  // Three hubs, one holding everything: the first round fills the least-loaded one only up to its share.
  assert.deepEqual(rebalancePlan(hub('a', 90), [hub('b', 0), hub('c', 0)], 100), { moves: 30, to: 'https://b:10000' });
});

test('within the slack, alone, or at the share: nothing moves (no flapping on odd counts)', () => {
  assert.equal(rebalancePlan(hub('a', 4), [hub('b', 3)], 10).moves, 0);
  assert.equal(rebalancePlan(hub('a', 5), [hub('b', 2)], 10).moves, 0, 'one node over the share plus the slack of one');
  assert.equal(rebalancePlan(hub('a', 100), [], 10).moves, 0, 'no live peer');
  assert.equal(rebalancePlan(hub('a', 3), [hub('b', 6)], 10).moves, 0, 'the under-loaded hub never sends');
  assert.equal(rebalancePlan(hub('a', 1050), [hub('b', 950)], 1000).moves, 0, '10 % slack at scale');
});

test('the round size is bounded however large the imbalance', () => {
  assert.deepEqual(rebalancePlan(hub('a', 10_000), [hub('b', 0)], 200), { moves: 200, to: 'https://b:10000' });
});
