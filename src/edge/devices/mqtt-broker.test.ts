import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMqttBroker } from './mqtt-broker.js';
import { resolveRunSettings } from '../config.js';

test('--mqtt-broker: embedded (default), none, tcp:// or mqtt:// of an external broker; anything else is a clear error', () => {
  assert.deepEqual(parseMqttBroker(undefined), { kind: 'embedded' });
  assert.deepEqual(parseMqttBroker('embedded'), { kind: 'embedded' });
  assert.deepEqual(parseMqttBroker('none'), { kind: 'none' });
  assert.deepEqual(parseMqttBroker('tcp://10.0.0.5:1883'), { kind: 'external', url: 'mqtt://10.0.0.5:1883' });
  assert.deepEqual(parseMqttBroker('tcp://user:secret@broker:1883'), { kind: 'external', url: 'mqtt://user:secret@broker:1883' });
  for (const bad of ['http://x:1883', 'tcp://', 'tcp://h:1883/path', 'mosquitto']) assert.throws(() => parseMqttBroker(bad), /invalid --mqtt-broker/);
});

test('MQTT settings: stored at join, kept by run, a run flag overrides; a bad port is refused', () => {
  const stored = { server: 'https://h:1', nodeName: 'n', runtime: 'none' as const, mqttBroker: 'tcp://b:1883', mqttPort: 0 };
  assert.equal(resolveRunSettings(stored, {}, () => '').settings.mqttBroker, 'tcp://b:1883');
  assert.equal(resolveRunSettings(stored, { mqttBroker: 'none' }, () => '').settings.mqttBroker, 'none');
  assert.equal(resolveRunSettings(stored, {}, () => '').settings.mqttPort, 0);
  assert.throws(() => resolveRunSettings(stored, { mqttPort: '70000' }, () => ''), /invalid --mqtt-port/);
  assert.throws(() => resolveRunSettings(stored, { mqttBroker: 'udp://x' }, () => ''), /invalid --mqtt-broker/);
});
