import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CronSchedule, CronScheduleError, isValidTimeZone, validateSchedule } from './cron-schedule.js';

test('schedules: five fields or a descriptor, robfig wording for out-of-range values', () => {
  validateSchedule('*/5 * * * *');
  validateSchedule('@hourly');
  assert.throws(() => validateSchedule('* * * * * *'), /expected exactly 5 fields, found 6/);
  assert.throws(() => validateSchedule('61 * * * *'), (e: Error) => e instanceof CronScheduleError && e.message === 'end of range (61) above maximum (59): 61');
  assert.throws(() => validateSchedule('0 0 0 * *'), /beginning of range \(0\) below minimum \(1\): 0/);
  assert.throws(() => validateSchedule('@fortnightly'), /unrecognized descriptor/);
  assert.ok(isValidTimeZone('Europe/Berlin'));
  assert.ok(!isValidTimeZone('Mars/Olympus'));
});

test('next and between follow the time zone (a 09:00 Berlin schedule is 08:00 UTC in winter)', () => {
  const s = new CronSchedule('0 9 * * *', 'Europe/Berlin');
  assert.equal(s.next(new Date('2026-12-07T00:00:00Z')).toISOString(), '2026-12-07T08:00:00.000Z');
  const m = new CronSchedule('* * * * *');
  const missed = m.between(new Date('2026-12-07T10:00:30Z'), new Date('2026-12-07T10:05:10Z'), 100);
  assert.deepEqual(missed.map((d) => d.toISOString().slice(11, 16)), ['10:01', '10:02', '10:03', '10:04', '10:05']);
  assert.equal(m.between(new Date('2026-12-07T00:00:00Z'), new Date('2026-12-07T10:00:00Z'), 100).length, 101, 'stops after limit + 1');
});
