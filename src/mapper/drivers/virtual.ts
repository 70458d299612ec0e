/**
 * `kedge mapper virtual`: devices that exist only in the mapper, for demos and tests. Each property's
 * visitors.configData picks how it moves:
 *   generator: random   a uniform value in [min, max] at every read
 *   generator: sine     min..max along a sine with period `periodMs` (default 60000)
 *   generator: counter  min, min+step, ... wrapping past max (step default 1)
 *   (none)              holds the last value written (its desired value), starting at `initial` or min
 * min/max default to 0/100. A BOOLEAN property flips with `counter` and is random with `random`.
 */
import type { JsonValue } from '../../protocol/dmi/index.js';
import { formatNumber, parseBoolean, parseNumber } from '../values.js';
import type { DeviceDriver, MapperDevice, MapperProperty, MapperProtocol } from '../types.js';

const GENERATORS = ['random', 'sine', 'counter'] as const;

function numberOf(v: JsonValue | undefined, fallback: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : fallback;
}

class VirtualDevice implements DeviceDriver {
  private readonly held = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private readonly started = Date.now();

  async read(p: MapperProperty): Promise<string> {
    const c = p.visitor;
    const min = numberOf(c.min, 0);
    const max = numberOf(c.max, 100);
    const generator = typeof c.generator === 'string' ? c.generator : undefined;
    if (generator === 'random') return formatNumber(min + Math.random() * (max - min), p.type === 'BOOLEAN' ? 'BOOLEAN' : p.type);
    if (generator === 'sine') {
      const period = Math.max(1, numberOf(c.periodMs, 60_000));
      const phase = ((Date.now() - this.started) % period) / period;
      return formatNumber(min + ((max - min) * (1 + Math.sin(2 * Math.PI * phase))) / 2, p.type);
    }
    if (generator === 'counter') {
      const step = numberOf(c.step, 1);
      const prev = this.counters.get(p.name);
      let next = prev === undefined ? min : prev + step;
      if (next > max) next = min;
      this.counters.set(p.name, next);
      return p.type === 'BOOLEAN' ? (next % 2 ? 'true' : 'false') : formatNumber(next, p.type);
    }
    const held = this.held.get(p.name);
    if (held !== undefined) return held;
    const initial = c.initial;
    if (initial !== undefined && initial !== null) return String(initial);
    return p.type === 'BOOLEAN' ? 'false' : p.type === 'STRING' || p.type === 'BYTES' ? '' : formatNumber(min, p.type);
  }

  async write(p: MapperProperty, value: string): Promise<void> {
    // Kept as the device would keep it: normalized to the property's type.
    if (p.type === 'BOOLEAN') this.held.set(p.name, parseBoolean(value) ? 'true' : 'false');
    else if (p.type === 'INT' || p.type === 'FLOAT' || p.type === 'DOUBLE') this.held.set(p.name, formatNumber(parseNumber(value), p.type));
    else this.held.set(p.name, value);
  }

  async close(): Promise<void> {}
}

export const virtualProtocol: MapperProtocol = {
  name: 'virtual',
  check(device: MapperDevice): void {
    for (const p of device.properties) {
      const g = p.visitor.generator;
      if (g !== undefined && !(GENERATORS as readonly unknown[]).includes(g)) {
        throw new Error(`property ${p.name}: generator ${JSON.stringify(g)} must be one of ${GENERATORS.join(', ')} (or absent: hold the desired value)`);
      }
    }
  },
  open: () => new VirtualDevice(),
};
