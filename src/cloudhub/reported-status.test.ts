import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { ReportedPodStatus } from './reported-status.js';

const status = (ready: string, extra: V1PodStatus['conditions'] = []): V1PodStatus => ({
  phase: 'Running',
  conditions: [{ type: 'ContainersReady', status: ready }, { type: 'Ready', status: ready }, ...extra],
});
const pod = (s: V1PodStatus): V1Pod => ({ metadata: { name: 'p' }, status: s });

test('a status change contradicting the node\'s last report is news for the node; the echo of the report is not', () => {
  const r = new ReportedPodStatus();
  r.record('k', status('True'));
  assert.equal(r.contradicted('k', pod(status('False')), pod(status('True'))), false, 'echo of the report');
  assert.equal(r.contradicted('k', pod(status('True')), pod(status('False'))), true, 'upstream set Ready=False');
  assert.equal(r.contradicted('k', pod(status('True')), pod(status('True', [{ type: 'example.com/gate', status: 'True' }]))), false, 'others\' own conditions do not count here');
  // No record (the hub restarted): a change of the signature between versions counts.
  assert.equal(r.contradicted('other', pod(status('True')), pod(status('False'))), true);
  assert.equal(r.contradicted('other', pod(status('True')), pod(status('True'))), false);
  r.forget('k');
  assert.equal(r.size, 0);
});
