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
  /** mqtt://HOST:PORT clients on the node use. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Start aedes on host:port (port 0 = ephemeral). */
export async function startEmbeddedBroker(o: { host: string; port: number; log: Logger }): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({ id: 'kedge-edge' });
  const server = net.createServer(broker.handle as (socket: net.Socket) => void);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.log.error({ err: String(err) }, 'embedded MQTT broker socket error'));
  const port = (server.address() as AddressInfo).port;
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host.includes(':') ? `[${o.host}]` : o.host;
  o.log.info({ host: o.host, port }, 'embedded MQTT broker listening');
  return {
    url: `mqtt://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close();
        // Connected clients keep the server open otherwise.
        for (const c of Object.values((broker as unknown as { clients: Record<string, { close(): void }> }).clients ?? {})) c.close();
      }),
  };
}
