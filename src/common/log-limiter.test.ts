import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogRateLimiter } from './log-limiter.js';

test('each distinct key is logged at once, then at most once per interval with the count of repeats left out', () => {
  let now = 0;
  const l = new LogRateLimiter(60_000, () => now);
  assert.deepEqual(l.admit('ECONNREFUSED'), { log: true, suppressed: 0 });
  for (let i = 0; i < 5; i++) {
    now += 1_000;
    assert.deepEqual(l.admit('ECONNREFUSED'), { log: false });
  }
  assert.deepEqual(l.admit('HTTP 401'), { log: true, suppressed: 0 }, 'another reason is news: logged at once');
  now = 60_000;
  assert.deepEqual(l.admit('ECONNREFUSED'), { log: true, suppressed: 5 });
  now = 60_500;
  assert.deepEqual(l.admit('ECONNREFUSED'), { log: false });
});

test('the number of keys kept is bounded', () => {
  const l = new LogRateLimiter(60_000, () => 0, 3);
  for (const k of ['a', 'b', 'c', 'd']) assert.equal(l.admit(k).log, true);
  assert.equal(l.admit('a').log, true, 'the oldest key was forgotten');
  assert.equal(l.admit('d').log, false);
});
