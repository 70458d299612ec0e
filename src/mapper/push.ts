/**
 * A property's pushMethod: readings published where the Device says, as KubeEdge's mapper-framework does.
 *  - mqtt: each reading as JSON {DeviceName, PropertyName, Namespace, Value, Type, TimeStamp} on `topic`
 *    (qos, retained as given) at `address` (tcp://host:port); one client per broker address, reconnecting.
 *  - http: POST hostName:port/requestPath, form-encoded `<property>=<value>&time=<YYYY-MM-DD hh:mm:ss>`.
 * Publishing is best effort: a broker or endpoint that is down loses readings, never the device loop.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../common/logger.js';
import type { PushMethodMessage } from '../protocol/dmi/index.js';

export interface Reading {
  namespace: string;
  device: string;
  property: string;
  type: string;
  value: string;
  timestamp: number;
}

function httpTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export class Publisher {
  private readonly brokers = new Map<string, MqttClient>();
  private readonly warned = new Set<string>();

  constructor(private readonly log: Logger) {}

  publish(method: PushMethodMessage, r: Reading): void {
    if (method.mqtt?.address && method.mqtt.topic) this.mqtt(method.mqtt as Required<NonNullable<PushMethodMessage['mqtt']>>, r);
    if (method.http?.hostname) void this.http(method.http as Required<NonNullable<PushMethodMessage['http']>>, r);
  }

  private mqtt(m: { address: string; topic: string; qos: number; retained: boolean }, r: Reading): void {
    let client = this.brokers.get(m.address);
    if (!client) {
      client = mqtt.connect(m.address, { reconnectPeriod: 2_000, connectTimeout: 5_000, clientId: `kedge-mapper-${process.pid}-${this.brokers.size}` });
      client.on('error', (err) => this.warnOnce(`mqtt ${m.address}`, err));
      this.brokers.set(m.address, client);
    }
    // Readings while the broker is away are dropped, not queued without bound.
    if (!client.connected) return;
    const payload = JSON.stringify({ DeviceName: r.device, PropertyName: r.property, Namespace: r.namespace, Value: r.value, Type: r.type, TimeStamp: r.timestamp });
    const qos = (m.qos === 1 || m.qos === 2 ? m.qos : 0) as 0 | 1 | 2;
    client.publish(m.topic, payload, { qos, retain: !!m.retained }, (err) => err && this.warnOnce(`mqtt ${m.address}`, err));
  }

  private async http(h: { hostname: string; port: number; requestpath: string; timeout: number }, r: Reading): Promise<void> {
    const base = /^https?:\/\//.test(h.hostname) ? h.hostname : `http://${h.hostname}`;
    const url = `${base}${h.port ? `:${h.port}` : ''}${h.requestpath.startsWith('/') ? '' : '/'}${h.requestpath}`;
    const body = new URLSearchParams({ [r.property]: r.value, time: httpTime(r.timestamp) }).toString();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.timeout(h.timeout > 0 ? Math.min(h.timeout, 60_000) : 5_000),
      });
      await res.arrayBuffer();
      if (!res.ok) this.warnOnce(`http ${url}`, new Error(`HTTP ${res.status}`));
    } catch (err) {
      this.warnOnce(`http ${url}`, err);
    }
  }

  private warnOnce(target: string, err: unknown): void {
    if (this.warned.has(target)) return;
    this.warned.add(target);
    this.log.warn({ target, err: String(err) }, 'pushMethod target failed (further failures not logged)');
  }

  async close(): Promise<void> {
    await Promise.all([...this.brokers.values()].map((c) => c.endAsync(true).catch(() => {})));
    this.brokers.clear();
  }
}
