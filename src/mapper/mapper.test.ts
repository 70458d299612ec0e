/**
 * A Kedge mapper (virtual protocol) against a fake edge: the test serves DeviceManagerService on a real Unix
 * socket and plays the edge's part of DMI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import {
  deviceManagerService,
  deviceMapperClient,
  deviceToDmi,
  grpc,
  modelToDmi,
  serveOnUnixSocket,
  type DeviceModelShape,
  type DeviceShape,
  type ReportDeviceStatesRequest,
  type ReportDeviceStatusRequest,
} from '../protocol/dmi/index.js';
import { Mapper } from './mapper.js';
import { virtualProtocol } from './drivers/virtual.js';

const model: DeviceModelShape = { metadata: { name: 'm', namespace: 'default' }, spec: { protocol: 'virtual', properties: [
  { name: 'count', type: 'INT', accessMode: 'ReadOnly' },
  { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite' },
] } };
const device = (setpoint: string): DeviceShape => ({
  metadata: { name: 'sim', namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'm' },
    protocol: { protocolName: 'virtual' },
    properties: [
      { name: 'count', visitors: { configData: { generator: 'counter', min: 0, max: 1000 } }, collectCycle: 100, reportCycle: 200, reportToCloud: true },
      { name: 'setpoint', desired: { value: setpoint }, collectCycle: 100, reportCycle: 200, reportToCloud: true },
    ],
  },
});

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function fakeEdge(socketPath: string) {
  const edge = { registrations: 0, reports: [] as ReportDeviceStatusRequest[], states: [] as ReportDeviceStatesRequest[], address: '' };
  const stop = await serveOnUnixSocket(deviceManagerService(), {
    MapperRegister: (call: grpc.ServerUnaryCall<{ mapper: { address: Buffer; protocol: string } }, object>, cb: grpc.sendUnaryData<object>) => {
      edge.registrations++;
      edge.address = call.request.mapper.address.toString();
      assert.equal(call.request.mapper.protocol, 'virtual');
      cb(null, { modelList: [modelToDmi(model)], deviceList: [deviceToDmi(device('12.5'))] });
    },
    ReportDeviceStatus: (call: grpc.ServerUnaryCall<ReportDeviceStatusRequest, object>, cb: grpc.sendUnaryData<object>) => { edge.reports.push(call.request); cb(null, {}); },
    ReportDeviceStates: (call: grpc.ServerUnaryCall<ReportDeviceStatesRequest, object>, cb: grpc.sendUnaryData<object>) => { edge.states.push(call.request); cb(null, {}); },
  }, socketPath);
  return { edge, stop };
}

const reported = (reports: ReportDeviceStatusRequest[], prop: string) =>
  reports.flatMap((r) => r.reportedDevice?.twins ?? []).filter((t) => t.propertyName === prop).map((t) => t.reported?.value);

test('registers, runs the devices it is given, reports per cycle, writes desired values, follows updates', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mapper-'));
  const dmiSocket = path.join(dir, 'dmi.sock');
  let fake = await fakeEdge(dmiSocket);
  const mapper = new Mapper({ protocol: virtualProtocol, socketPath: path.join(dir, 'm.sock'), dmiSocket, log: pino({ level: 'silent' }) });
  try {
    await mapper.start();
    await mapper.registered();
    assert.equal(fake.edge.address, path.join(dir, 'm.sock'));
    assert.deepEqual(mapper.deviceNames(), ['default/sim']);
    await until(() => new Set(reported(fake.edge.reports, 'count')).size >= 3, 'changing counter values');
    await until(() => reported(fake.edge.reports, 'setpoint').includes('12.5'), 'the desired value written and read back');
    await until(() => fake.edge.states.some((s) => s.deviceName === 'sim' && s.deviceNamespace === 'default' && s.state === 'online'), 'state online');
    const first = fake.edge.reports.find((r) => r.reportedDevice?.twins?.some((t) => t.propertyName === 'count'))!;
    assert.match(first.reportedDevice!.twins![0]!.reported!.metadata!.timestamp!, /^\d{13}$/);

    // The edge pushes a new desired value.
    const client = deviceMapperClient(path.join(dir, 'm.sock'));
    await client.call('UpdateDevice', { device: deviceToDmi(device('40')) });
    await until(() => reported(fake.edge.reports, 'setpoint').includes('40'), 'the updated desired value');
    const got = await client.call<{ device: { status: { twins: Array<{ propertyName: string; reported: { value: string } }> } } }>('GetDevice', { deviceName: 'sim', deviceNamespace: 'default' });
    assert.equal(got.device.status.twins.find((t) => t.propertyName === 'setpoint')!.reported.value, '40');
    const refused = await client.call('RegisterDevice', { device: { name: 'x', spec: { protocol: { protocolName: 'modbus' } } } }).catch((e: grpc.ServiceError) => e);
    assert.equal((refused as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
    const badGen = await client.call('RegisterDevice', { device: deviceToDmi({ ...device('1'), spec: { ...device('1').spec, properties: [{ name: 'count', visitors: { configData: { generator: 'chaos' } } }] } }) }).catch((e: grpc.ServiceError) => e);
    assert.match((badGen as grpc.ServiceError).details, /generator "chaos" must be one of/);
    await client.call('RemoveDevice', { deviceName: 'sim', deviceNamespace: 'default' });
    assert.deepEqual(mapper.deviceNames(), []);
    client.close();

    // The edge restarts: the mapper registers again by itself and runs what the edge hands it.
    await fake.stop();
    fake = await fakeEdge(dmiSocket);
    await until(() => fake.edge.registrations === 1, 're-registration with the restarted edge', 15_000);
    await until(() => mapper.deviceNames().length === 1, 'device running again');
  } finally {
    await mapper.stop();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pushMethod: readings are published to the MQTT broker and HTTP endpoint the Device names', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mapper-push-'));
  const { Aedes } = await import('aedes');
  const net = await import('node:net');
  const http = await import('node:http');
  const broker = await Aedes.createBroker();
  const mqttServer = net.createServer(broker.handle as (s: import('node:net').Socket) => void).listen(0, '127.0.0.1');
  await new Promise((r) => mqttServer.once('listening', r));
  const published: Array<{ topic: string; payload: Record<string, unknown>; retain: boolean }> = [];
  broker.on('publish', (packet, client) => {
    if (client) published.push({ topic: packet.topic, payload: JSON.parse(packet.payload.toString()) as Record<string, unknown>, retain: packet.retain });
  });
  const posted: string[] = [];
  const httpServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => { posted.push(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`); res.end('ok'); });
  }).listen(0, '127.0.0.1');
  await new Promise((r) => httpServer.once('listening', r));
  const mqttPort = (mqttServer.address() as import('node:net').AddressInfo).port;
  const httpPort = (httpServer.address() as import('node:net').AddressInfo).port;
  const pushing: DeviceShape = {
    metadata: { name: 'pusher', namespace: 'plant' },
    spec: {
      protocol: { protocolName: 'virtual' },
      properties: [
        { name: 'level', visitors: { configData: { generator: 'counter', min: 5, max: 5 } }, collectCycle: 100, pushMethod: { mqtt: { address: `tcp://127.0.0.1:${mqttPort}`, topic: 'plant/level', qos: 1, retained: true } } },
        { name: 'flow', visitors: { configData: { generator: 'counter', min: 7, max: 7 } }, collectCycle: 100, pushMethod: { http: { hostName: 'http://127.0.0.1', port: httpPort, requestPath: '/ingest', timeout: 2000 } } },
      ],
    },
  };
  const edgeSock = path.join(dir, 'dmi.sock');
  const stopEdge = await serveOnUnixSocket(deviceManagerService(), {
    MapperRegister: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, { modelList: [], deviceList: [deviceToDmi(pushing)] }),
    ReportDeviceStatus: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
    ReportDeviceStates: (_c: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
  }, edgeSock);
  const mapper = new Mapper({ protocol: virtualProtocol, socketPath: path.join(dir, 'm.sock'), dmiSocket: edgeSock, log: pino({ level: 'silent' }) });
  try {
    await mapper.start();
    await until(() => published.length > 0 && posted.length > 0, 'an MQTT publish and an HTTP POST');
    assert.equal(published[0]!.topic, 'plant/level');
    assert.equal(published[0]!.retain, true);
    assert.deepEqual({ ...published[0]!.payload, TimeStamp: 0 }, { DeviceName: 'pusher', PropertyName: 'level', Namespace: 'plant', Value: '5', Type: 'string', TimeStamp: 0 });
    assert.match(posted[0]!, /^POST \/ingest application\/x-www-form-urlencoded flow=7&time=\d{4}-\d\d-\d\d\+\d\d%3A\d\d%3A\d\d$/);
  } finally {
    await mapper.stop();
    await stopEdge();
    await new Promise<void>((r) => broker.close(() => r()));
    mqttServer.close();
    httpServer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
