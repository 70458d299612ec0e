import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Node } from '@kubernetes/client-node';
import { PEER_HEALTH_ANNOTATION } from '../../common/peer-health.js';
import { peerReachableCondition, peerVote } from './peer-vote.js';

const since = '2026-12-07T08:00:00Z';
function node(name: string, pool: string | undefined, ready: 'True' | 'Unknown', sees: Record<string, boolean> | string = {}): V1Node {
  const report = typeof sees === 'string' ? sees : JSON.stringify(Object.fromEntries(Object.entries(sees).map(([p, reachable]) => [p, { reachable, since }])));
  return {
    metadata: { name, labels: pool ? { 'apps.openyurt.io/nodepool': pool } : {}, annotations: { [PEER_HEALTH_ANNOTATION]: report } },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  };
}

test('a strict majority of the Ready peers reporting on the node decides; others do not vote', () => {
  const cut = node('a1', 'p', 'Unknown');
  const all = [
    cut,
    node('a2', 'p', 'True', { a1: true }),
    node('a3', 'p', 'True', { a1: true }),
    node('a4', 'p', 'True', { a1: false }),
    node('a5', 'p', 'Unknown', { a1: false }), // not Ready itself: its report is stale
    node('a6', 'p', 'True', {}), // no report on a1
    node('b1', 'q', 'True', { a1: false }), // another pool
  ];
  assert.deepEqual(peerVote(cut, all), { pool: 'p', voters: ['a2', 'a3', 'a4'], reachedBy: ['a2', 'a3'], verdict: 'reachable' });
});

test('half is not a majority; no voter, no pool or a malformed report is no vote', () => {
  const cut = node('a1', 'p', 'Unknown');
  assert.equal(peerVote(cut, [cut, node('a2', 'p', 'True', { a1: true }), node('a3', 'p', 'True', { a1: false })]).verdict, 'unreachable');
  assert.equal(peerVote(cut, [cut, node('a2', 'p', 'True', { a1: false })]).verdict, 'unreachable');
  assert.equal(peerVote(cut, [cut, node('a2', 'p', 'True', { a1: true })]).verdict, 'reachable');
  assert.equal(peerVote(cut, [cut]).verdict, 'no-voters');
  assert.equal(peerVote(cut, [cut, node('a2', 'p', 'True', 'not json')]).verdict, 'no-voters');
  assert.equal(peerVote(cut, [cut, node('a2', 'p', 'True', '{"a1":{"reachable":"yes","since":"x"}}')]).verdict, 'no-voters');
  const lone = node('x', undefined, 'Unknown');
  assert.equal(peerVote(lone, [lone, node('y', undefined, 'True', { x: true })]).verdict, 'no-voters');
});

test('the condition: True/False/Unknown with the voters named; no condition for a node never voted on', () => {
  const now = '2026-12-07T08:01:00Z';
  const t = peerReachableCondition({ pool: 'p', voters: ['a2', 'a3'], reachedBy: ['a2', 'a3'], verdict: 'reachable' }, undefined, now)!;
  assert.equal(t.status, 'True');
  assert.equal(t.reason, 'PoolMajorityReachesNode');
  assert.equal(t.message, '2 of 2 Ready peers in pool p reach this node (a2, a3)');
  const f = peerReachableCondition({ pool: 'p', voters: ['a2'], reachedBy: [], verdict: 'unreachable' }, t, '2026-12-07T08:02:00Z')!;
  assert.equal(f.status, 'False');
  assert.equal(f.reason, 'PoolMajorityLostNode');
  assert.equal(String(f.lastTransitionTime), '2026-12-07T08:02:00Z');
  const same = peerReachableCondition({ pool: 'p', voters: ['a2'], reachedBy: [], verdict: 'unreachable' }, f, '2026-12-07T08:03:00Z')!;
  assert.equal(String(same.lastTransitionTime), '2026-12-07T08:02:00Z', 'transition time kept while the verdict holds');
  assert.equal(peerReachableCondition({ pool: 'p', voters: [], reachedBy: [], verdict: 'no-voters' }, undefined, now), undefined);
  assert.equal(peerReachableCondition({ pool: 'p', voters: [], reachedBy: [], verdict: 'no-voters' }, f, now)!.status, 'Unknown');
});
