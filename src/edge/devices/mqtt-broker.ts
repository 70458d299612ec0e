/**
 * The node's MQTT broker (KubeEdge's EventBus runs one for its twin topics): by default an embedded aedes broker on
 * 127.0.0.1:1883; `--mqtt-broker tcp://HOST:PORT` uses an external broker (Debian's mosquitto) instead, and
 * `--mqtt-broker none` turns device MQTT off. The embedded broker binds loopback unless told otherwise and has no
 * authentication: any local process may publish and subscribe (docs/design/security.md §MQTT).
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/logger.js';

export type MqttBrokerSetting = { kind: 'embedded' } | { kind: 'external'; url: string } | { kind: 'none' };

/** `embedded` (default), `none`, or `tcp://HOST:PORT` / `mqtt://HOST:PORT` (user:password@ allowed) for an external broker. */
export function parseMqttBroker(value: string | undefined): MqttBrokerSetting {
  if (value === undefined || value === '' || value === 'embedded') return { kind: 'embedded' };
  if (value === 'none') return { kind: 'none' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`invalid --mqtt-broker ${JSON.stringify(value)}: embedded, none, or tcp://HOST:PORT`);
  }
  if (!['tcp:', 'mqtt:'].includes(url.protocol) || !url.hostname || url.pathname.replace(/\/$/, '') !== '') {
    throw new Error(`invalid --mqtt-broker ${JSON.stringify(value)}: embedded, none, or tcp://HOST:PORT`);
  }
  return { kind: 'external', url: `mqtt://${url.username ? `${url.username}${url.password ? `:${url.password}` : ''}@` : ''}${url.host}` };
}

export interface EmbeddedBroker {
  /** mqtt://HOST:PORT clients on the node use; undefined until listen() succeeded. */
  readonly url: string | undefined;
  /**
   * Publish as the broker itself: delivered to matching subscribers exactly like a client's publish. With subscribe()
   * this lets the agent's own twin bridge talk to the embedded broker in-process, without an MQTT client library or
   * a loopback connection (the `mqtt` client package alone costs the idle agent ~14 MiB RSS: bench/RESULTS.md).
   */
  publish(topic: string, payload: string, opts: { qos: 0 | 1 }): void;
  /** In-process subscription to MQTT topic filters (+ and # wildcards). */
  subscribe(filters: string[], onMessage: (topic: string, payload: Buffer) => void): void;
  /** Listen on host:port (port 0 = ephemeral); rejects when the address is taken (may be called again later). */
  listen(host: string, port: number): Promise<{ url: string; port: number }>;
  close(): Promise<void>;
}

/** An aedes broker, not yet listening: in-process publish/subscribe work at once, MQTT clients once listen() succeeded. */
export async function createEmbeddedBroker(o: { log: Logger }): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({ id: 'kedge-edge' });
  let server: net.Server | undefined;
  let url: string | undefined;
  let closed = false;
  return {
    get url() {
      return url;
    },
    publish(topic, payload, opts) {
      broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: opts.qos, retain: false, dup: false }, (err) => {
        if (err) o.log.warn({ topic, err: String(err) }, 'embedded MQTT broker could not publish');
      });
    },
    subscribe(filters, onMessage) {
      for (const filter of filters) {
        broker.subscribe(filter, (packet, done) => {
          try {
            onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
          } finally {
            done();
          }
        }, () => {});
      }
    },
    async listen(host, port) {
      const candidate = net.createServer(broker.handle as (socket: net.Socket) => void);
      await new Promise<void>((resolve, reject) => {
        candidate.once('error', reject);
        candidate.listen(port, host, () => {
          candidate.off('error', reject);
          resolve();
        });
      });
      if (closed) {
        candidate.close();
        throw new Error('embedded MQTT broker closed');
      }
      candidate.on('error', (err) => o.log.error({ err: String(err) }, 'embedded MQTT broker socket error'));
      server = candidate;
      const bound = (candidate.address() as AddressInfo).port;
      const dialHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      url = `mqtt://${dialHost}:${bound}`;
      o.log.info({ host, port: bound }, 'embedded MQTT broker listening');
      return { url, port: bound };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        broker.close();
        // Connected clients keep the server open otherwise.
        for (const c of Object.values((broker as unknown as { clients: Record<string, { close(): void }> }).clients ?? {})) c.close();
        if (server) server.close(() => resolve());
        else resolve();
      }),
  };
}
