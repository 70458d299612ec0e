import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1PodStatus } from '@kubernetes/client-node';
import { reportedPodStatus } from './reported-status.js';

const status = (ready: string, extra: V1PodStatus['conditions'] = []): V1PodStatus => ({
  phase: 'Running',
  conditions: [{ type: 'ContainersReady', status: ready }, { type: 'Ready', status: ready }, ...extra],
});
const pod = (s: V1PodStatus): V1PodStatus => s;

test('a status change contradicting the node\'s last report is news for the node; the echo of the report is not', () => {
  const r = reportedPodStatus();
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

test('the echo of an earlier report that the cache shows after a later one was written is not a contradiction', () => {
  const r = reportedPodStatus();
  const pending: V1PodStatus = { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] };
  r.record('k', pending);
  r.record('k', status('True'));
  // the cache shows the Pending write after the hub recorded Running (two writes in flight)
  assert.equal(r.contradicted('k', pod({}), pod(pending)), false, 'echo of the first write');
  assert.equal(r.contradicted('k', pod(pending), pod(status('True'))), false, 'echo of the second write');
  // once Running was seen, Pending again comes from someone else
  assert.equal(r.contradicted('k', pod(status('True')), pod(pending)), true, 'a later Pending contradicts the node');
  assert.equal(r.contradicted('k', pod(status('True')), pod(status('False'))), true, 'upstream set Ready=False');
});

test('writes that never land do not pile up', () => {
  const r = reportedPodStatus();
  for (let i = 0; i < 100; i++) r.record('k', { phase: `P${i}` });
  assert.equal(r.contradicted('k', pod({}), pod({ phase: 'P0' })), true, 'the oldest unseen writes were dropped');
  assert.equal(r.contradicted('k', pod({}), pod({ phase: 'P95' })), false);
  assert.equal(r.contradicted('k', pod({}), pod({ phase: 'P94' })), true, 'writes before the one shown are retired');
});
