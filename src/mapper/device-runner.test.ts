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

function harness(driver: DeviceDriver, d: MapperDevice = device) {
  const states: string[] = [];
  const reports: string[] = [];
  const sink: RunnerSink = {
    reportTwins: async (_d, twins) => void reports.push(...twins.map((t) => t.reported!.value!)),
    reportState: async (_d, s) => void states.push(s),
  };
  const protocol: MapperProtocol = { name: 'fake', check: () => {}, open: () => driver };
  return { states, reports, runner: new DeviceRunner(d, protocol, sink, new Publisher(log), log) };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('a device that hangs gets one read at a time, not a queue that grows every cycle', async () => {
  let reads = 0;
  let release: (v: string) => void = () => {};
  const driver: DeviceDriver = { read: () => (++reads === 1 ? new Promise<string>((r) => (release = r)) : Promise.resolve('1')), write: async () => {}, close: async () => {} };
  // Cycles far apart: the test drives the collect rounds itself.
  const slow = { ...device, properties: device.properties.map((p) => ({ ...p, desired: undefined, collectCycleMs: 3_600_000, reportCycleMs: 3_600_000 })) };
  const { runner } = harness(driver, slow);
  try {
    runner.start(); // the first round: its read hangs
    await until(() => reads === 1, 'the first read');
    for (let i = 0; i < 15; i++) runner['collect']('level'); // fifteen more rounds come due meanwhile
    release('1');
    await sleep(50);
    // Queued reads would all run now, back to back; a skipped round reads again only when it next comes due.
    assert.equal(reads, 1);
  } finally {
    await runner.stop();
  }
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
