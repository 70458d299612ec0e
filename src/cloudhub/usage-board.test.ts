import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { UsageBoard } from './usage-board.js';

const pods: Record<string, string> = { 'default/mine': 'n1', 'default/theirs': 'n2' };
const lookup = (ns: string, name: string) => (pods[`${ns}/${name}`] ? ({ spec: { nodeName: pods[`${ns}/${name}`] } } as V1Pod) : undefined);
const point = { cpuSeconds: 1, memoryWorkingSetBytes: 1 };
const sample = (...names: string[]) => ({
  node: point,
  pods: names.map((pod) => ({ namespace: 'default', pod, ...point })),
  containers: names.map((pod) => ({ namespace: 'default', pod, container: 'c', ...point })),
  scrapeError: false,
});

test('a node reports only pods bound to it: figures for other nodes\' pods and unknown pods are dropped', () => {
  const board = new UsageBoard(60_000, lookup, () => 1000);
  assert.deepEqual(board.record('n1', sample('mine', 'theirs', 'ghost')), { ok: true, droppedPods: 2 });
  const [e] = board.since(0).entries;
  assert.deepEqual(e!.sample.pods.map((p) => p.pod), ['mine']);
  assert.deepEqual(e!.sample.containers.map((c) => c.pod), ['mine']);
  assert.deepEqual(e!.sample.node, point, 'the node\'s own figures are kept');
});

test('reports sooner than half the interval are dropped; pages return what is new since a seq; reporting = recent', () => {
  let now = 0;
  const board = new UsageBoard(60_000, lookup, () => now);
  assert.equal(board.record('n1', sample()).ok, true);
  now = 29_000;
  assert.deepEqual(board.record('n1', sample()), { ok: false, reason: 'too-frequent' });
  assert.equal(board.record('n2', sample('theirs')).ok, true);
  const first = board.since(0);
  assert.deepEqual(first.entries.map((e) => e.node).sort(), ['n1', 'n2']);
  assert.deepEqual(first.reporting.sort(), ['n1', 'n2']);
  now = 40_000;
  board.record('n1', sample());
  const next = board.since(first.seq);
  assert.deepEqual(next.entries.map((e) => e.node), ['n1']);
  now = 40_000 + 151_000; // 2.5 intervals after n1's last report, n2's is older still
  assert.deepEqual(board.since(next.seq), { seq: next.seq, entries: [], reporting: [] });
});

test('a node whose session ended counts as reporting for one interval (a reconnect costs no scrape), then not; its entry goes after 2.5', () => {
  let now = 0;
  const board = new UsageBoard(60_000, lookup, () => now);
  board.record('n1', sample());
  board.record('n2', sample());
  now = 10_000;
  board.sessionEnded('n1');
  board.sessionEnded('n2');
  board.sessionStarted('n2'); // came back at once
  now = 65_000;
  assert.deepEqual(board.since(0).reporting.sort(), ['n1', 'n2'], 'within one interval of the cut');
  now = 71_000;
  assert.deepEqual(board.since(0).reporting, ['n2'], 'n1 did not come back: the scraper asks its kubelet (and drops it)');
  now = 10_000 + 150_001;
  const late = board.since(0);
  assert.deepEqual(late.entries.map((e) => e.node), ['n2'], 'n1 forgotten');
  assert.deepEqual(late.reporting, [], 'n2\'s report is too old to count as reporting');
  board.record('n2', sample());
  assert.deepEqual(board.since(0).reporting, ['n2']);
});
