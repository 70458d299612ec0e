/**
 * Kedge's mappers end to end with real parts: `kedge server`, stock kubectl, a `kedge edge` agent (in-process
 * runtime) serving DMI on DATA_DIR/dmi.sock, `kedge mapper modbus` and `kedge mapper virtual` as real processes,
 * and a Modbus TCP device played by modbus-serial's ServerTCP in this process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { parse as parseYaml } from 'yaml';
import { ServerTCP } from 'modbus-serial';
import type { ManagedProcess } from '../harness/processes.js';
import { createToken, edgeRunArgs, eventually, joinEdge, startCluster, type Cluster, type Edge } from '../edge/cluster.js';
import { deviceMapperClient, type DeviceMessage } from '../../src/protocol/dmi/index.js';

let c: Cluster;
let edge: Edge;
let modbus: ServerTCP;
let modbusPort: number;
let mapper: ManagedProcess;
/** The simulated PLC's memory. */
const inputRegisters = new Map<number, number>([[0, 215]]);
const holdingRegisters = new Map<number, number>();
const coils = new Map<number, boolean>();

interface Twin { propertyName: string; reported?: { value: string; metadata?: Record<string, string> } }
interface DeviceStatusDoc { status?: { twins?: Twin[]; state?: string; lastOnlineTime?: string } }

/** The PLC: a Modbus TCP server (slave 1) over the maps above. */
async function startPlc(port: number): Promise<ServerTCP> {
  const server = new ServerTCP({
    getInputRegister: (addr: number) => inputRegisters.get(addr) ?? 0,
    getHoldingRegister: (addr: number) => holdingRegisters.get(addr) ?? 0,
    getCoil: (addr: number) => coils.get(addr) ?? false,
    setRegister: (addr: number, value: number) => void holdingRegisters.set(addr, value),
    setCoil: (addr: number, value: boolean) => void coils.set(addr, value),
  }, { host: '127.0.0.1', port: port, unitID: 1 });
  await once(server, 'initialized');
  return server;
}

/** What `kubectl get devicestatus NAME -o yaml` shows. */
async function deviceStatus(name: string): Promise<DeviceStatusDoc> {
  const out = await c.kubectl(['get', 'devicestatus', name, '-o', 'yaml']).catch(() => '');
  return (out ? parseYaml(out) : {}) as DeviceStatusDoc;
}
const reported = async (name: string, prop: string) => (await deviceStatus(name)).status?.twins?.find((t) => t.propertyName === prop)?.reported?.value;
const state = async (name: string) => (await deviceStatus(name)).status?.state;

before(async () => {
  c = await startCluster('mappers');
  const token = await createToken(c);
  edge = await joinEdge(c, 'mapper-edge', token, ['--mqtt-port', '0']);
  await edge.proc.waitForLog(/DMI DeviceManagerService listening/, 30_000);
  modbus = await startPlc(0);
  modbusPort = ((modbus as unknown as { _server: net.Server })._server.address() as net.AddressInfo).port;
  const manifests = readFileSync(path.join(import.meta.dirname, 'fixtures', 'modbus-plc.yaml'), 'utf8').replaceAll('NODE', edge.name).replace('port: PORT', `port: ${modbusPort}`);
  await c.kubectl(['apply', '-f', '-'], manifests);
  mapper = await c.h.startKedge('mapper-modbus', ['mapper', 'modbus', '--data-dir', edge.dataDir], { ready: { logLine: /registered with the edge/, timeoutMs: 60_000 } });
});

after(async () => {
  await new Promise<void>((r) => (modbus ? modbus.close(() => r()) : r()));
  await c?.proxy.close();
  await c?.h.cleanup();
});

