import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.js';

test('dedups keys waiting in the queue', async () => {
  const q = new WorkQueue();
  q.add('a');
  q.add('a');
  q.add('b');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
});

test('a key re-added while processing is handed out again only after done()', async () => {
  const q = new WorkQueue();
  q.add('a');
  const k = await q.get();
  q.add('a');
  assert.equal(q.length, 0, 'not queued while a worker holds it');
  q.done(k!);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'a');
});

test('per-key exponential backoff and forget', () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
  assert.equal(q.addRateLimited('x'), 10);
  assert.equal(q.addRateLimited('x'), 20);
  assert.equal(q.addRateLimited('x'), 40);
  assert.equal(q.addRateLimited('x'), 50);
  assert.equal(q.numRequeues('x'), 4);
  assert.equal(q.addRateLimited('y'), 10, 'backoff is per key');
  q.forget('x');
  assert.equal(q.numRequeues('x'), 0);
  q.shutDown();
});

test('delayed adds arrive after the delay', async () => {
  const q = new WorkQueue();
  q.addAfter('late', 20);
  assert.equal(q.length, 0);
  assert.equal(await q.get(), 'late');
  q.shutDown();
});

test('shutDown releases blocked getters', async () => {
  const q = new WorkQueue();
  const p = q.get();
  q.shutDown();
  assert.equal(await p, undefined);
});

test('a key waiting for a delayed add keeps the earliest deadline (client-go delaying queue)', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const q = new WorkQueue();
  // A later addAfter does not postpone a key already due sooner.
  q.addAfter('a', 100);
  q.addAfter('a', 10_000);
  t.mock.timers.tick(100);
  assert.equal(q.length, 1, 'a arrives at its first (earlier) deadline');
  // An earlier addAfter moves a waiting key up.
  q.addAfter('b', 10_000);
  q.addAfter('b', 50);
  t.mock.timers.tick(50);
  assert.equal(q.length, 2, 'b arrives at the earlier deadline, not after 10 s');
  // And it arrives once: the replaced timer is gone.
  t.mock.timers.tick(10_000);
  assert.equal(q.length, 2);
  q.shutDown();
});
