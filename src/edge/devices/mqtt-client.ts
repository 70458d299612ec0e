/**
 * The agent's MQTT side: subscribe to KubeEdge's twin topics and hand messages to the bridge (mqtt-twin.ts), either
 * in-process on the embedded broker or as a client of an external one. The client reconnects on its own (a broker
 * restarted, mosquitto upgraded): twins keep working meanwhile for DMI mappers, and resubscription is automatic.
 */
import type { Logger } from '../../common/logger.js';
import type { DeviceTwins } from './twin.js';
import { createEmbeddedBroker, type MqttBrokerSetting } from './mqtt-broker.js';
import { MqttTwinBridge, SUBSCRIPTIONS } from './mqtt-twin.js';

export interface DeviceMqtt {
  url: string;
  stop(): Promise<void>;
}

type DeviceMqttOptions = {
  broker: Exclude<MqttBrokerSetting, { kind: 'none' }>; host: string; port: number; twins: DeviceTwins; nodeName: string; log: Logger;
};

export async function startDeviceMqtt(o: DeviceMqttOptions): Promise<DeviceMqtt> {
  return o.broker.kind === 'embedded' ? startWithEmbeddedBroker(o) : startWithExternalBroker(o, o.broker.url);
}

/**
 * The embedded broker: the twin bridge is attached in-process (publish/subscribe on aedes itself), so the agent loads
 * no MQTT client library and holds no loopback connection. The bridge works before the listener is up.
 */
async function startWithEmbeddedBroker(o: DeviceMqttOptions): Promise<DeviceMqtt> {
  const broker = await createEmbeddedBroker({ log: o.log });
  const bridge = new MqttTwinBridge({ twins: o.twins, nodeName: o.nodeName, log: o.log, link: broker });
  broker.subscribe(SUBSCRIPTIONS(o.nodeName), (topic, payload) => bridge.handle(topic, payload));
  bridge.start();
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;
  // A port another broker holds (a mosquitto service on 1883) must not stop the node: pods and DMI run on, and the
  // embedded broker tries again every 10 s; the error says what to do.
  const tryListen = async (): Promise<void> => {
    try {
      await broker.listen(o.host, o.port);
    } catch (err) {
      if (stopped) return;
      o.log.error({ host: o.host, port: o.port, err: String(err) }, 'embedded MQTT broker could not listen (port in use? use --mqtt-port, or --mqtt-broker tcp://HOST:PORT for the broker already there); retrying in 10 s');
      retry = setTimeout(() => void tryListen(), 10_000);
    }
  };
  await tryListen();
  const configured = `mqtt://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
  return {
    get url() {
      return broker.url ?? configured;
    },
    async stop() {
      stopped = true;
      clearTimeout(retry);
      bridge.stop();
      await broker.close();
    },
  };
}

/** An external broker (mosquitto): connect as a client; it reconnects on its own and resubscribes on every connect. */
async function startWithExternalBroker(o: DeviceMqttOptions, url: string): Promise<DeviceMqtt> {
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
    url,
    async stop() {
      bridge.stop();
      await client.endAsync(true).catch(() => undefined);
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//<credentials>@');
}
