import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { distribution, percentileOfSorted, runConcurrent } from '../../bench/lib/stats.js';
import { benchCommand, newReport, renderSection, replaceSection, updateResultsFile, humanSummary } from '../../bench/lib/report.js';
import { machineInfo } from '../../bench/lib/machine.js';

test('percentiles use nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentileOfSorted(xs, 50), 50);
  assert.equal(percentileOfSorted(xs, 90), 90);
  assert.equal(percentileOfSorted(xs, 99), 99);
  assert.equal(percentileOfSorted(xs, 100), 100);
  assert.equal(percentileOfSorted([7], 99), 7);
  const d = distribution([5, 1, 3]);
  assert.deepEqual(d, { count: 3, min: 1, mean: 3, p50: 3, p90: 5, p99: 5, max: 5 });
  assert.equal(distribution([]).count, 0);
  assert.ok(Number.isNaN(distribution([]).p99));
});

test('runConcurrent bounds in-flight operations, counts errors, and times every op', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const seen = new Set<number>();
  const r = await runConcurrent(50, 4, async (i) => {
    seen.add(i);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((res) => setTimeout(res, 1));
    inFlight--;
    if (i % 10 === 0) throw new Error(`op ${i} failed`);
  });
  assert.equal(seen.size, 50);
  assert.equal(maxInFlight, 4);
  assert.equal(r.errors, 5);
  assert.equal(r.firstError, 'op 0 failed');
  assert.equal(r.latencyMs.count, 45);
  assert.ok(r.opsPerSecond > 0);
  await assert.rejects(runConcurrent(1, 0, async () => {}), /concurrency/);
});

test('benchCommand reproduces the invocation', () => {
  const saved = process.env.npm_lifecycle_event;
  try {
    process.env.npm_lifecycle_event = 'bench:apiserver';
    assert.equal(benchCommand(['node', 'x', '--pods', '100']), 'npm run bench:apiserver -- --pods 100');
    delete process.env.npm_lifecycle_event;
    assert.equal(benchCommand(['node', path.join(process.cwd(), 'bench/a.ts')]), 'node --import tsx bench/a.ts');
  } finally {
    if (saved === undefined) delete process.env.npm_lifecycle_event;
    else process.env.npm_lifecycle_event = saved;
  }
});

test('machine info describes this machine', () => {
  const m = machineInfo();
  assert.equal(m.nproc, os.availableParallelism());
  assert.equal(m.node, process.version);
  assert.ok(m.memTotalGiB > 0);
});

test('a bench replaces only its own section of RESULTS.md', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kedge-benchlib-'));
  try {
    const file = path.join(dir, 'RESULTS.md');
    writeFileSync(file, '# Results\n\nintro text\n\n<!-- bench:storage start -->\nstorage numbers\n<!-- bench:storage end -->\n');
    const r1 = newReport('apiserver', { pods: 10 });
    r1.notes.push('first run');
    updateResultsFile(file, 'apiserver', renderSection(r1, [['create | throughput', '100 objects/s', 'c=32']]));
    const afterFirst = readFileSync(file, 'utf8');
    assert.match(afterFirst, /intro text/);
    assert.match(afterFirst, /storage numbers/);
    assert.match(afterFirst, /\| create \\\| throughput \| 100 objects\/s \| c=32 \|/);
    assert.match(afterFirst, /- command: `/);
    assert.match(afterFirst, /- parameters: pods=10/);
    const r2 = newReport('apiserver', { pods: 20 });
    updateResultsFile(file, 'apiserver', renderSection(r2, [['create', '200 objects/s']]));
    const afterSecond = readFileSync(file, 'utf8');
    assert.equal(afterSecond.match(/<!-- bench:apiserver start -->/g)?.length, 1);
    assert.doesNotMatch(afterSecond, /100 objects\/s/);
    assert.match(afterSecond, /200 objects\/s/);
    assert.equal(afterSecond.indexOf('storage numbers') < afterSecond.indexOf('bench:apiserver'), true);
    // replacing leaves the rest byte for byte
    assert.equal(replaceSection(afterSecond, 'apiserver', renderSection(r2, [['create', '200 objects/s']])), afterSecond);
    assert.match(humanSummary(r2, [['create', '200 objects/s']]), /create {2}200 objects\/s/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formatBytes picks a readable unit', async () => {
  const { formatBytes } = await import('../../bench/lib/stats.js');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 1024 * 1024), '3 MiB');
});
