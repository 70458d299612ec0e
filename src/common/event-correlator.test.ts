import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { COMBINED_PREFIX, EventCorrelator } from './event-correlator.js';

const ev = (message: string, name = 'p1', reason = 'BackOff'): CoreV1Event => ({
  metadata: { namespace: 'default' },
  involvedObject: { kind: 'Pod', namespace: 'default', name, uid: `uid-${name}` },
  reason,
  message,
  type: 'Warning',
  source: { component: 'kubelet', host: 'n1' },
});

function clock(start = Date.parse('2026-12-06T20:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('identical events: one name, count + 1, first timestamp kept, last timestamp moves', () => {
  const c = clock();
  const k = new EventCorrelator({ now: c.now });
  const first = k.correlate(ev('Back-off restarting failed container'))!;
  assert.equal(first.update, false);
  assert.equal(first.event.count, 1);
  assert.match(first.event.metadata!.name!, /^p1\.[0-9a-f]+$/);
  let last = first;
  for (let i = 2; i <= 7; i++) {
    c.advance(30_000);
    last = k.correlate(ev('Back-off restarting failed container'))!;
    assert.equal(last.update, true);
    assert.equal(last.event.count, i);
    assert.equal(last.event.metadata!.name, first.event.metadata!.name);
  }
  assert.equal(last.event.firstTimestamp as unknown as string, '2026-12-06T20:00:00Z');
  assert.equal(last.event.lastTimestamp as unknown as string, '2026-12-06T20:03:00Z');
  // A different object or reason is another Event.
  assert.notEqual(k.correlate(ev('Back-off restarting failed container', 'p2'))!.event.metadata!.name, first.event.metadata!.name);
  assert.equal(k.correlate(ev('Back-off restarting failed container', 'p1', 'Failed'))!.update, false);
});

test('similar events (message differs) are combined after 10 within the window', () => {
  const c = clock();
  const k = new EventCorrelator({ now: c.now, burst: 1000 });
  const names = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const r = k.correlate(ev(`0/${i} nodes are available`))!;
    assert.equal(r.event.message, `0/${i} nodes are available`);
    names.add(r.event.metadata!.name!);
  }
  assert.equal(names.size, 9);
  const tenth = k.correlate(ev('0/9 nodes are available'))!;
  assert.equal(tenth.event.message, `${COMBINED_PREFIX}0/9 nodes are available`);
  assert.equal(tenth.update, false);
  const eleventh = k.correlate(ev('0/10 nodes are available'))!;
  assert.equal(eleventh.update, true);
  assert.equal(eleventh.event.count, 2);
  assert.equal(eleventh.event.metadata!.name, tenth.event.metadata!.name);
  assert.equal(eleventh.event.message, `${COMBINED_PREFIX}0/10 nodes are available`);
  // After the window, messages are counted afresh.
  c.advance(601_000);
  assert.equal(k.correlate(ev('0/11 nodes are available'))!.event.message, '0/11 nodes are available');
});

test('spam filter: 25 events per source and object, then one per 5 minutes; counts keep accumulating', () => {
  const c = clock();
  const k = new EventCorrelator({ now: c.now });
  for (let i = 1; i <= 25; i++) assert.ok(k.correlate(ev('same')), `event ${i}`);
  assert.equal(k.correlate(ev('same')), undefined);
  assert.ok(k.correlate(ev('same', 'other-pod')), 'another object has its own bucket');
  c.advance(300_000);
  const next = k.correlate(ev('same'))!;
  assert.equal(next.event.count, 27, 'the dropped occurrence is still counted');
  assert.equal(k.correlate(ev('same')), undefined);
});
