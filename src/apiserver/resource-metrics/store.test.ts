import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerPoint, ResourceSample } from '../../common/resource-metrics.js';
import { goDuration } from './api.js';
import { ResourceMetricsStore } from './store.js';

const T0 = 1_800_000_000_000;

function sample(atMs: number, nodeCpuSeconds: number, containers: Omit<ContainerPoint, 'cpuTimestampMs' | 'memoryTimestampMs'>[]): ResourceSample {
  return {
    node: { cpuSeconds: nodeCpuSeconds, cpuTimestampMs: atMs, memoryWorkingSetBytes: 1 << 30, memoryTimestampMs: atMs },
    pods: [],
    containers: containers.map((c) => ({ ...c, cpuTimestampMs: atMs, memoryTimestampMs: atMs })),
    scrapeError: false,
  };
}

const burn = (cpuSeconds: number, startTimeSeconds = T0 / 1000 - 100) => ({ namespace: 'default', pod: 'burn', container: 'c', cpuSeconds, memoryWorkingSetBytes: 5 << 20, startTimeSeconds });

test('node and pod usage come from two scrapes: rate over the window, timestamp = the later sample', () => {
  const s = new ResourceMetricsStore();
  s.record('n1', sample(T0, 100, [burn(10)]), T0);
  assert.equal(s.node('n1'), undefined, 'one scrape gives no rate');
  assert.deepEqual(s.pods(), []);
  s.record('n1', sample(T0 + 15_000, 115, [burn(17.5)]), T0 + 15_000);
  assert.deepEqual(s.node('n1'), { cpuNanoCores: 1_000_000_000, memoryBytes: 1 << 30, timestampMs: T0 + 15_000, windowMs: 15_000 });
  assert.deepEqual(s.pods(), [{ namespace: 'default', name: 'burn', timestampMs: T0 + 15_000, windowMs: 15_000, containers: [{ name: 'c', cpuNanoCores: 500_000_000, memoryBytes: 5 << 20 }] }]);
});

test('a container that started after the previous scrape is measured from its start (counter 0 then)', () => {
  const s = new ResourceMetricsStore();
  s.record('n1', sample(T0, 100, []), T0);
  const started = (T0 + 5_000) / 1000;
  s.record('n1', sample(T0 + 15_000, 110, [burn(2.5, started)]), T0 + 15_000);
  const [pod] = s.pods();
  assert.equal(pod!.containers[0]!.cpuNanoCores, 250_000_000);
  assert.equal(pod!.windowMs, 10_000);
});

test('a restarted container (new start time, counter reset) before the previous scrape, or a counter that went back, has no usage; its pod is left out', () => {
  const s = new ResourceMetricsStore();
  s.record('n1', sample(T0, 100, [burn(50), { ...burn(1), container: 'side' }]), T0);
  s.record('n1', sample(T0 + 15_000, 110, [burn(3), { ...burn(2), container: 'side' }]), T0 + 15_000);
  assert.deepEqual(s.pods(), [], 'counter went backwards with the same start time');
  s.record('n1', sample(T0 + 30_000, 120, [burn(4.5), { ...burn(2.5), container: 'side' }]), T0 + 30_000);
  assert.equal(s.pods()[0]!.containers.length, 2);
});

test('a failed scrape drops the node and its pods at once; a node that is gone from the API is pruned by the scraper', () => {
  const s = new ResourceMetricsStore();
  s.record('n1', sample(T0, 100, [burn(10)]), T0);
  s.record('n1', sample(T0 + 15_000, 115, [burn(17.5)]), T0 + 15_000);
  s.forget('n1');
  assert.equal(s.node('n1'), undefined);
  assert.deepEqual(s.pods(), []);
  assert.deepEqual(s.nodeNames(), []);
});

test('window is written as a Go duration, as metrics-server does', () => {
  assert.equal(goDuration(15_000), '15s');
  assert.equal(goDuration(15_034), '15.034s');
  assert.equal(goDuration(60_500), '1m0.5s');
  assert.equal(goDuration(3_600_000), '1h0m0s');
  assert.equal(goDuration(250), '250ms');
});

test('a repeated answer (same sample time) keeps the pair already held instead of a zero window', () => {
  const s = new ResourceMetricsStore();
  s.record('n1', sample(T0, 100, [burn(10)]), T0);
  s.record('n1', sample(T0 + 15_000, 115, [burn(17.5)]), T0 + 15_000);
  s.record('n1', sample(T0 + 15_000, 115, [burn(17.5)]), T0 + 16_000);
  assert.equal(s.node('n1')?.cpuNanoCores, 1_000_000_000);
  assert.equal(s.pods().length, 1);
});
