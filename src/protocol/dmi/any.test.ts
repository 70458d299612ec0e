import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAny, decodeCustomizedValue, encodeAny, encodeCustomizedValue } from './any.js';
import { deviceMapperService } from './load.js';

test('scalars are packed as the wrapper types mapper-framework unpacks, with the protobuf wire bytes', () => {
  // google.protobuf.Int64Value{value: 502}: field 1 varint → 08 f6 03
  assert.deepEqual(encodeAny(502), { type_url: 'type.googleapis.com/google.protobuf.Int64Value', value: Buffer.from([0x08, 0xf6, 0x03]) });
  assert.deepEqual(encodeAny('HoldingRegister').type_url, 'type.googleapis.com/google.protobuf.StringValue');
  assert.deepEqual(encodeAny('ab').value, Buffer.from([0x0a, 0x02, 0x61, 0x62]));
  assert.deepEqual(encodeAny(true), { type_url: 'type.googleapis.com/google.protobuf.BoolValue', value: Buffer.from([0x08, 0x01]) });
  assert.equal(encodeAny(0.1).type_url, 'type.googleapis.com/google.protobuf.FloatValue');
  assert.deepEqual(encodeAny(-1).value, Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
});

test('configData round-trips, nested objects and lists included', () => {
  const data = { ip: '127.0.0.1', port: 1502, slaveID: 1, scale: 0.1, isSwap: true, neg: -7, tcp: { ip: 'x', ports: [1, 'a', null, false] } };
  const { data: back, skipped } = decodeCustomizedValue(encodeCustomizedValue(data));
  assert.deepEqual(skipped, []);
  assert.deepEqual(back, data);
});

test('configData survives the gRPC (proto-loader) encoding of a whole Device', () => {
  const svc = deviceMapperService().RegisterDevice!;
  const req = { device: { name: 'd', spec: { protocol: { protocolName: 'modbus', configData: encodeCustomizedValue({ ip: 'h', port: 502 }) } } } };
  const wire = svc.requestSerialize(req);
  const decoded = svc.requestDeserialize(wire) as typeof req;
  assert.deepEqual(decodeCustomizedValue(decoded.device.spec.protocol.configData).data, { ip: 'h', port: 502 });
});

test('unknown or malformed Anys are refused, not crashed on', () => {
  assert.throws(() => decodeAny({ type_url: 'type.googleapis.com/acme.Thing', value: Buffer.alloc(0) }), /unsupported Any type/);
  assert.throws(() => decodeAny({ type_url: 'type.googleapis.com/google.protobuf.StringValue', value: Buffer.from([0x0a, 0x05, 0x61]) }), /truncated/);
  const { data, skipped } = decodeCustomizedValue({ data: { ok: encodeAny('x'), bad: { type_url: 'x/acme.Y', value: Buffer.alloc(0) } } });
  assert.deepEqual(data, { ok: 'x' });
  assert.deepEqual(skipped, ['bad']);
  // Keys are data: a __proto__ key never reaches Object.prototype.
  const polluted = decodeCustomizedValue({ data: { ['__proto__']: encodeAny('x') } });
  assert.deepEqual(polluted.skipped, ['__proto__']);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});
