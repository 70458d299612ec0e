/**
 * `kedge mapper modbus`: Modbus TCP devices through modbus-serial. A Device's spec.protocol.configData names the
 * device as KubeEdge's modbus mapper takes it: `ip`, `port` (default 502), `slaveID` (default 1), and optionally
 * `timeout` (ms per request, default 1000); each property's visitors.configData names the register
 * (modbus-codec.ts). A device that does not answer fails the read; the next read reconnects.
 */
import modbusSerial from 'modbus-serial';
import type { ModbusRTU } from 'modbus-serial/ModbusRTU.js';
import { decodeBits, decodeRegisters, encodeCoil, encodeRegisters, parseModbusVisitor, type ModbusVisitor } from './modbus-codec.js';
import type { DeviceDriver, MapperDevice, MapperProperty, MapperProtocol } from '../types.js';

// modbus-serial is CommonJS: its module.exports is the client class, which its typings call the default export.
const ModbusClient = modbusSerial as unknown as typeof ModbusRTU;

interface ModbusTarget {
  host: string;
  port: number;
  slaveId: number;
  timeoutMs: number;
}

function targetOf(device: MapperDevice): ModbusTarget {
  const c = device.protocolConfig;
  // KubeEdge's examples put ip/port at the top of configData; older ones nest them under `tcp`.
  const tcp = (c.tcp && typeof c.tcp === 'object' && !Array.isArray(c.tcp) ? c.tcp : {}) as Record<string, unknown>;
  const host = String(c.ip ?? tcp.ip ?? '');
  if (!host) throw new Error('protocol configData needs `ip` (the Modbus TCP device address); serial devices are not supported');
  const port = Number(c.port ?? tcp.port ?? 502);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`protocol configData port ${JSON.stringify(c.port ?? tcp.port)} is not a TCP port`);
  const slaveId = Number(c.slaveID ?? tcp.slaveID ?? 1);
  if (!Number.isInteger(slaveId) || slaveId < 0 || slaveId > 255) throw new Error(`protocol configData slaveID ${JSON.stringify(c.slaveID)} must be 0-255`);
  const timeoutMs = Number(c.timeout ?? 1000);
  return { host, port, slaveId, timeoutMs: Number.isFinite(timeoutMs) && timeoutMs > 0 ? Math.min(timeoutMs, 60_000) : 1000 };
}

class ModbusDevice implements DeviceDriver {
  private client: ModbusRTU | undefined;
  private readonly visitors = new Map<string, ModbusVisitor>();

  constructor(private readonly target: ModbusTarget) {}

  private async connected(): Promise<ModbusRTU> {
    if (this.client?.isOpen) return this.client;
    this.drop();
    const c = new ModbusClient();
    c.setTimeout(this.target.timeoutMs);
    // Without a listener a socket error after connect would be an uncaught 'error' event.
    c.on('error', () => { if (this.client === c) this.drop(); });
    c.on('close', () => { if (this.client === c) this.client = undefined; });
    try {
      await c.connectTCP(this.target.host, { port: this.target.port, timeout: this.target.timeoutMs } as Parameters<ModbusRTU['connectTCP']>[1]);
    } catch (err) {
      // A timed-out connect leaves its socket behind otherwise.
      try { c.close(() => {}); } catch { /* never opened */ }
      throw err;
    }
    c.setID(this.target.slaveId);
    this.client = c;
    return c;
  }

  private drop(): void {
    const c = this.client;
    this.client = undefined;
    if (c) {
      try { c.close(() => {}); } catch { /* already closed */ }
    }
  }

  private visitor(p: MapperProperty): ModbusVisitor {
    let v = this.visitors.get(p.name);
    if (!v) this.visitors.set(p.name, (v = parseModbusVisitor(p.visitor, p.type)));
    return v;
  }

  /** One request; a failure (timeout, reset) drops the connection so the next one starts clean. */
  private async request<T>(fn: (c: ModbusRTU) => Promise<T>): Promise<T> {
    const c = await this.connected();
    try {
      return await fn(c);
    } catch (err) {
      // A Modbus exception reply (illegal address...) is the device answering; anything else is the link.
      if (!(err as { modbusCode?: number }).modbusCode) this.drop();
      throw err;
    }
  }

  async read(p: MapperProperty): Promise<string> {
    const v = this.visitor(p);
    switch (v.register) {
      case 'CoilRegister': return decodeBits((await this.request((c) => c.readCoils(v.offset, v.limit))).data.slice(0, v.limit), p.type);
      case 'DiscreteInputRegister': return decodeBits((await this.request((c) => c.readDiscreteInputs(v.offset, v.limit))).data.slice(0, v.limit), p.type);
      case 'HoldingRegister': return decodeRegisters((await this.request((c) => c.readHoldingRegisters(v.offset, v.limit))).data, v, p.type);
      case 'InputRegister': return decodeRegisters((await this.request((c) => c.readInputRegisters(v.offset, v.limit))).data, v, p.type);
    }
  }

  async write(p: MapperProperty, value: string): Promise<void> {
    const v = this.visitor(p);
    if (v.register === 'CoilRegister') {
      const state = encodeCoil(value);
      await this.request((c) => c.writeCoil(v.offset, state));
      return;
    }
    if (v.register !== 'HoldingRegister') throw new Error(`property ${p.name} is a ${v.register}: only coils and holding registers can be written`);
    const words = encodeRegisters(value, v, p.type);
    await this.request<unknown>((c) => (words.length === 1 ? c.writeRegister(v.offset, words[0]!) : c.writeRegisters(v.offset, words)));
  }

  async close(): Promise<void> {
    this.drop();
  }
}

export const modbusProtocol: MapperProtocol = {
  name: 'modbus',
  check(device: MapperDevice): void {
    targetOf(device);
    for (const p of device.properties) {
      try {
        parseModbusVisitor(p.visitor, p.type);
      } catch (err) {
        throw new Error(`property ${p.name}: ${(err as Error).message}`);
      }
    }
  },
  open: (device) => new ModbusDevice(targetOf(device)),
};
