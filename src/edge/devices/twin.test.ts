import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSqliteStore } from '../../storage/sqlite.js';
import { createLogger } from '../../common/logger.js';
import type { Store } from '../../storage/types.js';
import type { Device, DeviceModel, DeviceStatusFields } from '../../protocol/devices.js';
import { DeviceTwins, DEVICES_PREFIX, MODELS_PREFIX, UnknownDeviceError } from './twin.js';

const log = createLogger('test', 'silent');

const model: DeviceModel = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'thermo', namespace: 'default', uid: 'm1', resourceVersion: '1' },
  spec: {
    protocol: 'modbus',
    properties: [
      { name: 'temperature', type: 'INT', accessMode: 'ReadOnly' },
      { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '0', maximum: '50' },
    ],
  },
};

function device(rv: string, desired?: string, reportCycle = 0): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name: 'd1', namespace: 'default', uid: 'u1', resourceVersion: rv },
    spec: {
      deviceModelRef: { name: 'thermo' },
      nodeName: 'edge-1',
      protocol: { protocolName: 'modbus' },
      properties: [
        { name: 'temperature', reportCycle },
        { name: 'setpoint', ...(desired ? { desired: { value: desired } } : {}) },
      ],
    },
  };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function withStore(fn: (dir: string, open: () => Promise<Store>) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'twin-'));
  try {
    await fn(dir, () => openSqliteStore(path.join(dir, 'store.db')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('desired changes reach listeners; reports are type-checked, persisted across restart and uploaded', async () => {
  await withStore(async (_dir, open) => {
    let store = await open();
    await store.create(MODELS_PREFIX + 'default/thermo', JSON.stringify(model));
    await store.create(DEVICES_PREFIX + 'default/d1', JSON.stringify(device('2', '20')));
    const uploads: DeviceStatusFields[] = [];
    const sink = { setDeviceStatus: (_ns: string, _n: string, _uid: string, s: DeviceStatusFields) => uploads.push(s) };
    let twins = new DeviceTwins({ store, nodeName: 'edge-1', log, sink });
    const desired: string[][] = [];
    twins.onDesiredChanged((_d, m, c) => { assert.equal(m?.metadata.name, 'thermo'); desired.push(c.changedProperties); });
    await twins.start();
    assert.deepEqual(desired, [['setpoint']]);
    assert.deepEqual(twins.devicesFor('modbus').devices.map((d) => d.metadata.name), ['d1']);
    assert.equal(twins.devicesFor('modbus').models.length, 1);
    assert.equal(twins.devicesFor('opcua').devices.length, 0);

    const out = twins.reportFromMapper('default', 'd1', [
      { propertyName: 'temperature', value: '21', timestamp: 1000 },
      { propertyName: 'temperature2', value: '1' },
      { propertyName: 'setpoint', value: 'warm' },
    ]);
    assert.deepEqual(out.accepted, ['temperature']);
    assert.equal(out.rejected.length, 2);
    assert.throws(() => twins.reportFromMapper('default', 'nope', []), UnknownDeviceError);
    // An older reading never replaces a newer one.
    twins.reportFromMapper('default', 'd1', [{ propertyName: 'temperature', value: '19', timestamp: 500 }]);
    assert.equal(twins.twin('default', 'd1')?.properties.temperature?.reported?.value, '21');
    await waitFor(() => uploads.length > 0, 'upload');
    const last = uploads.at(-1)!;
    assert.equal(last.state, 'online');
    assert.deepEqual(last.twins?.find((t) => t.propertyName === 'temperature')?.reported, { value: '21', metadata: { timestamp: '1000' } });

    // Cloud changes the desired value: listeners hear which property changed.
    await store.update(DEVICES_PREFIX + 'default/d1', JSON.stringify(device('3', '25')));
    await waitFor(() => desired.length === 2, 'desired change');
    assert.deepEqual(desired[1], ['setpoint']);
    assert.equal(twins.twin('default', 'd1')?.properties.setpoint?.desired?.value, '25');

    // Restart (offline): the reported value is still there.
    await twins.stop();
    await store.close();
    store = await open();
    twins = new DeviceTwins({ store, nodeName: 'edge-1', log });
    await twins.start();
    assert.equal(twins.twin('default', 'd1')?.properties.temperature?.reported?.value, '21');
    assert.equal(twins.twin('default', 'd1')?.state, 'online');

    // Device removed: listeners hear it and its twin state goes.
    const removed: string[] = [];
    twins.onDeviceRemoved((d) => removed.push(d.metadata.name!));
    await store.delete(DEVICES_PREFIX + 'default/d1');
    await waitFor(() => removed.length === 1, 'removal');
    assert.equal(twins.twin('default', 'd1'), undefined);
    await twins.stop();
    assert.equal((await store.list('/kedge/devices/')).items.length, 0);
    await store.close();
  });
});

test('reportCycle paces uploads: many readings inside one cycle go up once, with the latest value', async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    await store.create(MODELS_PREFIX + 'default/thermo', JSON.stringify(model));
    await store.create(DEVICES_PREFIX + 'default/d1', JSON.stringify(device('2', undefined, 300_000_000)));
    const uploads: DeviceStatusFields[] = [];
    const twins = new DeviceTwins({ store, nodeName: 'edge-1', log, sink: { setDeviceStatus: (_a, _b, _c, s) => uploads.push(s) } });
    await twins.start();
    twins.reportFromMapper('default', 'd1', [{ propertyName: 'temperature', value: '1' }]);
    await waitFor(() => uploads.length === 1, 'first upload');
    for (let i = 2; i <= 10; i++) twins.reportFromMapper('default', 'd1', [{ propertyName: 'temperature', value: String(i) }]);
    await waitFor(() => uploads.length === 2, 'second upload');
    assert.equal(uploads[1]!.twins?.[0]?.reported?.value, '10');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(uploads.length, 2);
    await twins.stop();
    await store.close();
  });
});

test('edge-local expected values are checked against the model and superseded by a new cloud desired value', async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    await store.create(MODELS_PREFIX + 'default/thermo', JSON.stringify(model));
    await store.create(DEVICES_PREFIX + 'default/d1', JSON.stringify(device('2', '20')));
    const twins = new DeviceTwins({ store, nodeName: 'edge-1', log });
    await twins.start();
    const r = twins.setExpected('default', 'd1', [
      { propertyName: 'setpoint', value: '30' },
      { propertyName: 'temperature', value: '30' },
      { propertyName: 'setpoint', value: '99' },
    ]);
    assert.deepEqual(r.accepted, ['setpoint']);
    assert.match(r.rejected[0]!.reason, /ReadOnly/);
    assert.match(r.rejected[1]!.reason, /at most 50/);
    assert.equal(twins.twin('default', 'd1')?.properties.setpoint?.desired?.value, '30');
    await store.update(DEVICES_PREFIX + 'default/d1', JSON.stringify(device('3', '22')));
    await waitFor(() => twins.twin('default', 'd1')?.properties.setpoint?.desired?.value === '22', 'cloud desired wins');
    await twins.stop();
    await store.close();
  });
});
