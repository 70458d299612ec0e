import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeWithBehavior, normalizeWithoutBehavior, replicasForUtilization, type ScalingRules } from './replicas.js';

const pod = (name: string, usage: number | undefined, request = 100, unready = false) => ({ name, usage, request, unready });

test('utilization: proposals as upstream (ceil(ratio × ready pods)), within tolerance 0.1 nothing changes', () => {
  assert.equal(replicasForUtilization([pod('a', 100), pod('b', 100)], 2, 50, 'cpu').replicas, 4);
  assert.equal(replicasForUtilization([pod('a', 54), pod('b', 54)], 2, 50, 'cpu').replicas, 2, '1.08 is within tolerance');
  assert.equal(replicasForUtilization([pod('a', 20), pod('b', 20)], 2, 50, 'cpu').replicas, 1);
  assert.equal(replicasForUtilization([pod('a', 100)], 1, 50, 'cpu').utilization, 100);
  assert.throws(() => replicasForUtilization([{ name: 'a', usage: 10, request: undefined, unready: false }], 1, 50, 'cpu'), /missing request for cpu in pod a/);
});

test('utilization: missing pods count against the direction of change, unready pods as 0% when scaling up', () => {
  // Scale-down with a missing pod: it counts as 100%, damping the change.
  assert.equal(replicasForUtilization([pod('a', 10), pod('b', 10), pod('c', undefined)], 3, 50, 'cpu').replicas, 3);
  // Scale-up with an unready pod: it counts as 0%: (200+0)/(200+100)=66% → ratio 1.33 → ceil(1.33 × 3) = 4.
  assert.equal(replicasForUtilization([pod('a', 100), pod('b', 100), pod('c', 100, 100, true)], 3, 50, 'cpu').replicas, 4);
});

test('without behavior: scale-up capped at max(2 × current, 4), scale-down stabilized over 5 minutes', () => {
  assert.deepEqual(normalizeWithoutBehavior([], 0, 1, 10, { min: 1, max: 20 }), { replicas: 4, limited: 'ScaleUpLimit' });
  assert.deepEqual(normalizeWithoutBehavior([], 0, 3, 10, { min: 1, max: 8 }), { replicas: 6, limited: 'ScaleUpLimit' });
  const t = 10 * 60_000;
  assert.equal(normalizeWithoutBehavior([{ at: t - 60_000, replicas: 5 }], t, 5, 2, { min: 1, max: 10 }).replicas, 5);
  assert.equal(normalizeWithoutBehavior([{ at: t - 6 * 60_000, replicas: 5 }], t, 5, 2, { min: 1, max: 10 }).replicas, 2);
});

test('with behavior: policies bound the rate, Disabled stops a direction', () => {
  const up: ScalingRules = { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 4, periodSeconds: 15 }, { type: 'Percent', value: 100, periodSeconds: 15 }] };
  const down: ScalingRules = { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] };
  assert.equal(normalizeWithBehavior([], 0, 2, 20, { min: 1, max: 30 }, up, down, [], []).replicas, 6);
  assert.equal(normalizeWithBehavior([], 0, 10, 20, { min: 1, max: 30 }, up, down, [], []).replicas, 20);
  assert.equal(normalizeWithBehavior([], 0, 10, 1, { min: 1, max: 30 }, up, down, [], []).replicas, 5);
  assert.deepEqual(normalizeWithBehavior([], 0, 10, 1, { min: 1, max: 30 }, up, { ...down, selectPolicy: 'Disabled' }, [], []), { replicas: 10, limited: 'ScaleDownDisabled' });
});
