/**
 * KubeEdge's device twin topics over MQTT (EventBus + DeviceTwin), so a device app or mapper written to KubeEdge's
 * documentation works unchanged against a Kedge node. Topics, in KubeEdge v1.17+'s namespace form
 * `$hw/events/device/{namespace}/{name}/...` (the older `$hw/events/device/{name}/...` is accepted too, for namespace
 * "default"; answers go back in the form asked):
 *
 *   in:  …/twin/update        {"event_id","timestamp","twin":{prop:{"actual":{"value"},"expected":{"value"}}}}
 *        …/twin/get           {"event_id","timestamp"}
 *        …/state/update       {"event_id","timestamp","state":"online"}
 *        $hw/events/node/{node}/membership/get   {"event_id","timestamp"}
 *   out: …/twin/update/result   {"event_id","timestamp","twin":{…}}  (or "code","reason" when refused)
 *        …/twin/update/document {"event_id","timestamp","twin":{prop:{"last":MsgTwin,"current":MsgTwin}}}
 *        …/twin/update/delta    {"event_id","timestamp","twin":{…},"delta":{prop:"expected value"}}
 *        …/twin/get/result      {"event_id","timestamp","twin":{prop:MsgTwin}}
 *        …/state/update/result  {"event_id","timestamp","device":{"name","state","last_online"}}
 *        $hw/events/node/{node}/membership/get/result  {"event_id","timestamp","devices":[…]}
 * MsgTwin = {"expected":{"value","metadata":{"timestamp"}},"actual":{…},"optional","metadata":{"type"}} as
 * KubeEdge's dttype. Every payload is validated (size, JSON, shape, KubeEdge's key/value limits); a bad one gets an
 * error result (code 400; unknown device 404) and changes nothing; nothing here throws into the MQTT client.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/logger.js';
import type { Device } from '../../protocol/devices.js';
import { UnknownDeviceError, type DeviceTwins, type PropertyTwin, type TwinDocument, type TwinValue } from './twin.js';

/** What the bridge needs of an MQTT client (mqtt.js's MqttClient provides it). */
export interface MqttLink {
  publish(topic: string, payload: string, opts: { qos: 0 | 1 }): void;
}

export const DEVICE_TOPIC_PREFIX = '$hw/events/device/';
export const SUBSCRIPTIONS = (node: string): string[] => [
  '$hw/events/device/+/twin/update', '$hw/events/device/+/+/twin/update',
  '$hw/events/device/+/twin/get', '$hw/events/device/+/+/twin/get',
  '$hw/events/device/+/state/update', '$hw/events/device/+/+/state/update',
  `$hw/events/node/${node}/membership/get`,
];

