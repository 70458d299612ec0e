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

test('node restriction: a node writes the status only of a Device bound to it, and only of that Device (uid)', async () => {
  const { DeviceStatusWriter } = await import('./device-status.js');
  const device = { metadata: { name: 'd', namespace: 'default', uid: 'u1' }, spec: { nodeName: 'edge-a' } };
  // No API call may happen for a refused write: the fake API fails the test if used.
  const api = { request: () => { throw new Error('the API must not be called for a refused write'); } } as never;
  const w = new DeviceStatusWriter(api, (ns, name) => (ns === 'default' && name === 'd' ? device : undefined));
  const status = { twins: [{ propertyName: 'p', reported: { value: '1', metadata: { timestamp: '1' } } }] };
  const other = await w.write('edge-b', { namespace: 'default', name: 'd', uid: 'u1', status });
  assert.equal(other.ok, false);
  assert.equal(other.retry, false);
  assert.match(other.reason!, /forbidden: device default\/d is not bound to node edge-b/);
  const missing = await w.write('edge-a', { namespace: 'default', name: 'nope', uid: 'u1', status });
  assert.match(missing.reason!, /forbidden/);
  const stale = await w.write('edge-a', { namespace: 'default', name: 'd', uid: 'u0', status });
  assert.match(stale.reason!, /uid changed/);
  const bad = await w.write('edge-a', { namespace: 'default', name: 'd', uid: 'u1', status: { twins: [{ propertyName: 'p', reported: { value: 5 } }] } });
  assert.match(bad.reason!, /twins must be/);
});
