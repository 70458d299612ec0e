/**
 * KubeEdge devices on Kedge, end to end with real parts: `kedge server`, stock kubectl (client-side validation on),
 * two `kedge edge` agents (in-process runtime: devices need no containerd) through the fault proxy, MQTT clients
 * written to KubeEdge's twin topics, the edge's embedded aedes broker and Debian's mosquitto as an external broker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createToken, edgeRunArgs, eventually, joinEdge, localGet, run, startCluster, KUBECTL, type Cluster, type Edge } from '../edge/cluster.js';
import { startMosquitto, TwinClient } from './mqtt-client.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

let c: Cluster;
let edgeA: Edge;
let edgeB: Edge;
let mqttA: string;
let mosquittoUrl: string;

/** Stock kubectl exactly as a user runs it: no --validate=false. */
const kubectl = (args: string[], input?: string) => run(KUBECTL, ['--kubeconfig', c.kubeconfig, ...args], { input });
const kubectlFails = async (args: string[], input?: string): Promise<string> => {
  try {
    await kubectl(args, input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`kubectl ${args.join(' ')} succeeded; expected a refusal`);
};

interface Twin { propertyName: string; reported?: { value: string; metadata?: Record<string, string> }; observedDesired?: { value: string } }
async function reported(name: string, prop: string): Promise<string | undefined> {
  const out = await kubectl(['get', 'devicestatus', name, '-o', 'json']).catch(() => '');
  if (!out) return undefined;
  const ds = JSON.parse(out) as { status?: { twins?: Twin[] } };
  return ds.status?.twins?.find((t) => t.propertyName === prop)?.reported?.value;
}

before(async () => {
  c = await startCluster('devices');
  const token = await createToken(c);
  const mosquitto = await startMosquitto(c.h);
  mosquittoUrl = mosquitto.url;
  edgeA = await joinEdge(c, 'dev-edge-a', token, ['--mqtt-port', '0']);
  edgeB = await joinEdge(c, 'dev-edge-b', token, ['--mqtt-broker', mosquittoUrl.replace('mqtt://', 'tcp://')]);
  mqttA = (await edgeA.proc.waitForLog(/device twin MQTT on (mqtt:\/\/\S+)/, 30_000))[1]!;
  await edgeB.proc.waitForLog(/connected to the MQTT broker/, 30_000);
});

after(async () => {
  await c?.proxy.close();
  await c?.h.cleanup();
});

test("KubeEdge's published v1beta1 DeviceModel and Device apply unchanged with kubectl; `kubectl get devices` shows node, model, protocol, state", async () => {
  await kubectl(['apply', '-f', path.join(FIXTURES, 'kubeedge-v1beta1-model.yaml')]);
  await kubectl(['apply', '-f', '-'], fixture('kubeedge-v1beta1-device.yaml').replace('nodeName: worker-node1', `nodeName: ${edgeA.name}`));
  await kubectl(['apply', '-f', '-'], fixture('thermostat.yaml').replace('NODE', edgeA.name));
  const table = await kubectl(['get', 'devices']);
  const [header, ...rows] = table.trim().split('\n');
  assert.deepEqual(header!.split(/\s+/), ['NAME', 'NODE', 'MODEL', 'PROTOCOL', 'STATE', 'AGE']);
  const row = rows.find((r) => r.startsWith('beta1-device'))!.split(/\s+/);
  assert.deepEqual(row.slice(0, 4), ['beta1-device', edgeA.name, 'beta1-model', 'modbus']);
  const dev = JSON.parse(await kubectl(['get', 'device', 'beta1-device', '-o', 'json'])) as { spec: { properties: Array<{ pushMethod: unknown; visitors: unknown }> } };
  // Free-form protocol config round-trips as given (x-kubernetes-preserve-unknown-fields).
  assert.deepEqual(dev.spec.properties[0]!.visitors, { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 2, limit: 1, scale: 1, isSwap: true, isRegisterSwap: true } });
  assert.match(await kubectl(['get', 'crd', 'devicestatuses.devices.kubeedge.io']), /devicestatuses\.devices\.kubeedge\.io/);
});

