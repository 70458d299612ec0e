import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { mergeNodePodStatus, readinessGatesMessage } from './pod-status.js';

const c = (type: string, status: string, extra: Partial<V1PodCondition> = {}): V1PodCondition => ({ type, status, ...extra });
const now = () => '2026-12-07T00:00:00Z';

test('readinessGatesMessage: upstream texts for a missing and a not-True gate condition', () => {
  const gates = [{ conditionType: 'example.com/lb' }, { conditionType: 'example.com/dns' }];
  assert.equal(readinessGatesMessage(gates, [c('example.com/lb', 'True'), c('example.com/dns', 'True')]), undefined);
  assert.equal(readinessGatesMessage(undefined, []), undefined);
  assert.equal(
    readinessGatesMessage(gates, [c('example.com/lb', 'False')]),
    'the status of pod readiness gate "example.com/lb" is not "True", but False, corresponding condition of pod readiness gate "example.com/dns" does not exist.',
  );
});

test('mergeNodePodStatus: the node replaces only kubelet-owned conditions; others survive; others\' fields kept', () => {
  const current: V1PodStatus = {
    phase: 'Running',
    nominatedNodeName: 'n9',
    conditions: [c('Ready', 'True'), c('example.com/lb', 'True'), c('DisruptionTarget', 'True', { reason: 'EvictionByEvictionAPI' })],
  };
  const reported: V1PodStatus = { phase: 'Running', podIP: '10.0.0.5', conditions: [c('Ready', 'False', { reason: 'ContainersNotReady' }), c('PodScheduled', 'True'), c('example.com/lb', 'False')] };
  const merged = mergeNodePodStatus(current, reported, undefined, now);
  assert.equal(merged.podIP, '10.0.0.5');
  assert.equal(merged.nominatedNodeName, 'n9');
  assert.deepEqual(merged.conditions!.map((x) => `${x.type}=${x.status}`).sort(), ['DisruptionTarget=True', 'PodScheduled=True', 'Ready=False', 'example.com/lb=True']);
});

test('mergeNodePodStatus: Ready=True is held back by an unmet readiness gate, with upstream\'s reason and message', () => {
  const gates = [{ conditionType: 'example.com/lb' }];
  const reported: V1PodStatus = { phase: 'Running', conditions: [c('Ready', 'True', { lastTransitionTime: 't0' as unknown as Date }), c('ContainersReady', 'True')] };
  const missing = mergeNodePodStatus({ conditions: [] }, reported, gates, now);
  const ready = missing.conditions!.find((x) => x.type === 'Ready')!;
  assert.equal(ready.status, 'False');
  assert.equal(ready.reason, 'ReadinessGatesNotReady');
  assert.equal(ready.message, 'corresponding condition of pod readiness gate "example.com/lb" does not exist.');
  assert.equal(ready.lastTransitionTime as unknown as string, now());
  const unmet = mergeNodePodStatus({ conditions: [c('example.com/lb', 'False')] }, reported, gates, now);
  assert.equal(unmet.conditions!.find((x) => x.type === 'Ready')!.message, 'the status of pod readiness gate "example.com/lb" is not "True", but False');
  const met = mergeNodePodStatus({ conditions: [c('example.com/lb', 'True')] }, reported, gates, now);
  assert.equal(met.conditions!.find((x) => x.type === 'Ready')!.status, 'True');
});

test('mergeNodePodStatus: DisruptionTarget from the node only when it moves the pod to a terminal phase', () => {
  const reported: V1PodStatus = { phase: 'Failed', conditions: [c('DisruptionTarget', 'True', { reason: 'TerminationByKubelet' })] };
  const toTerminal = mergeNodePodStatus({ phase: 'Running', conditions: [] }, reported, undefined, now);
  assert.equal(toTerminal.conditions!.find((x) => x.type === 'DisruptionTarget')!.reason, 'TerminationByKubelet');
  const already = mergeNodePodStatus({ phase: 'Failed', conditions: [] }, reported, undefined, now);
  assert.equal(already.conditions!.find((x) => x.type === 'DisruptionTarget'), undefined);
});
