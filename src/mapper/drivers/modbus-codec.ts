/**
 * Modbus register words ↔ property values, with KubeEdge's modbus visitor settings (configData of a property's
 * `visitors`): `register` (CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister), `offset` (the
 * register address), `limit` (how many registers/bits), `scale` (multiplied on read, divided on write),
 * `isSwap` (swap the two bytes of each register), `isRegisterSwap` (reverse the order of the registers).
 *
 * How words become a number, by the model's property type (Modbus is big-endian on the wire):
 *  - INT: unsigned big-endian integer of `limit` registers (1 → 0..65535, 2 → 32-bit), times scale, rounded;
 *  - FLOAT/DOUBLE: IEEE-754 float32 with limit 2, float64 with limit 4, else the unsigned integer; times scale;
 *  - BOOLEAN: any non-zero register; STRING/BYTES: the bytes as text, trailing NULs dropped.
 */
import { formatNumber, parseBoolean, parseNumber, type PropertyType } from '../values.js';

export const REGISTER_KINDS = ['CoilRegister', 'DiscreteInputRegister', 'HoldingRegister', 'InputRegister'] as const;
export type RegisterKind = (typeof REGISTER_KINDS)[number];

export interface ModbusVisitor {
  register: RegisterKind;
  offset: number;
  limit: number;
  scale: number;
  isSwap: boolean;
  isRegisterSwap: boolean;
}

function num(v: unknown, what: string, fallback: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new Error(`${what} ${JSON.stringify(v)} is not a number`);
  return n;
}

function bool(v: unknown): boolean {
  return v === true || v === 'true' || v === 1;
}

/** A property's visitor configData, checked (address 0-65535, 1-125 registers as a Modbus read allows). */
export function parseModbusVisitor(config: Record<string, unknown>, type: PropertyType): ModbusVisitor {
  const register = String(config.register ?? '') as RegisterKind;
  if (!REGISTER_KINDS.includes(register)) throw new Error(`visitor register ${JSON.stringify(config.register)} must be one of ${REGISTER_KINDS.join(', ')}`);
  const offset = num(config.offset, 'visitor offset', 0);
  if (!Number.isInteger(offset) || offset < 0 || offset > 0xffff) throw new Error(`visitor offset ${offset} must be a register address 0-65535`);
  const defaultLimit = type === 'DOUBLE' ? 4 : type === 'FLOAT' && register !== 'CoilRegister' && register !== 'DiscreteInputRegister' ? 2 : 1;
  let limit = num(config.limit, 'visitor limit', defaultLimit);
  if (limit === 0) limit = defaultLimit;
  if (!Number.isInteger(limit) || limit < 1 || limit > 125) throw new Error(`visitor limit ${limit} must be 1-125`);
  const scale = num(config.scale, 'visitor scale', 1) || 1;
  return { register, offset, limit, scale, isSwap: bool(config.isSwap), isRegisterSwap: bool(config.isRegisterSwap) };
}

function wordsToBytes(words: number[], v: ModbusVisitor): Buffer {
  const ordered = v.isRegisterSwap ? [...words].reverse() : words;
  const b = Buffer.alloc(ordered.length * 2);
  ordered.forEach((w, i) => b.writeUInt16BE(w & 0xffff, i * 2));
  if (v.isSwap) for (let i = 0; i + 1 < b.length; i += 2) [b[i], b[i + 1]] = [b[i + 1]!, b[i]!];
  return b;
}

function bytesToWords(b: Buffer, v: ModbusVisitor): number[] {
  const c = Buffer.from(b);
  if (v.isSwap) for (let i = 0; i + 1 < c.length; i += 2) [c[i], c[i + 1]] = [c[i + 1]!, c[i]!];
  const words: number[] = [];
  for (let i = 0; i < c.length; i += 2) words.push(c.readUInt16BE(i));
  return v.isRegisterSwap ? words.reverse() : words;
}

function unsigned(b: Buffer): number {
  let n = 0;
  for (const byte of b) n = n * 256 + byte;
  return n;
}

/** Register words (as read) → the twin's text value. */
export function decodeRegisters(words: number[], v: ModbusVisitor, type: PropertyType): string {
  const b = wordsToBytes(words, v);
  if (type === 'STRING' || type === 'BYTES') return b.toString('utf8').replace(/\0+$/, '');
  if (type === 'BOOLEAN') return b.some((x) => x !== 0) ? 'true' : 'false';
  let n: number;
  if ((type === 'FLOAT' || type === 'DOUBLE') && b.length === 4) n = b.readFloatBE(0);
  else if ((type === 'FLOAT' || type === 'DOUBLE') && b.length === 8) n = b.readDoubleBE(0);
  else n = unsigned(b);
  return formatNumber(n * v.scale, type);
}

/** The twin's text value → register words to write (the inverse of decodeRegisters). */
export function encodeRegisters(value: string, v: ModbusVisitor, type: PropertyType): number[] {
  const b = Buffer.alloc(v.limit * 2);
  if (type === 'STRING' || type === 'BYTES') {
    const text = Buffer.from(value, 'utf8');
    if (text.length > b.length) throw new Error(`${JSON.stringify(value)} does not fit in ${v.limit} registers`);
    text.copy(b);
  } else if (type === 'BOOLEAN') {
    b.writeUInt16BE(parseBoolean(value) ? 1 : 0, b.length - 2);
  } else {
    const raw = parseNumber(value) / v.scale;
    if ((type === 'FLOAT' || type === 'DOUBLE') && b.length === 4) b.writeFloatBE(raw, 0);
    else if ((type === 'FLOAT' || type === 'DOUBLE') && b.length === 8) b.writeDoubleBE(raw, 0);
    else {
      let n = Math.round(raw);
      const max = 2 ** (8 * Math.min(b.length, 6)) - 1;
      if (n < 0 || n > max) throw new Error(`${value} (register value ${n}) is outside 0..${max} for ${v.limit} register(s)`);
      for (let i = b.length - 1; i >= 0 && n > 0; i--) {
        b[i] = n % 256;
        n = Math.floor(n / 256);
      }
    }
  }
  return bytesToWords(b, v);
}

/** Coil/discrete-input bits (as read) → the twin's text value. */
export function decodeBits(bits: boolean[], type: PropertyType): string {
  if (type === 'BOOLEAN' || bits.length <= 1) return type === 'BOOLEAN' ? (bits[0] ? 'true' : 'false') : bits[0] ? '1' : '0';
  let n = 0;
  bits.forEach((bit, i) => (n += bit ? 2 ** i : 0));
  return String(n);
}

export function encodeCoil(value: string): boolean {
  return parseBoolean(value);
}
