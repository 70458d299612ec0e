/**
 * A device-side MQTT client for the device suites, written to KubeEdge's documented twin topics (as a device app or an
 * MQTT mapper would be): real `mqtt` client, real broker (the edge's embedded aedes, or mosquitto).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Harness, ManagedProcess } from '../harness/processes.js';

export interface Received {
  topic: string;
  payload: Record<string, unknown>;
}

export class TwinClient {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      try {
        this.messages.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> });
      } catch {
        this.messages.push({ topic, payload: { unparsable: payload.toString() } });
      }
    });
  }

  static async connect(url: string, subscribe: string[] = ['$hw/events/#']): Promise<TwinClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 500, connectTimeout: 10_000 });
    const c = new TwinClient(client);
    await client.subscribeAsync(subscribe, { qos: 1 });
    return c;
  }

  async publish(topic: string, body: unknown): Promise<void> {
    await this.client.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  }

  /** Report actual values as KubeEdge's docs show: `$hw/events/device/{ns}/{name}/twin/update`. */
  async reportActual(ns: string, name: string, values: Record<string, string>, eventId = `ev-${Date.now()}`): Promise<void> {
    const twin: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(values)) twin[k] = { actual: { value: v, metadata: { timestamp: Date.now() } }, metadata: { type: 'string' } };
    await this.publish(`$hw/events/device/${ns}/${name}/twin/update`, { event_id: eventId, timestamp: Date.now(), twin });
  }

  /** The first message (from `from` on) whose topic and payload match. */
  async waitFor(match: (m: Received) => boolean, what: string, timeoutMs = 30_000, from = 0): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.slice(from).find(match);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no MQTT message: ${what}; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Debian's mosquitto on a free loopback port, anonymous (as an operator's local broker), run by the test. */
export async function startMosquitto(h: Harness): Promise<{ proc: ManagedProcess; url: string }> {
  const port = await h.freePort();
  const dir = h.tempDir('mosquitto');
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\n`);
  // mosquitto block-buffers its log when stdout is not a terminal: readiness is a broker that accepts a client.
  const proc = await h.start({ name: 'mosquitto', command: '/usr/sbin/mosquitto', args: ['-c', conf] });
  const url = `mqtt://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const probe = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 2000 });
      await probe.endAsync(true);
      return { proc, url };
    } catch (err) {
      if (Date.now() > deadline || !proc.running) throw new Error(`mosquitto did not accept clients on ${url}: ${String(err)}; ${proc.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
