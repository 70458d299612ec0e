import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../storage/sqlite.js';
import { createLogger } from '../../common/logger.js';
import { DeviceTwins, DEVICES_PREFIX, MODELS_PREFIX } from './twin.js';
import { MqttTwinBridge, parseDeviceTopic } from './mqtt-twin.js';

const log = createLogger('test', 'silent');

test('topics: v1.17+ namespace form and the old default-namespace form; our own result topics are not requests', () => {
  assert.deepEqual(parseDeviceTopic('$hw/events/device/ns1/d1/twin/update'), { namespace: 'ns1', name: 'd1', action: 'twin/update', prefix: '$hw/events/device/ns1/d1' });
  assert.deepEqual(parseDeviceTopic('$hw/events/device/d1/twin/get'), { namespace: 'default', name: 'd1', action: 'twin/get', prefix: '$hw/events/device/d1' });
  assert.equal(parseDeviceTopic('$hw/events/device/ns1/d1/twin/update/result'), undefined);
  assert.equal(parseDeviceTopic('$hw/events/device/a/b/c/twin/update'), undefined);
  assert.equal(parseDeviceTopic('$hw/events/device//twin/update'), undefined);
});

test('bridge: hostile payloads get error results, change nothing, and never throw', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mqtt-twin-'));
  const store = await openSqliteStore(path.join(dir, 'store.db'));
  try {
    await store.create(MODELS_PREFIX + 'default/m', JSON.stringify({ metadata: { name: 'm', namespace: 'default' }, spec: { properties: [{ name: 't', type: 'INT', accessMode: 'ReadWrite', maximum: '10' }] } }));
    await store.create(DEVICES_PREFIX + 'default/d', JSON.stringify({ metadata: { name: 'd', namespace: 'default', uid: 'u' }, spec: { deviceModelRef: { name: 'm' }, nodeName: 'n', properties: [{ name: 't' }] } }));
    const twins = new DeviceTwins({ store, nodeName: 'n', log });
    await twins.start();
    const out: Array<{ topic: string; body: Record<string, unknown> }> = [];
    const bridge = new MqttTwinBridge({ twins, nodeName: 'n', log, link: { publish: (topic, payload) => out.push({ topic, body: JSON.parse(payload) as Record<string, unknown> }) } });
    bridge.start();
    const topic = '$hw/events/device/default/d/twin/update';
    const hostile: Array<[Buffer, number]> = [
      [Buffer.from('{'), 400],
      [Buffer.from('[]'), 400],
      [Buffer.from('null'), 400],
      [Buffer.alloc(300 * 1024, 0x20), 400],
      [Buffer.from(JSON.stringify({ twin: { 'bad key!': { actual: { value: '1' } } } })), 400],
      [Buffer.from(JSON.stringify({ twin: { t: { actual: { value: 'x'.repeat(600) } } } })), 400],
      [Buffer.from(JSON.stringify({ twin: { t: { actual: { value: { nested: true } } } } })), 400],
      [Buffer.from(JSON.stringify({ twin: { t: 'scalar' } })), 400],
      [Buffer.from(JSON.stringify({ twin: { t: { actual: { value: 'abc' } } } })), 400],
      [Buffer.from(JSON.stringify({ twin: { t: { expected: { value: '11' } } } })), 400],
    ];
    for (const [payload, code] of hostile) {
      out.length = 0;
      assert.doesNotThrow(() => bridge.handle(topic, payload));
      assert.equal(out.length, 1, payload.toString().slice(0, 60));
      assert.equal(out[0]!.topic, `${topic}/result`);
      assert.equal(out[0]!.body.code, code, JSON.stringify(out[0]!.body));
    }
    assert.equal(twins.twin('default', 'd')?.properties.t?.reported, undefined);
    assert.equal(twins.twin('default', 'd')?.properties.t?.desired, undefined);
    out.length = 0;
    bridge.handle('$hw/events/device/default/ghost/twin/get', Buffer.from('{}'));
    assert.equal(out[0]!.body.code, 404);
    out.length = 0;
    bridge.handle('$hw/events/device/default/d/state/update', Buffer.from(JSON.stringify({ state: 'a b' })));
    assert.equal(out[0]!.body.code, 400);
    // A good update: a result, a document, and (expected differs from actual) a delta.
    out.length = 0;
    bridge.handle(topic, Buffer.from(JSON.stringify({ event_id: 'e', twin: { t: { actual: { value: '3' }, expected: { value: '5' } } } })));
    const topics = out.map((o) => o.topic).sort();
    assert.deepEqual(topics, [`${topic}/delta`, `${topic}/document`, `${topic}/result`]);
    assert.deepEqual(out.find((o) => o.topic.endsWith('/delta'))!.body.delta, { t: '5' });
    // The next report's document carries the previous value as `last`.
    out.length = 0;
    bridge.handle(topic, Buffer.from(JSON.stringify({ event_id: 'e2', twin: { t: { actual: { value: '4' } } } })));
    const doc = out.find((o) => o.topic.endsWith('/document'))!.body.twin as Record<string, { last: { actual: { value: string } }; current: { actual: { value: string } } }>;
    assert.equal(doc.t!.last.actual.value, '3');
    assert.equal(doc.t!.current.actual.value, '4');
    bridge.stop();
    await twins.stop();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
