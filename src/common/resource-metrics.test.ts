import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuNanoCores, parseResourceMetrics, renderResourceMetrics, type ResourceSample } from './resource-metrics.js';

const sample: ResourceSample = {
  node: { cpuSeconds: 1234.5, cpuTimestampMs: 1796607011962, memoryWorkingSetBytes: 2147483648, memoryTimestampMs: 1796607011962 },
  pods: [{ namespace: 'default', pod: 'burn', cpuSeconds: 4.59, cpuTimestampMs: 1796607011962, memoryWorkingSetBytes: 221184, memoryTimestampMs: 1796607011962 }],
  containers: [
    { namespace: 'default', pod: 'burn', container: 'c', cpuSeconds: 4.59, cpuTimestampMs: 1796607011962, memoryWorkingSetBytes: 221184, memoryTimestampMs: 1796607011962, startTimeSeconds: 1796607000.5 },
    { namespace: 'we"ird', pod: 'a\\b', container: 'new\nline', cpuSeconds: 0, cpuTimestampMs: 1, memoryWorkingSetBytes: 0, memoryTimestampMs: 1 },
  ],
  scrapeError: false,
};

test('render: kubelet metric names, types, labels in its order, sample timestamps in ms', () => {
  const text = renderResourceMetrics(sample);
  assert.match(text, /^# HELP container_cpu_usage_seconds_total \[STABLE\] Cumulative cpu time consumed by the container in core-seconds$/m);
  assert.match(text, /^container_cpu_usage_seconds_total\{container="c",namespace="default",pod="burn"\} 4\.59 1796607011962$/m);
  assert.match(text, /^node_cpu_usage_seconds_total 1234\.5 1796607011962$/m);
  assert.match(text, /^node_memory_working_set_bytes 2147483648 1796607011962$/m);
  assert.match(text, /^pod_memory_working_set_bytes\{namespace="default",pod="burn"\} 221184 1796607011962$/m);
  assert.match(text, /^container_start_time_seconds\{container="c",namespace="default",pod="burn"\} 1796607000\.5$/m);
  assert.match(text, /^# TYPE resource_scrape_error gauge\nresource_scrape_error 0$/m);
  assert.match(text, /container="new\\nline",namespace="we\\"ird",pod="a\\\\b"/);
});

test('parse(render(x)) = x, escapes included; foreign families are skipped', () => {
  const text = `# HELP something_else whatever\nsomething_else{x="1"} 3\n${renderResourceMetrics(sample)}`;
  const back = parseResourceMetrics(text);
  assert.deepEqual(back.node, sample.node);
  assert.deepEqual(back.pods, sample.pods);
  assert.deepEqual(back.containers, sample.containers);
  assert.equal(back.scrapeError, false);
  assert.equal(parseResourceMetrics('resource_scrape_error 1\n').scrapeError, true);
});

test('parse: a malformed line of a resource family fails the scrape with a clear error', () => {
  assert.throws(() => parseResourceMetrics('container_cpu_usage_seconds_total{container="c" 1\n'), /malformed sample line/);
  assert.throws(() => parseResourceMetrics('node_cpu_usage_seconds_total abc\n'), /malformed sample line/);
  assert.throws(() => parseResourceMetrics('container_cpu_usage_seconds_total{pod="p"} 1\n'), /without namespace\/pod\/container/);
});

test('cpu rate: nanocores from two cumulative samples; none when time did not advance or the counter went back', () => {
  assert.equal(cpuNanoCores({ cpuSeconds: 10, timestampMs: 1000 }, { cpuSeconds: 17.5, timestampMs: 16000 }), 500_000_000);
  assert.equal(cpuNanoCores({ cpuSeconds: 10, timestampMs: 1000 }, { cpuSeconds: 10, timestampMs: 2000 }), 0);
  assert.equal(cpuNanoCores({ cpuSeconds: 10, timestampMs: 1000 }, { cpuSeconds: 11, timestampMs: 1000 }), null);
  assert.equal(cpuNanoCores({ cpuSeconds: 10, timestampMs: 1000 }, { cpuSeconds: 5, timestampMs: 2000 }), null);
});
