import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1NodeCondition, V1NodeStatus } from '@kubernetes/client-node';
import { NodeStatusReassertion } from './node-reassertion.js';

const cond = (type: string, status: string, reason = 'KubeletReady'): V1NodeCondition => ({
  type, status, reason, lastHeartbeatTime: '2026-01-01T00:00:00Z' as unknown as Date, lastTransitionTime: '2026-01-01T00:00:00Z' as unknown as Date,
});
const ready = (status: string): V1NodeStatus => ({ conditions: [cond('Ready', status), cond('MemoryPressure', status === 'True' ? 'False' : status)] });
/** What upstream's node lifecycle writes over a node it takes for lost: every kubelet condition Unknown. */
const unknown = (): V1NodeStatus => ({ conditions: [cond('Ready', 'Unknown', 'NodeStatusUnknown'), cond('MemoryPressure', 'Unknown', 'NodeStatusUnknown')] });

function harness() {
  const writes: Array<{ node: string; conditions: V1NodeCondition[] }> = [];
  const r = new NodeStatusReassertion(async (node, conditions) => {
    writes.push({ node, conditions });
    return { ok: true };
  });
  return { r, writes };
}

test('a connected node marked Unknown by the lifecycle gets the conditions it last reported written again; the echo of its report does not', () => {
  const { r, writes } = harness();
  r.reportWritten('n1', ready('True'));
  r.statusChanged('n1', undefined, ready('True'), true);
  assert.equal(writes.length, 0, 'the echo of the node\'s own report is not news');
  r.statusChanged('n1', ready('True'), unknown(), true);
  assert.equal(writes.length, 1, 'Unknown contradicts the report of a live node');
  assert.deepEqual(writes[0], { node: 'n1', conditions: ready('True').conditions });
  // the hub's own re-assertion echoes back: not a contradiction
  r.statusChanged('n1', unknown(), ready('True'), true);
  assert.equal(writes.length, 1);
});

test('at most one re-assertion per lease renewal: a lifecycle that still sees the lease late waits for the next renewal', () => {
  const { r, writes } = harness();
  r.reportWritten('n1', ready('True'));
  r.statusChanged('n1', ready('True'), unknown(), true);
  r.statusChanged('n1', unknown(), ready('True'), true);
  r.statusChanged('n1', ready('True'), unknown(), true);
  assert.equal(writes.length, 1, 'no second write before a renewal: no tug-of-war with the lifecycle');
  r.renewed('n1');
  assert.equal(writes.length, 2, 'the renewal releases the pending re-assertion');
  r.renewed('n1');
  assert.equal(writes.length, 2, 'nothing pending: a renewal alone writes nothing');
  r.statusChanged('n1', ready('True'), unknown(), true);
  assert.equal(writes.length, 3, 'renewed since the last re-assertion: written at once');
  // a report of the node's own settles a pending contradiction
  r.statusChanged('n1', ready('True'), unknown(), true);
  r.reportWritten('n1', ready('False'));
  r.renewed('n1');
  assert.equal(writes.length, 3, 'the node reported itself meanwhile');
});

test('a node without a live session, or that never reported to this hub, stays as the lifecycle marked it', () => {
  const { r, writes } = harness();
  r.reportWritten('gone', ready('True'));
  r.statusChanged('gone', ready('True'), unknown(), false);
  r.statusChanged('never', ready('True'), unknown(), true);
  r.sessionEnded('gone');
  r.renewed('gone');
  assert.equal(writes.length, 0);
  r.forget('gone');
  assert.equal(r.reported.size, 0);
});
