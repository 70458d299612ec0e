import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEdgeToHub, decodeHubToEdge, encode, ProtocolError } from './validate.js';
import { MAX_EDGE_TO_HUB_BYTES, negotiateVersion } from './messages.js';
import { parseKey, objectKey } from './keys.js';

function refused(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof ProtocolError && e.code === code);
}

test('valid frames decode both ways', () => {
  const hello = decodeEdgeToHub(encode({ type: 'hello', versions: [1], node: 'edge-1', cursor: { epoch: 'e1', seq: 5 } }));
  assert.equal(hello.type, 'hello');
  const up = decodeHubToEdge(
    encode({ type: 'upsert', seq: 3, key: '/registry/pods/default/p1', object: { metadata: { name: 'p1', uid: 'u', resourceVersion: '7' } } }),
  );
  assert.equal(up.type, 'upsert');
  assert.equal(decodeEdgeToHub(Buffer.from('{"type":"ack","seq":4}')).type, 'ack');
});

test('malformed, unknown, oversized and out-of-schema frames are refused', () => {
  refused(() => decodeEdgeToHub('{not json'), 'bad-json');
  refused(() => decodeEdgeToHub('[1,2]'), 'bad-message');
  refused(() => decodeEdgeToHub('{"type":"launch-missiles"}'), 'unknown-type');
  refused(() => decodeEdgeToHub('{"type":"ack","seq":-1}'), 'bad-message');
  refused(() => decodeEdgeToHub('{"type":"ack","seq":1,"extra":true}'), 'bad-message');
  refused(() => decodeEdgeToHub('{"type":"hello","versions":[1],"node":"Bad_Name"}'), 'bad-message');
  refused(() => decodeEdgeToHub('{"type":"get","id":1,"key":"/registry/pods/../../etc"}'), 'bad-message');
  refused(() => decodeEdgeToHub(Buffer.alloc(MAX_EDGE_TO_HUB_BYTES + 1, 32)), 'too-large');
  // Upserts must carry an object with metadata.name.
  refused(() => decodeHubToEdge('{"type":"upsert","seq":1,"key":"/registry/pods/a/b","object":{}}'), 'bad-message');
});

test('version negotiation picks a common version or none', () => {
  assert.equal(negotiateVersion([1, 2]), 2);
  assert.equal(negotiateVersion([1]), 1, 'an edge that speaks only 1 gets 1 (no patch messages)');
  assert.equal(negotiateVersion([2, 3]), 3, '3 = 2 + tunnel frames');
  assert.equal(negotiateVersion([2]), 2, 'an edge without the tunnel gets 2 (no streams are opened to it)');
  assert.equal(negotiateVersion([2, 3, 4]), 4, '4 = 3 + the link-level tunnel window');
  assert.equal(negotiateVersion([1, 2, 3]), 3, 'an edge of the previous release keeps per-stream windows only');
  assert.equal(negotiateVersion([4, 5]), 5, '5 = 4 + progress (revision cursors)');
  assert.equal(negotiateVersion([5, 6]), 6, '6 = 5 + usage reports');
  assert.equal(negotiateVersion([7, 8]), null);
});

test('usage reports: bounded, non-negative figures, no unknown fields; welcome carries the interval', () => {
  const sample = {
    node: { cpuSeconds: 12.5, cpuTimestampMs: 1_700_000_000_000, memoryWorkingSetBytes: 1e9 },
    pods: [{ namespace: 'default', pod: 'a', cpuSeconds: 1 }],
    containers: [{ namespace: 'default', pod: 'a', container: 'c', startTimeSeconds: 1_700_000_000, cpuSeconds: 1, memoryWorkingSetBytes: 5 }],
    scrapeError: false,
  };
  assert.deepEqual(decodeEdgeToHub(JSON.stringify({ type: 'usage', sample })), { type: 'usage', sample });
  const bad = (s: unknown) => refused(() => decodeEdgeToHub(JSON.stringify({ type: 'usage', sample: s })), 'bad-message');
  bad({ ...sample, node: { cpuSeconds: -1 } });
  bad({ ...sample, containers: [{ ...sample.containers[0], memoryWorkingSetBytes: 'lots' }] });
  bad({ ...sample, pods: [{ namespace: '', pod: 'a' }] });
  bad({ ...sample, extra: 1 });
  bad({ pods: [], containers: Array.from({ length: 10_001 }, () => sample.containers[0]), scrapeError: false });
  assert.equal((decodeHubToEdge(JSON.stringify({ type: 'welcome', version: 6, epoch: 'e', resume: true, usageIntervalMs: 60_000 })) as { usageIntervalMs?: number }).usageIntervalMs, 60_000);
  refused(() => decodeHubToEdge(JSON.stringify({ type: 'welcome', version: 6, epoch: 'e', resume: true, usageIntervalMs: 10 })), 'bad-message');
});

test('keys round-trip for namespaced, cluster-scoped and group resources', () => {
  assert.deepEqual(parseKey(objectKey('pods', 'ns', 'p')), { resource: 'pods', namespace: 'ns', name: 'p' });
  assert.deepEqual(parseKey(objectKey('nodes', undefined, 'n1')), { resource: 'nodes', name: 'n1' });
  assert.deepEqual(parseKey('/registry/endpointslices.discovery.k8s.io/ns/s'), { resource: 'endpointslices.discovery.k8s.io', namespace: 'ns', name: 's' });
  assert.equal(parseKey('/registry/pods/onlyname'), null);
  assert.equal(parseKey('/registry/widgets/a/b'), null);
});