/** KubeEdge's limits (dtcommon.ValidateTwinKey/Value): keys of letters, digits and - _ . , : / @ #, < 128; values < 512 bytes. */
const TWIN_KEY = /^[a-zA-Z0-9\-_.,:/@#]{1,127}$/;
const MAX_VALUE_BYTES = 511;
const MAX_PAYLOAD_BYTES = 256 * 1024;
const BAD_REQUEST = 400;
const NOT_FOUND = 404;

interface MsgTwinValue {
  value?: string;
  metadata?: { timestamp?: number };
}
interface MsgTwin {
  expected?: MsgTwinValue;
  actual?: MsgTwinValue;
  optional?: boolean;
  metadata?: { type?: string };
}

/** A topic of ours, parsed: the device (namespace form or the old default-namespace form) and what is asked. */
export function parseDeviceTopic(topic: string): { namespace: string; name: string; action: 'twin/update' | 'twin/get' | 'state/update'; prefix: string } | undefined {
  if (!topic.startsWith(DEVICE_TOPIC_PREFIX)) return undefined;
  const parts = topic.slice(DEVICE_TOPIC_PREFIX.length).split('/');
  const action = parts.slice(-2).join('/');
  if (action !== 'twin/update' && action !== 'twin/get' && action !== 'state/update') return undefined;
  const id = parts.slice(0, -2);
  if (id.length === 1 && id[0]) return { namespace: 'default', name: id[0], action, prefix: `${DEVICE_TOPIC_PREFIX}${id[0]}` };
  if (id.length === 2 && id[0] && id[1]) return { namespace: id[0], name: id[1], action, prefix: `${DEVICE_TOPIC_PREFIX}${id[0]}/${id[1]}` };
  return undefined;
}

class BadPayload extends Error {
  constructor(message: string, readonly code = BAD_REQUEST) {
    super(message);
  }
}

function parsePayload(payload: Buffer): Record<string, unknown> {
  if (payload.length > MAX_PAYLOAD_BYTES) throw new BadPayload(`payload of ${payload.length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BadPayload('payload is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BadPayload('payload must be a JSON object');
  return v as Record<string, unknown>;
}

const eventIdOf = (msg: Record<string, unknown> | undefined): string => (typeof msg?.event_id === 'string' ? msg.event_id.slice(0, 256) : '');

function twinValue(v: TwinValue | undefined): MsgTwinValue | undefined {
  return v ? { value: v.value, metadata: { timestamp: v.timestamp } } : undefined;
}

function msgTwin(p: PropertyTwin): MsgTwin {
  const t: MsgTwin = { optional: false, metadata: { type: (p.type ?? 'string').toLowerCase() } };
  const e = twinValue(p.desired);
  const a = twinValue(p.reported);
  if (e) t.expected = e;
  if (a) t.actual = a;
  return t;
}

function msgTwins(doc: TwinDocument, only?: readonly string[]): Record<string, MsgTwin> {
  const out: Record<string, MsgTwin> = {};
  for (const [k, p] of Object.entries(doc.properties)) if (!only || only.includes(k)) out[k] = msgTwin(p);
  return out;
}

/** One twin/update request, checked whole before anything is applied. */
function parseTwinUpdate(msg: Record<string, unknown>): { actual: Array<{ propertyName: string; value: string; timestamp?: number }>; expected: Array<{ propertyName: string; value: string; timestamp?: number }> } {
  const twin = msg.twin;
  if (!twin || typeof twin !== 'object' || Array.isArray(twin)) throw new BadPayload('Update twin error, key:twin does not exist');
  const actual: Array<{ propertyName: string; value: string; timestamp?: number }> = [];
  const expected: Array<{ propertyName: string; value: string; timestamp?: number }> = [];
  for (const [key, raw] of Object.entries(twin as Record<string, unknown>)) {
    if (!TWIN_KEY.test(key)) throw new BadPayload(`twin key ${JSON.stringify(key.slice(0, 140))}: only letters, digits and - _ . , : / @ #, shorter than 128`);
    if (raw === null) continue; // KubeEdge: a null twin deletes it; twins here follow the Device, so nothing to do
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new BadPayload(`twin ${key} must be an object`);
    for (const side of ['actual', 'expected'] as const) {
      const v = (raw as Record<string, unknown>)[side];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v)) throw new BadPayload(`twin ${key}.${side} must be an object`);
      const value = (v as Record<string, unknown>).value;
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string') throw new BadPayload(`twin ${key}.${side}.value must be a string`);
      if (Buffer.byteLength(value) > MAX_VALUE_BYTES) throw new BadPayload(`twin ${key}.${side}.value is longer than 512 bytes`);
      const ts = (v as { metadata?: { timestamp?: unknown } }).metadata?.timestamp;
      const timestamp = typeof ts === 'number' && Number.isFinite(ts) && ts > 0 ? ts : undefined;
      (side === 'actual' ? actual : expected).push({ propertyName: key, value, ...(timestamp ? { timestamp } : {}) });
    }
  }
  return { actual, expected };
}

export class MqttTwinBridge {
  private unsubscribe: Array<() => void> = [];

  constructor(private readonly o: { twins: DeviceTwins; link: MqttLink; nodeName: string; log: Logger; now?: () => number }) {}

