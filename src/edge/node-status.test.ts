import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildNode, NodeStatusReportPolicy, nodeStatusFingerprint } from './node-status.js';

const since = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(since.getTime() + s * 1000);
const node = (t: Date, o: { ready?: boolean; cpu?: string } = {}) =>
  buildNode({ nodeName: 'n1', since, capacity: { cpu: o.cpu ?? '4', memory: '8Gi' }, ready: o.ready }, t);

test('heartbeat times alone do not change the fingerprint; a condition or capacity change does', () => {
  assert.equal(nodeStatusFingerprint(node(at(10))), nodeStatusFingerprint(node(at(20))));
  assert.notEqual(nodeStatusFingerprint(node(at(10))), nodeStatusFingerprint(node(at(10), { ready: false })));
  assert.notEqual(nodeStatusFingerprint(node(at(10))), nodeStatusFingerprint(node(at(10), { cpu: '8' })));
});

test('an unchanged status is posted once, then only when the report interval has passed (kubelet nodeStatusReportFrequency)', () => {
  let clock = 0;
  const policy = new NodeStatusReportPolicy(300_000, () => clock);
  const posted: number[] = [];
  // computed every 10 s for 11 minutes
  for (clock = 0; clock <= 660_000; clock += 10_000) if (policy.shouldReport(node(at(clock / 1000)))) posted.push(clock);
  assert.deepEqual(posted, [0, 300_000, 600_000]);
});

test('a changed status is posted at the next computation, and the interval restarts from it', () => {
  let clock = 0;
  const policy = new NodeStatusReportPolicy(300_000, () => clock);
  assert.equal(policy.shouldReport(node(at(0))), true);
  clock = 10_000;
  assert.equal(policy.shouldReport(node(at(10))), false);
  clock = 20_000;
  assert.equal(policy.shouldReport(node(at(20), { ready: false })), true, 'Ready went False: posted at once');
  clock = 30_000;
  assert.equal(policy.shouldReport(node(at(30), { ready: false })), false);
  clock = 40_000;
  assert.equal(policy.shouldReport(node(at(40))), true, 'Ready back: posted at once');
  clock = 330_000;
  assert.equal(policy.shouldReport(node(at(330))), false, 'less than the interval since the last post');
  clock = 340_000;
  assert.equal(policy.shouldReport(node(at(340))), true);
});

test('reset (a new hub connection) makes the next computation a post', () => {
  let clock = 0;
  const policy = new NodeStatusReportPolicy(300_000, () => clock);
  assert.equal(policy.shouldReport(node(at(0))), true);
  clock = 10_000;
  assert.equal(policy.shouldReport(node(at(10))), false);
  policy.reset();
  assert.equal(policy.shouldReport(node(at(10))), true);
});
