import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration } from './table.js';
import { podsDef, podStatusReason } from './resources/pods.js';

test('humanDuration matches upstream duration.HumanDuration', () => {
  const s = 1000;
  const cases: [number, string][] = [[-5 * s, '<invalid>'], [0, '0s'], [119 * s, '119s'], [120 * s, '2m'], [150 * s, '2m30s'], [10 * 60 * s, '10m'],
    [179 * 60 * s, '179m'], [3 * 3600 * s, '3h'], [3 * 3600 * s + 5 * 60 * s, '3h5m'], [8 * 3600 * s, '8h'], [47 * 3600 * s, '47h'], [50 * 3600 * s, '2d2h'],
    [8 * 86400 * s, '8d'], [800 * 86400 * s, '2y70d'], [9 * 365 * 86400 * s, '9y']];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}`);
});

test('pod STATUS / READY / RESTARTS columns follow kubectl', () => {
  const now = Date.parse('2025-01-01T01:00:00Z');
  const pod = {
    metadata: { name: 'p', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'a' }, { name: 'b' }] },
    status: {
      phase: 'Running', podIP: '10.0.0.5',
      containerStatuses: [
        { name: 'a', ready: true, restartCount: 0, state: { running: {} } },
        { name: 'b', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { finishedAt: '2025-01-01T00:55:00Z' } } },
      ],
    },
  };
  const r = podStatusReason(pod);
  assert.equal(r.reason, 'CrashLoopBackOff');
  const cells = podsDef.table!.cells(pod as never, now);
  assert.deepEqual(cells.slice(0, 5), ['p', '1/2', 'CrashLoopBackOff', '3 (5m ago)', '60m']);
  assert.equal(cells[5], '10.0.0.5');
  assert.equal(podStatusReason({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: 'x' } }).reason, 'Terminating');
  assert.equal(podStatusReason({ spec: { containers: [{}], initContainers: [{ name: 'i' }] }, status: { phase: 'Pending', initContainerStatuses: [{ state: { waiting: { reason: 'PodInitializing' } } }] } } as never).reason, 'Init:0/1');
});
