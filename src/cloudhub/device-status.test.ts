import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeReportedTwins } from './device-status.js';

const twin = (p: string, value: string, ts: number, observed?: string) => ({
  propertyName: p, reported: { value, metadata: { timestamp: String(ts) } }, ...(observed ? { observedDesired: { value: observed } } : {}),
});

test('a reported value replayed from an offline buffer never overwrites a newer one in the cloud', () => {
  const cloud = [twin('temp', '30', 2000), twin('hum', '40', 1000)];
  const merged = mergeReportedTwins(cloud, [twin('temp', '25', 1500, '21'), twin('hum', '45', 3000)]);
  assert.deepEqual(merged.find((t) => t.propertyName === 'temp')?.reported?.value, '30');
  // The older report still tells what desired value the edge had seen.
  assert.deepEqual(merged.find((t) => t.propertyName === 'temp')?.observedDesired, { value: '21' });
  assert.deepEqual(merged.find((t) => t.propertyName === 'hum')?.reported?.value, '45');
});

test('properties the report does not mention are kept; new ones are added; output is sorted', () => {
  const merged = mergeReportedTwins([twin('b', '1', 1)], [twin('a', '2', 2)]);
  assert.deepEqual(merged.map((t) => t.propertyName), ['a', 'b']);
  assert.deepEqual(mergeReportedTwins(undefined, [twin('a', '2', 2)]).length, 1);
});
