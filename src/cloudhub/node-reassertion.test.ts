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
  const clock = { t: 1000 };
  const r = new NodeStatusReassertion(async (node, conditions) => {
    writes.push({ node, conditions });
    return { ok: true };
  }, undefined, () => clock.t);
  return { r, writes, clock };
}

test('a connected node marked Unknown by the lifecycle gets the conditions it last reported written again at its next renewal; the echo of its report does not', () => {
  const { r, writes, clock } = harness();
  r.reportWritten('n1', ready('True'));
  r.statusChanged('n1', undefined, ready('True'), true);
  r.renewed('n1', clock.t);
  assert.equal(writes.length, 0, 'the echo of the node\'s own report is not news');
  r.statusChanged('n1', ready('True'), unknown(), true);
  assert.equal(writes.length, 0, 'a contradiction alone writes nothing: the link may be dead while the session looks live');
  r.renewed('n1', clock.t - 1);
  assert.equal(writes.length, 0, 'a renewal received before the contradiction proves nothing');
  clock.t += 5000;
  r.renewed('n1', clock.t);
  assert.equal(writes.length, 1, 'a renewal received after it: the node is alive');
  assert.deepEqual(writes[0], { node: 'n1', conditions: ready('True').conditions });
  // the hub's own re-assertion echoes back: not a contradiction
  r.statusChanged('n1', unknown(), ready('True'), true);
  r.renewed('n1', clock.t);
  assert.equal(writes.length, 1);
});

test('at most one re-assertion per renewal; a report of the node\'s own settles a pending contradiction', () => {
  const { r, writes, clock } = harness();
  r.reportWritten('n1', ready('True'));
  r.statusChanged('n1', ready('True'), unknown(), true);
  r.statusChanged('n1', unknown(), unknown(), true);
  r.renewed('n1', ++clock.t);
  r.renewed('n1', ++clock.t);
  assert.equal(writes.length, 1);
  r.statusChanged('n1', ready('True'), unknown(), true);
  r.reportWritten('n1', ready('False'));
  r.renewed('n1', ++clock.t);
  assert.equal(writes.length, 1, 'the node reported itself meanwhile');
});

test('a node without a live session, whose session ended, or that never reported to this hub, stays as the lifecycle marked it', () => {
  const { r, writes, clock } = harness();
  r.reportWritten('gone', ready('True'));
  r.statusChanged('gone', ready('True'), unknown(), false);
  r.renewed('gone', ++clock.t);
  r.reportWritten('cut', ready('True'));
  r.statusChanged('cut', ready('True'), unknown(), true);
  r.sessionEnded('cut');
  r.renewed('cut', ++clock.t); // the renewal held back by coalescing, written as the session ends
  r.statusChanged('never', ready('True'), unknown(), true);
  r.renewed('never', ++clock.t);
  assert.equal(writes.length, 0);
  r.forget('gone');
  r.forget('cut');
  assert.equal(r.reported.size, 0);
});
