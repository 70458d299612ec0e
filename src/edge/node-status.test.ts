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

test('node info: OS image from os-release PRETTY_NAME, runtime version from CRI, ephemeral-storage from the disk, as the kubelet', async () => {
  const { osImageFrom, bytesQuantity, filesystemBytes } = await import('./node-status.js');
  assert.equal(osImageFrom('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'), 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(osImageFrom('ID=alpine\nPRETTY_NAME=Alpine\n'), 'Alpine');
  assert.equal(osImageFrom(undefined), 'Linux', 'cadvisor\'s fallback');
  assert.equal(bytesQuantity(62725623808), '61255492Ki');
  assert.equal(bytesQuantity(10 * 1024 ** 3), '10Gi');
  assert.equal(bytesQuantity(56453061334), '56453061334');
  const disk = await filesystemBytes(process.cwd());
  assert.ok(disk > 0);
  const n = buildNode({ nodeName: 'n1', since, facts: { osImage: 'Debian GNU/Linux 12 (bookworm)', containerRuntimeVersion: 'containerd://1.6.20~ds1', ephemeralStorageBytes: 62725623808 } }, at(0));
  assert.equal(n.status!.nodeInfo!.osImage, 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(n.status!.nodeInfo!.containerRuntimeVersion, 'containerd://1.6.20~ds1');
  assert.equal(n.status!.capacity!['ephemeral-storage'], '61255492Ki');
  // allocatable = capacity − the default hard eviction threshold nodefs.available<10%
  assert.equal(n.status!.allocatable!['ephemeral-storage'], String(62725623808 - Math.floor(62725623808 * 0.1)));
  // The hollow-node simulator's fixed machine keeps its fixed disk.
  const hollow = buildNode({ nodeName: 'h', since, capacity: { cpu: '4', memory: '8Gi', ephemeralStorage: '10Gi' }, facts: { ephemeralStorageBytes: 1 } }, at(0));
  assert.equal(hollow.status!.capacity!['ephemeral-storage'], '10Gi');
});