test('a Device is checked against its DeviceModel: unknown model, unknown property, wrong type, out of range, ReadOnly desired', async () => {
  const base = fixture('thermostat.yaml').split('---')[1]!.replace('NODE', edgeA.name).replace('name: thermostat-1', 'name: bad-1');
  const cases: Array<[string, string, RegExp]> = [
    ['unknown model', base.replace('name: thermostat-model', 'name: no-such-model'), /spec\.deviceModelRef\.name: Invalid value: "no-such-model": DeviceModel "no-such-model" not found in namespace "default"/],
    ['property not in the model', base.replace('- name: setpoint', '- name: humidity'), /spec\.properties\[1\]\.name: Invalid value: "humidity": not a property of DeviceModel "thermostat-model"/],
    ['wrong type', base.replace('value: "21"', 'value: "warm"'), /spec\.properties\[1\]\.desired\.value: Invalid value: "warm": must be an integer \(type INT\)/],
    ['above maximum', base.replace('value: "21"', 'value: "31"'), /spec\.properties\[1\]\.desired\.value: Invalid value: "31": must be at most 30/],
    ['ReadOnly desired', base.replace('- name: temperature\n', '- name: temperature\n      desired:\n        value: "20"\n'), /spec\.properties\[0\]\.desired\.value: Forbidden: property "temperature" is ReadOnly/],
  ];
  for (const [what, manifest, expected] of cases) {
    const err = await kubectlFails(['apply', '-f', '-'], manifest);
    assert.match(err, expected, what);
    assert.match(err, /The Device "bad-1" is invalid/, what);
  }
  assert.match(await kubectlFails(['get', 'device', 'bad-1']), /NotFound|not found/);
});

test('an edge receives only the devices bound to it, with their models; a device moved to another node leaves the old one', async () => {
  const devicesOn = async (e: Edge) => {
    const r = await localGet<{ items: Array<{ metadata: { name: string } }> }>(e, '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices');
    return r.status === 200 ? r.body.items.map((i) => i.metadata.name).sort().join(',') : `HTTP ${r.status}`;
  };
  const modelsOn = async (e: Edge) => {
    const r = await localGet<{ items: Array<{ metadata: { name: string } }> }>(e, '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicemodels');
    return r.status === 200 ? r.body.items.map((i) => i.metadata.name).sort().join(',') : `HTTP ${r.status}`;
  };
  await eventually('edge A holds its two devices', async () => (await devicesOn(edgeA)) === 'beta1-device,thermostat-1' || devicesOn(edgeA));
  await eventually('edge A holds their models', async () => (await modelsOn(edgeA)) === 'beta1-model,thermostat-model' || modelsOn(edgeA));
  assert.equal(await devicesOn(edgeB), '');
  assert.equal(await modelsOn(edgeB), '');
  await kubectl(['patch', 'device', 'beta1-device', '--type=merge', '-p', JSON.stringify({ spec: { nodeName: edgeB.name } })]);
  await eventually('beta1-device moved to edge B', async () => (await devicesOn(edgeB)) === 'beta1-device' || devicesOn(edgeB));
  await eventually('beta1-device left edge A', async () => (await devicesOn(edgeA)) === 'thermostat-1' || devicesOn(edgeA));
  await eventually('beta1-model left edge A (no device there uses it)', async () => (await modelsOn(edgeA)) === 'thermostat-model' || modelsOn(edgeA));
});