  start(): void {
    const { twins } = this.o;
    this.unsubscribe.push(
      twins.onReported((device, doc, changed, previous) => this.publishDocument(device, doc, changed, previous)),
      twins.onDesiredChanged((device, _model, change) => {
        if (change.changedProperties.length || change.created) this.publishDelta(device);
      }),
    );
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private publish(topic: string, body: Record<string, unknown>): void {
    try {
      this.o.link.publish(topic, JSON.stringify(body), { qos: 1 });
    } catch (err) {
      this.o.log.warn({ topic, err: String(err) }, 'MQTT publish failed');
    }
  }

  private base(eventId?: string): { event_id: string; timestamp: number } {
    return { event_id: eventId || randomUUID(), timestamp: this.now() };
  }

  /** Every message on the subscribed topics comes here; never throws. */
  handle(topic: string, payload: Buffer): void {
    try {
      if (topic === `$hw/events/node/${this.o.nodeName}/membership/get`) return this.membership(payload);
      const t = parseDeviceTopic(topic);
      if (!t) return;
      let msg: Record<string, unknown> | undefined;
      try {
        msg = parsePayload(payload);
        if (t.action === 'twin/update') this.twinUpdate(t, msg);
        else if (t.action === 'twin/get') this.twinGet(t, msg);
        else this.stateUpdate(t, msg);
      } catch (err) {
        const code = err instanceof BadPayload ? err.code : err instanceof UnknownDeviceError ? NOT_FOUND : 500;
        const reason = err instanceof Error ? err.message : String(err);
        this.o.log.debug({ topic, code, reason }, 'MQTT twin request refused');
        this.publish(`${topic}/result`, { ...this.base(eventIdOf(msg)), code, reason });
      }
    } catch (err) {
      this.o.log.error({ topic, err: String(err) }, 'MQTT twin message handling failed');
    }
  }

  private twinUpdate(t: { namespace: string; name: string; prefix: string }, msg: Record<string, unknown>): void {
    const { twins } = this.o;
    if (!twins.device(t.namespace, t.name)) throw new UnknownDeviceError(t.namespace, t.name);
    const { actual, expected } = parseTwinUpdate(msg);
    const rejected: string[] = [];
    const accepted: string[] = [];
    if (expected.length) {
      const r = twins.setExpected(t.namespace, t.name, expected);
      accepted.push(...r.accepted);
      rejected.push(...r.rejected.map((x) => x.reason));
    }
    if (actual.length) {
      const r = twins.reportFromMapper(t.namespace, t.name, actual);
      accepted.push(...r.accepted);
      rejected.push(...r.rejected.map((x) => x.reason));
    }
    const doc = twins.twin(t.namespace, t.name);
    const body: Record<string, unknown> = { ...this.base(eventIdOf(msg)), twin: doc ? msgTwins(doc, accepted) : {} };
    if (rejected.length) Object.assign(body, { code: BAD_REQUEST, reason: rejected.join('; ') });
    this.publish(`${t.prefix}/twin/update/result`, body);
  }

  private twinGet(t: { namespace: string; name: string; prefix: string }, msg: Record<string, unknown>): void {
    const doc = this.o.twins.twin(t.namespace, t.name);
    if (!doc) throw new UnknownDeviceError(t.namespace, t.name);
    this.publish(`${t.prefix}/twin/get/result`, { ...this.base(eventIdOf(msg)), twin: msgTwins(doc) });
  }

  private stateUpdate(t: { namespace: string; name: string; prefix: string }, msg: Record<string, unknown>): void {
    const state = msg.state;
    if (typeof state !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(state)) throw new BadPayload('state must be a word such as online or offline');
    this.o.twins.reportState(t.namespace, t.name, state);
    const doc = this.o.twins.twin(t.namespace, t.name)!;
    this.publish(`${t.prefix}/state/update/result`, { ...this.base(eventIdOf(msg)), device: { name: t.name, state: doc.state, ...(doc.lastOnlineTime ? { last_online: doc.lastOnlineTime } : {}) } });
  }

  private membership(payload: Buffer): void {
    let msg: Record<string, unknown> | undefined;
    try {
      msg = parsePayload(payload);
    } catch (err) {
      this.publish(`$hw/events/node/${this.o.nodeName}/membership/get/result`, { ...this.base(), code: BAD_REQUEST, reason: (err as Error).message });
      return;
    }
    const devices = this.o.twins.listDevices().map((d) => {
      const ns = d.metadata.namespace ?? 'default';
      const doc = this.o.twins.twin(ns, d.metadata.name!);
      return {
        id: `${ns}/${d.metadata.name}`,
        name: d.metadata.name,
        state: doc?.state ?? 'unknown',
        ...(doc?.lastOnlineTime ? { last_online: doc.lastOnlineTime } : {}),
        ...(doc ? { twin: msgTwins(doc) } : {}),
      };
    });
    this.publish(`$hw/events/node/${this.o.nodeName}/membership/get/result`, { ...this.base(eventIdOf(msg)), devices });
  }

  private topicPrefix(device: Device): string {
    return `${DEVICE_TOPIC_PREFIX}${device.metadata.namespace ?? 'default'}/${device.metadata.name}`;
  }

  /** Desired differs from reported: the device side is told (KubeEdge publishes a delta only when there is one). */
  private publishDelta(device: Device): void {
    const doc = this.o.twins.twin(device.metadata.namespace ?? 'default', device.metadata.name!);
    if (!doc) return;
    const delta: Record<string, string> = {};
    for (const [k, p] of Object.entries(doc.properties)) if (p.desired && p.desired.value !== '' && p.desired.value !== p.reported?.value) delta[k] = p.desired.value;
    if (!Object.keys(delta).length) return;
    this.publish(`${this.topicPrefix(device)}/twin/update/delta`, { ...this.base(), twin: msgTwins(doc), delta });
  }

  private publishDocument(device: Device, doc: TwinDocument, changed: string[], previous: Record<string, TwinValue | undefined>): void {
    const twin: Record<string, { last: MsgTwin | null; current: MsgTwin }> = {};
    for (const k of changed) {
      const p = doc.properties[k];
      if (!p) continue;
      const before = previous[k];
      twin[k] = { last: before ? msgTwin({ ...p, reported: before }) : null, current: msgTwin(p) };
    }
    if (Object.keys(twin).length) this.publish(`${this.topicPrefix(device)}/twin/update/document`, { ...this.base(), twin });
  }
}
