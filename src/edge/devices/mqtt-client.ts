/**
 * The agent's MQTT side: start the embedded broker (or use the external one), connect to it as a client, subscribe to
 * KubeEdge's twin topics and hand messages to the bridge (mqtt-twin.ts). The client reconnects on its own (a broker
 * restarted, mosquitto upgraded): twins keep working meanwhile for DMI mappers, and resubscription is automatic.
 */
import type { Logger } from '../../common/logger.js';
import type { DeviceTwins } from './twin.js';
import { startEmbeddedBroker, type EmbeddedBroker, type MqttBrokerSetting } from './mqtt-broker.js';
import { MqttTwinBridge, SUBSCRIPTIONS } from './mqtt-twin.js';

export interface DeviceMqtt {
  url: string;
  stop(): Promise<void>;
}

export async function startDeviceMqtt(o: {
  broker: Exclude<MqttBrokerSetting, { kind: 'none' }>; host: string; port: number; twins: DeviceTwins; nodeName: string; log: Logger;
}): Promise<DeviceMqtt> {
  let embedded: EmbeddedBroker | undefined;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;
  let url = o.broker.kind === 'external' ? o.broker.url : `mqtt://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
  if (o.broker.kind === 'embedded') {
    // A port another broker holds (a mosquitto service on 1883) must not stop the node: pods and DMI run on, and the
    // embedded broker tries again every 10 s; the error says what to do.
    const tryStart = async (): Promise<void> => {
      try {
        embedded = await startEmbeddedBroker({ host: o.host, port: o.port, log: o.log });
        url = embedded.url;
        if (stopped) await embedded.close();
      } catch (err) {
        o.log.error({ host: o.host, port: o.port, err: String(err) }, 'embedded MQTT broker could not listen (port in use? use --mqtt-port, or --mqtt-broker tcp://HOST:PORT for the broker already there); retrying in 10 s');
        if (!stopped) retry = setTimeout(() => void tryStart(), 10_000);
      }
    };
    await tryStart();
  }
  const mqtt = await import('mqtt');
  const client = mqtt.connect(url, {
    clientId: `kedge-edge-${o.nodeName}`.slice(0, 64),
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  const bridge = new MqttTwinBridge({
    twins: o.twins,
    nodeName: o.nodeName,
    log: o.log,
    link: { publish: (topic, payload, opts) => void client.publish(topic, payload, opts) },
  });
  client.on('message', (topic, payload) => bridge.handle(topic, payload));
  let errorsLogged = 0;
  client.on('error', (err) => {
    // A broker that is down is retried every second: say so once, not every second.
    if (errorsLogged++ === 0) o.log.warn({ url: redact(url), err: err.message }, 'MQTT broker unreachable; retrying');
  });
  client.on('connect', () => {
    errorsLogged = 0;
    o.log.info({ url: redact(url) }, 'connected to the MQTT broker');
    client.subscribe(SUBSCRIPTIONS(o.nodeName), { qos: 1 }, (err) => {
      if (err) o.log.error({ err: err.message }, 'could not subscribe to the device twin topics');
    });
  });
  bridge.start();
  // Not waiting for the broker: offline autonomy applies to MQTT too (an external broker may come up later).
  return {
    get url() {
      return url;
    },
    async stop() {
      stopped = true;
      clearTimeout(retry);
      bridge.stop();
      await client.endAsync(true).catch(() => undefined);
      await embedded?.close();
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//<credentials>@');
}
