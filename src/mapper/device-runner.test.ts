import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { DeviceRunner, type RunnerSink } from './device-runner.js';
import { Publisher } from './push.js';
import type { DeviceDriver, MapperDevice, MapperProtocol } from './types.js';

const log = pino({ level: 'silent' });
const device: MapperDevice = {
  namespace: 'default',
  name: 'd',
  model: 'm',
  protocolConfig: {},
  properties: [{ name: 'level', type: 'INT', accessMode: 'ReadWrite', visitor: {}, collectCycleMs: 20, reportCycleMs: 20, reportToCloud: true, desired: '7' }],
};

function harness(driver: DeviceDriver) {
  const states: string[] = [];
  const reports: string[] = [];
  const sink: RunnerSink = {
    reportTwins: async (_d, twins) => void reports.push(...twins.map((t) => t.reported!.value!)),
    reportState: async (_d, s) => void states.push(s),
  };
  const protocol: MapperProtocol = { name: 'fake', check: () => {}, open: () => driver };
  return { states, reports, runner: new DeviceRunner(device, protocol, sink, new Publisher(log), log) };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('a device that hangs gets one read at a time, not a pile of them', async () => {
  let reads = 0;
  const driver: DeviceDriver = { read: () => (reads++, new Promise<string>(() => {})), write: async () => {}, close: async () => {} };
  const { runner } = harness(driver);
  runner.start();
  await sleep(300);
  assert.equal(reads, 1);
  void runner.stop();
});

test('offline after two failed reads, online again by itself; desired values written again after the outage', async () => {
  let answering = true;
  let value = '0';
  const writes: string[] = [];
  const driver: DeviceDriver = {
    read: async () => { if (!answering) throw new Error('no answer'); return value; },
    write: async (_p, v) => { if (!answering) throw new Error('no answer'); writes.push(v); value = v; },
    close: async () => {},
  };
  const h = harness(driver);
  h.runner.start();
  try {
    await until(() => h.reports.includes('7'), 'the desired value written and reported');
    assert.deepEqual(writes, ['7']);
    assert.deepEqual(h.states, ['online']);
    answering = false;
    await until(() => h.states.at(-1) === 'offline', 'offline');
    value = '0'; // the device came back with its defaults
    answering = true;
    await until(() => h.states.at(-1) === 'online', 'online again');
    await until(() => writes.length === 2, 'the desired value written again');
    assert.deepEqual(h.states, ['online', 'offline', 'online']);
  } finally {
    await h.runner.stop();
  }
});
