/**
 * One device in a mapper: reads each property every `collectCycle`, reports the fresh readings of reportToCloud
 * properties to the edge every `reportCycle`, writes desired values of ReadWrite properties to the device when
 * they change (and again after the device comes back), publishes readings per pushMethod, and reports the
 * device's state: `online` while reads succeed, `offline` after two failed rounds, back `online` on its own.
 * Driver calls are made one at a time.
 */
import type { Logger } from '../common/logger.js';
import type { TwinMessage } from '../protocol/dmi/index.js';
import type { Publisher } from './push.js';
import type { DeviceDriver, MapperDevice, MapperProperty, MapperProtocol } from './types.js';

export interface RunnerSink {
  reportTwins(device: MapperDevice, twins: TwinMessage[]): Promise<void>;
  reportState(device: MapperDevice, state: 'online' | 'offline'): Promise<void>;
}

interface Reading {
  value: string;
  timestamp: number;
}

/** Consecutive failed reads after which the device counts as offline (one slow answer is not an outage). */
const OFFLINE_AFTER_FAILURES = 2;
/** The state is re-sent this often, so an edge that restarted learns it without waiting for a change. */
const STATE_RESEND_MS = 30_000;

/** What makes a device need a fresh connection: everything except its desired values. */
function structure(d: MapperDevice): string {
  return JSON.stringify({ ...d, properties: d.properties.map((p) => ({ ...p, desired: undefined })) });
}