test('kedge mapper modbus: a register change is reported to the cloud; desired values are written to the device', async () => {
  await eventually('the input register in devicestatus', async () => (await reported('plc-1', 'temperature')) === '21.5' || `reported ${await reported('plc-1', 'temperature')}`, 60_000);
  assert.equal(await state('plc-1'), 'online');
  inputRegisters.set(0, 237);
  await eventually('the changed register in devicestatus', async () => (await reported('plc-1', 'temperature')) === '23.7', 30_000);

  // desired → register/coil, read back and reported.
  await eventually('the initial desired values written', async () => holdingRegisters.get(1) === 21 && coils.get(3) === true, 30_000);
  await c.kubectl(['patch', 'device', 'plc-1', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/1/desired/value', value: '42' }])]);
  await eventually('the new desired value in the holding register', async () => holdingRegisters.get(1) === 42 || `register ${holdingRegisters.get(1)}`, 30_000);
  await eventually('the written value reported back', async () => (await reported('plc-1', 'setpoint')) === '42', 30_000);
});

test('kill -9 the mapper: the device goes offline in the cloud; restarted, it registers again and reports without intervention', async () => {
  await eventually('online first', async () => (await state('plc-1')) === 'online', 30_000);
  await mapper.kill9();
  await eventually('device offline in the cloud', async () => (await state('plc-1')) === 'offline' || `state ${await state('plc-1')}`, 30_000);
  inputRegisters.set(0, 250);
  await mapper.start();
  await mapper.waitForLog(/registered with the edge/, 30_000);
  await eventually('online again', async () => (await state('plc-1')) === 'online', 30_000);
  await eventually('reporting again', async () => (await reported('plc-1', 'temperature')) === '25', 30_000);
});

test('a device that stops answering goes offline, and comes back online by itself', async () => {
  await new Promise<void>((r) => modbus.close(() => r()));
  await eventually('device offline when the PLC is gone', async () => (await state('plc-1')) === 'offline' || `state ${await state('plc-1')}`, 30_000);
  modbus = await startPlc(modbusPort);
  inputRegisters.set(0, 199);
  await eventually('online and reporting again', async () => (await state('plc-1')) === 'online' && (await reported('plc-1', 'temperature')) === '19.9', 30_000);
});

/** What the modbus mapper itself last read (DMI GetDevice on its socket, as the edge would ask). */
async function mapperReading(prop: string): Promise<string | undefined> {
  const client = deviceMapperClient(path.join(edge.dataDir, 'mapper-modbus.sock'));
  try {
    const res = await client.call<{ device: DeviceMessage }>('GetDevice', { deviceName: 'plc-1', deviceNamespace: 'default' });
    return res.device.status?.twins?.find((t) => t.propertyName === prop)?.reported?.value;
  } finally {
    client.close();
  }
}

test('link cut, register changed, edge agent restarted offline, desired changed in the cloud; after healing the cloud has the latest reading and the register the latest desired value', async () => {
  await eventually('online first', async () => (await state('plc-1')) === 'online', 30_000);
  await edge.link.cut();
  inputRegisters.set(0, 301);
  await eventually('the mapper read the new value', async () => (await mapperReading('temperature')) === '30.1', 30_000);
  // The node restarts while cut off: the new agent serves DMI from its store; the mapper registers with it by itself.
  await edge.proc.kill9();
  edge.proc = await c.h.startKedge('mapper-edge-restarted', edgeRunArgs(edge), { ready: { logLine: /DMI DeviceManagerService listening/, timeoutMs: 60_000 } });
  await mapper.waitForLog(/"again":true[^\n]*registered with the edge|registered with the edge[^\n]*"again":true/, 30_000);
  inputRegisters.set(0, 302);
  await c.kubectl(['patch', 'device', 'plc-1', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/1/desired/value', value: '55' }])]);
  await eventually('the mapper read the value changed offline', async () => (await mapperReading('temperature')) === '30.2', 30_000);
  assert.equal(holdingRegisters.get(1), 42, 'the cloud cannot reach the edge: the old desired value stays');
  await edge.link.heal();
  await eventually('the latest reading in the cloud', async () => (await reported('plc-1', 'temperature')) === '30.2' || `reported ${await reported('plc-1', 'temperature')}`, 60_000);
  await eventually('the latest desired value in the register', async () => holdingRegisters.get(1) === 55 || `register ${holdingRegisters.get(1)}`, 60_000);
  assert.equal(await state('plc-1'), 'online');
});

test('kedge mapper virtual reports changing values', async () => {
  await c.h.startKedge('mapper-virtual', ['mapper', 'virtual', '--data-dir', edge.dataDir], { ready: { logLine: /registered with the edge/, timeoutMs: 60_000 } });
  const seen = new Set<string>();
  await eventually('several distinct counter values in devicestatus', async () => {
    const v = await reported('sim-1', 'ticks');
    if (v !== undefined) seen.add(v);
    return seen.size >= 3 || `seen ${[...seen].join(',')}`;
  }, 60_000, 300);
  assert.equal(await state('sim-1'), 'online');
});