test('MQTT (embedded broker): twin/update actual values reach DeviceStatus; desired set with kubectl arrives as twin/update/delta', async () => {
  const client = await TwinClient.connect(mqttA);
  try {
    await client.reportActual('default', 'thermostat-1', { temperature: '21.5' }, 'ev-1');
    const result = await client.waitFor((m) => m.topic === '$hw/events/device/default/thermostat-1/twin/update/result', 'twin/update/result');
    assert.equal(result.payload.event_id, 'ev-1');
    assert.equal((result.payload.twin as Record<string, { actual: { value: string } }>).temperature!.actual.value, '21.5');
    await client.waitFor((m) => m.topic === '$hw/events/device/default/thermostat-1/twin/update/document', 'twin/update/document');
    await eventually('reported temperature in DeviceStatus', async () => (await reported('thermostat-1', 'temperature')) === '21.5');
    const yaml = await kubectl(['get', 'devicestatus', 'thermostat-1', '-o', 'yaml']);
    assert.match(yaml, /kind: DeviceStatus/);
    assert.match(yaml, /ownerReferences:[\s\S]*kind: Device[\s\S]*name: thermostat-1/);
    await eventually('device state online in `kubectl get devices`', async () => /thermostat-1\s+\S+\s+thermostat-model\s+modbus\s+online/.test(await kubectl(['get', 'devices'])));

    const from = client.messages.length;
    await kubectl(['patch', 'device', 'thermostat-1', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/1/desired/value', value: '25' }])]);
    const delta = await client.waitFor((m) => m.topic === '$hw/events/device/default/thermostat-1/twin/update/delta', 'twin/update/delta', 30_000, from);
    assert.deepEqual(delta.payload.delta, { setpoint: '25' });
    assert.equal((delta.payload.twin as Record<string, { expected: { value: string } }>).setpoint!.expected.value, '25');
    assert.equal(typeof delta.payload.event_id, 'string');
    assert.equal(typeof delta.payload.timestamp, 'number');

    // twin/get answers with the whole twin.
    await client.publish('$hw/events/device/default/thermostat-1/twin/get', { event_id: 'get-1', timestamp: Date.now() });
    const got = await client.waitFor((m) => m.topic === '$hw/events/device/default/thermostat-1/twin/get/result', 'twin/get/result');
    const twin = got.payload.twin as Record<string, { expected?: { value: string }; actual?: { value: string }; metadata: { type: string } }>;
    assert.equal(twin.setpoint!.expected!.value, '25');
    assert.equal(twin.temperature!.actual!.value, '21.5');
    assert.equal(twin.temperature!.metadata.type, 'float');
  } finally {
    await client.close();
  }
});

test('MQTT payloads are validated: bad JSON, unknown device, wrong type, unknown property get error results; the agent keeps serving', async () => {
  const client = await TwinClient.connect(mqttA);
  try {
    const errorOn = async (topic: string, body: unknown, code: number, reason: RegExp) => {
      const from = client.messages.length;
      await client.publish(topic, body);
      const r = await client.waitFor((m) => m.topic === `${topic}/result` && m.payload.code !== undefined, `error result on ${topic}`, 30_000, from);
      assert.equal(r.payload.code, code, JSON.stringify(r.payload));
      assert.match(String(r.payload.reason), reason);
    };
    await errorOn('$hw/events/device/default/thermostat-1/twin/update', '{not json', 400, /not JSON/);
    await errorOn('$hw/events/device/default/nope/twin/update', { event_id: 'x', twin: { a: { actual: { value: '1' } } } }, 404, /not bound to this node/);
    await errorOn('$hw/events/device/default/thermostat-1/twin/update', { event_id: 'x', twin: { temperature: { actual: { value: 'hot' } } } }, 400, /must be a number/);
    await errorOn('$hw/events/device/default/thermostat-1/twin/update', { event_id: 'x', twin: { humidity: { actual: { value: '1' } } } }, 400, /no property "humidity"/);
    await errorOn('$hw/events/device/default/thermostat-1/twin/update', { event_id: 'x', twin: [] }, 400, /twin does not exist/);
    await errorOn('$hw/events/device/default/thermostat-1/twin/update', { event_id: 'x', twin: { temperature: { actual: { value: 21 } } } }, 400, /must be a string/);
    // Still serving, and none of the refused values reached the cloud.
    await client.reportActual('default', 'thermostat-1', { temperature: '22.0' });
    await eventually('a good report after bad ones', async () => (await reported('thermostat-1', 'temperature')) === '22.0');
    assert.ok(edgeA.proc.running);
    // membership/get lists the node's devices.
    await client.publish(`$hw/events/node/${edgeA.name}/membership/get`, { event_id: 'm-1', timestamp: Date.now() });
    const m = await client.waitFor((x) => x.topic === `$hw/events/node/${edgeA.name}/membership/get/result`, 'membership result');
    assert.deepEqual((m.payload.devices as Array<{ name: string }>).map((d) => d.name), ['thermostat-1']);
  } finally {
    await client.close();
  }
});

test("Debian's mosquitto as the external broker: reports reach the cloud, desired changes come back as deltas", async () => {
  const client = await TwinClient.connect(mosquittoUrl);
  try {
    await client.reportActual('default', 'beta1-device', { temp: '42' });
    await eventually('reported temp via mosquitto', async () => (await reported('beta1-device', 'temp')) === '42');
    const from = client.messages.length;
    await kubectl(['patch', 'device', 'beta1-device', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/properties/0/desired/value', value: '55' }])]);
    const delta = await client.waitFor((m) => m.topic === '$hw/events/device/default/beta1-device/twin/update/delta', 'delta via mosquitto', 30_000, from);
    assert.deepEqual(delta.payload.delta, { temp: '55' });
  } finally {
    await client.close();
  }
});

test('offline: reports go on while the link is cut and across an agent restart; after healing the cloud has the latest value, never an older one', async () => {
  const client = await TwinClient.connect(mqttA);
  let n = 100;
  const report = async () => {
    n++;
    await client.reportActual('default', 'thermostat-1', { temperature: String(n) });
  };
  await report();
  await eventually('online baseline', async () => (await reported('thermostat-1', 'temperature')) === String(n));
  await edgeA.link.cut();
  for (let i = 0; i < 5; i++) await report();
  // Restart the agent while the cloud is unreachable: buffered twins and reports survive in its store.
  await client.close();
  await edgeA.proc.stop();
  // `kedge edge run` on the same data dir, as an operator restarts the node: the hub is unreachable (cut).
  edgeA.proc = await c.h.startKedge('dev-edge-a-restarted', edgeRunArgs(edgeA), {});
  const url = (await edgeA.proc.waitForLog(/device twin MQTT on (mqtt:\/\/\S+)/, 60_000))[1]!;
  const again = await TwinClient.connect(url);
  try {
    for (let i = 0; i < 5; i++) {
      n++;
      await again.reportActual('default', 'thermostat-1', { temperature: String(n) });
    }
    // The edge kept the latest value through the restart.
    await again.publish('$hw/events/device/default/thermostat-1/twin/get', { event_id: 'g', timestamp: Date.now() });
    const got = await again.waitFor((m) => m.topic.endsWith('thermostat-1/twin/get/result'), 'twin get after restart');
    assert.equal((got.payload.twin as Record<string, { actual: { value: string } }>).temperature!.actual.value, String(n));
    assert.equal(await reported('thermostat-1', 'temperature'), '101', 'nothing reached the cloud while cut');
    await edgeA.link.heal();
    const seen: number[] = [];
    await eventually('cloud has the latest reported value', async () => {
      const v = Number(await reported('thermostat-1', 'temperature'));
      if (seen.at(-1) !== v) seen.push(v);
      return v === n || `at ${v}`;
    }, 90_000, 100);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `the cloud went back from ${seen[i - 1]} to ${seen[i]}: ${seen.join(' → ')}`);
  } finally {
    await again.close();
  }
});