export class DeviceRunner {
  private driver: DeviceDriver;
  private timers: NodeJS.Timeout[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private readonly latest = new Map<string, Reading>();
  private readonly fresh = new Set<string>();
  private readonly lastReport = new Map<string, number>();
  /** The desired value last written to the device, per property. */
  private readonly written = new Map<string, string>();
  private failures = 0;
  private state: 'online' | 'offline' | 'unknown' = 'unknown';
  private stopped = false;

  constructor(
    private device: MapperDevice,
    private readonly protocol: MapperProtocol,
    private readonly sink: RunnerSink,
    private readonly publisher: Publisher,
    private readonly log: Logger,
  ) {
    this.driver = protocol.open(device);
  }

  get current(): MapperDevice {
    return this.device;
  }

  /** The latest readings, for GetDevice. */
  readings(): Array<{ property: string; value: string; timestamp: number; observedDesired?: string }> {
    return [...this.latest].map(([property, r]) => ({ property, ...r, ...(this.written.has(property) ? { observedDesired: this.written.get(property) } : {}) }));
  }

  start(): void {
    for (const p of this.device.properties) {
      this.timers.push(setInterval(() => this.collect(p.name), p.collectCycleMs));
      this.collect(p.name);
    }
    const reported = this.device.properties.filter((p) => p.reportToCloud);
    if (reported.length) {
      const tick = Math.min(...reported.map((p) => p.reportCycleMs));
      this.timers.push(setInterval(() => this.report(tick), tick));
    }
    this.timers.push(setInterval(() => this.sendState(), STATE_RESEND_MS));
  }

  /** A new spec from the edge: desired values are applied; anything else reconnects with the new settings. */
  update(next: MapperDevice): void {
    if (structure(next) !== structure(this.device)) {
      const before = new Map(this.device.properties.map((p) => [p.name, JSON.stringify(p.visitor)]));
      this.halt();
      void this.driver.close();
      this.device = next;
      for (const p of next.properties) if (before.get(p.name) !== JSON.stringify(p.visitor)) this.written.delete(p.name);
      for (const name of [...this.latest.keys()]) if (!next.properties.some((p) => p.name === name)) this.latest.delete(name);
      this.driver = this.protocol.open(next);
      this.start();
      return;
    }
    this.device = next;
    this.applyDesired();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.halt();
    await this.chain.catch(() => {});
    await this.driver.close();
  }

  /** Re-send the state now (the mapper registered again: the edge may have restarted). */
  sendState(): void {
    if (this.state === 'unknown' || this.stopped) return;
    this.sink.reportState(this.device, this.state).catch(() => {});
  }

  private halt(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private property(name: string): MapperProperty | undefined {
    return this.device.properties.find((p) => p.name === name);
  }

  /** Properties with a read queued or in flight: a device that hangs must not pile up reads behind it. */
  private readonly pending = new Set<string>();
  /** Properties with a desired-value write queued or in flight. */
  private readonly writing = new Set<string>();

  private collect(name: string): void {
    if (this.pending.has(name)) return;
    this.pending.add(name);
    void this.serial(async () => {
      const p = this.property(name);
      try {
        if (!p || this.stopped) return;
        const value = await this.driver.read(p);
        const timestamp = Date.now();
        this.latest.set(p.name, { value, timestamp });
        this.fresh.add(p.name);
        this.failures = 0;
        this.setState('online');
        if (p.pushMethod) this.publisher.publish(p.pushMethod, { namespace: this.device.namespace, device: this.device.name, property: p.name, type: p.type.toLowerCase(), value, timestamp });
      } catch (err) {
        this.failures++;
        if (this.failures === OFFLINE_AFTER_FAILURES) this.log.warn({ device: `${this.device.namespace}/${this.device.name}`, property: name, err: String(err) }, 'device not answering');
        if (this.failures >= OFFLINE_AFTER_FAILURES) this.setState('offline');
      } finally {
        this.pending.delete(name);
      }
    }).then(() => this.applyDesired());
  }

  private setState(state: 'online' | 'offline'): void {
    if (this.state === state) return;
    const wasOffline = this.state === 'offline';
    this.state = state;
    this.log.info({ device: `${this.device.namespace}/${this.device.name}`, state }, 'device state');
    // Back from an outage the device may have lost what was written: write desired values again.
    if (state === 'online' && wasOffline) this.written.clear();
    this.sendState();
  }

  private applyDesired(): void {
    if (this.stopped || this.state === 'offline') return;
    for (const p of this.device.properties) {
      if (p.accessMode !== 'ReadWrite' || p.desired === undefined || this.written.get(p.name) === p.desired || this.writing.has(p.name)) continue;
      const value = p.desired;
      this.writing.add(p.name);
      void this.serial(async () => {
        try {
          if (this.stopped || this.property(p.name)?.desired !== value || this.written.get(p.name) === value) return;
          await this.driver.write(p, value);
          this.written.set(p.name, value);
          this.log.info({ device: `${this.device.namespace}/${this.device.name}`, property: p.name, value }, 'desired value written to the device');
          // Read it back at once, so the report shows the device's value without waiting a cycle.
          const readBack = await this.driver.read(p);
          this.latest.set(p.name, { value: readBack, timestamp: Date.now() });
          this.fresh.add(p.name);
        } catch (err) {
          this.log.warn({ device: `${this.device.namespace}/${this.device.name}`, property: p.name, err: String(err) }, 'writing the desired value failed; retrying next cycle');
        } finally {
          this.writing.delete(p.name);
        }
      });
    }
  }

  private report(tick: number): void {
    if (this.stopped) return;
    const now = Date.now();
    const twins: TwinMessage[] = [];
    for (const p of this.device.properties) {
      if (!p.reportToCloud || !this.fresh.has(p.name)) continue;
      // Due when its own cycle has (nearly) passed: half a tick of slack keeps timer jitter from skipping a round.
      if (now - (this.lastReport.get(p.name) ?? 0) < p.reportCycleMs - tick / 2) continue;
      const r = this.latest.get(p.name)!;
      this.fresh.delete(p.name);
      this.lastReport.set(p.name, now);
      twins.push({
        propertyName: p.name,
        reported: { value: r.value, metadata: { timestamp: String(r.timestamp), type: p.type.toLowerCase() } },
        observedDesired: { value: this.written.get(p.name) ?? '', metadata: {} },
      });
    }
    if (!twins.length) return;
    this.sink.reportTwins(this.device, twins).catch((err) => {
      // Not lost for good: marked fresh again, so the next round carries them (the edge keeps only the newest).
      for (const t of twins) this.fresh.add(t.propertyName!);
      this.log.debug({ device: this.device.name, err: String(err) }, 'report to the edge failed');
    });
  }
}
