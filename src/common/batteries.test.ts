import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batteries, isBatteryEnabled, parseDisabledBatteries } from './batteries.js';

test('--disable takes repeated and comma-separated K3s names', () => {
  const disabled = parseDisabledBatteries(['servicelb', 'metrics-server, local-storage', '']);
  assert.deepEqual([...disabled].sort(), ['local-storage', 'metrics-server', 'servicelb']);
  assert.equal(isBatteryEnabled(disabled, 'servicelb'), false);
  assert.equal(isBatteryEnabled(parseDisabledBatteries(undefined), 'servicelb'), true);
});

test('an unknown --disable name is refused with the valid names listed', () => {
  assert.throws(() => parseDisabledBatteries(['servicelb,traefik']), (err: Error) => {
    assert.match(err.message, /unknown component "traefik"/);
    for (const b of batteries) assert.ok(err.message.includes(b.name), `lists ${b.name}`);
    return true;
  });
  assert.throws(() => isBatteryEnabled(new Set(), 'servicelbb'), /no battery named "servicelbb"/);
});
