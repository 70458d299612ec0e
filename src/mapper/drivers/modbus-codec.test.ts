import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBits, decodeRegisters, encodeRegisters, parseModbusVisitor } from './modbus-codec.js';

test('visitor configData is checked with clear errors', () => {
  assert.deepEqual(parseModbusVisitor({ register: 'HoldingRegister', offset: 2, limit: 1, scale: 1, isSwap: true, isRegisterSwap: true }, 'INT'), {
    register: 'HoldingRegister', offset: 2, limit: 1, scale: 1, isSwap: true, isRegisterSwap: true,
  });
  assert.equal(parseModbusVisitor({ register: 'HoldingRegister' }, 'FLOAT').limit, 2);
  assert.throws(() => parseModbusVisitor({ register: 'Holding' }, 'INT'), /register "Holding" must be one of/);
  assert.throws(() => parseModbusVisitor({ register: 'InputRegister', offset: 70000 }, 'INT'), /offset 70000/);
  assert.throws(() => parseModbusVisitor({ register: 'InputRegister', limit: 200 }, 'INT'), /limit 200/);
});

test('INT: unsigned big-endian words times scale; isSwap swaps bytes, isRegisterSwap reverses words', () => {
  const v = (o: object) => parseModbusVisitor({ register: 'HoldingRegister', ...o }, 'INT');
  assert.equal(decodeRegisters([0x0102], v({}), 'INT'), '258');
  assert.equal(decodeRegisters([0x0102], v({ isSwap: true }), 'INT'), String(0x0201));
  assert.equal(decodeRegisters([0x0001, 0x0002], v({ limit: 2 }), 'INT'), String(0x00010002));
  assert.equal(decodeRegisters([0x0001, 0x0002], v({ limit: 2, isRegisterSwap: true }), 'INT'), String(0x00020001));
  assert.equal(decodeRegisters([235], v({ scale: 0.1 }), 'FLOAT'), '23.5');
  assert.equal(decodeRegisters([235], v({ scale: 0.1 }), 'INT'), '24');
});

test('FLOAT with two registers is IEEE-754; writes are the exact inverse of reads', () => {
  const f = parseModbusVisitor({ register: 'HoldingRegister', limit: 2, isRegisterSwap: true, isSwap: true }, 'FLOAT');
  const words = encodeRegisters('21.5', f, 'FLOAT');
  assert.equal(decodeRegisters(words, f, 'FLOAT'), '21.5');
  const i = parseModbusVisitor({ register: 'HoldingRegister', scale: 0.5, isSwap: true }, 'INT');
  assert.deepEqual(encodeRegisters('10', i, 'INT'), [0x1400]);
  assert.equal(decodeRegisters([0x1400], i, 'INT'), '10');
  assert.throws(() => encodeRegisters('70000', parseModbusVisitor({ register: 'HoldingRegister' }, 'INT'), 'INT'), /outside 0\.\.65535/);
  assert.throws(() => encodeRegisters('abc', i, 'INT'), /not a number/);
  const s = parseModbusVisitor({ register: 'HoldingRegister', limit: 2 }, 'STRING');
  assert.equal(decodeRegisters(encodeRegisters('hi', s, 'STRING'), s, 'STRING'), 'hi');
});

test('coils and discrete inputs', () => {
  assert.equal(decodeBits([true], 'BOOLEAN'), 'true');
  assert.equal(decodeBits([false], 'INT'), '0');
  assert.equal(decodeBits([true, false, true], 'INT'), '5');
});
