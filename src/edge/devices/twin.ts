/**
 * The device twin module of the edge agent (KubeEdge's DeviceTwin): per device property, the desired value (from
 * the cloud: the Device's `spec.properties[].desired`, or an edge-local `expected` sent over MQTT) and the reported
 * value (from the device: a mapper over DMI, or an MQTT client). Everything is in the edge's local store, so twins
 * survive an agent restart while the cloud is unreachable:
 *  - Devices and DeviceModels arrive from the hub under /registry/devices.devices.kubeedge.io/... and
 *    /registry/devicemodels.devices.kubeedge.io/... (persisted before acked, like pods); this module watches them.
 *  - Twin state (reported values with their timestamps, edge-local expected values, device state) lives under
 *    /kedge/devices/<ns>/<name>.
 * Reported values go up as DeviceStatus through the agent's status reporter (`DeviceStatusSink`: latest per device
 * wins, persisted while offline), at most once per property `reportCycle`; every value carries its timestamp so the
 * hub never lets an older report overwrite a newer one (cloudhub/device-status.ts).
 *
 * Consumers: the DMI server (src/edge/devices/dmi, mappers) and the MQTT twin bridge (mqtt-bridge.ts) subscribe
 * with onDesiredChanged / onDeviceRemoved / onModelChanged / onReported and feed reports in with reportFromMapper /
 * reportState / setExpected.
 */
import type { Logger } from '../../common/logger.js';
import type { Store, Watcher } from '../../storage/types.js';
import {
  DEVICE_MODEL_RESOURCE,
  DEVICE_RESOURCE,
  TWIN_TIMESTAMP_KEY,
  cycleMs,
  deviceModelName,
  deviceProtocolName,
  propertyValueProblem,
  type Device,
  type DeviceModel,
  type DeviceState,
  type DeviceStatusFields,
  type ModelProperty,
  type Twin,
} from '../../protocol/devices.js';
import { LocalStore } from '../local-store.js';

export type { Device, DeviceModel, DeviceState } from '../../protocol/devices.js';

/** One reported property value as a mapper (DMI ReportDeviceStatus) or MQTT client gives it. */
export interface ReportedValue {
  propertyName: string;
  value: string;
  /** ms since epoch when the device produced it; default: when the edge received it. */
  timestamp?: number;
  metadata?: Record<string, string>;
}

/** Where reported state goes up (the agent's StatusReporter: coalesced per device, persisted, acked by the hub). */
export interface DeviceStatusSink {
  setDeviceStatus(namespace: string, name: string, uid: string, status: DeviceStatusFields): void;
}

export interface TwinValue {
  value: string;
  /** ms since epoch. */
  timestamp: number;
  metadata?: Record<string, string>;
}

/** One property's twin as the edge holds it. */
export interface PropertyTwin {
  /** Effective desired value: the newer of the cloud's desired and an edge-local expected. */
  desired?: TwinValue;
  reported?: TwinValue;
  /** From the model. */
  type?: ModelProperty['type'];
  accessMode?: ModelProperty['accessMode'];
}

export interface TwinDocument {
  namespace: string;
  name: string;
  state: DeviceState;
  lastOnlineTime?: string;
  properties: Record<string, PropertyTwin>;
}

export interface ReportOutcome {
  accepted: string[];
  rejected: Array<{ propertyName: string; reason: string }>;
}

export class UnknownDeviceError extends Error {
  constructor(readonly namespace: string, readonly deviceName: string) {
    super(`device ${namespace}/${deviceName} is not bound to this node`);
    this.name = 'UnknownDeviceError';
  }
}

/** Details of a desired-side change, for listeners that want them (DMI ignores them: UpdateDevice is whole). */
export interface DesiredChange {
  /** The device is new to this node (or to this agent run: every device is announced once at start). */
  created: boolean;
  /** Properties whose effective desired value changed. */
  changedProperties: string[];
}

export type DesiredListener = (device: Device, model: DeviceModel | undefined, change: DesiredChange) => void;
export type DeviceRemovedListener = (device: Device) => void;
export type ModelListener = (model: DeviceModel, removed: boolean) => void;
/** `previous`: each changed property's reported value before this report (KubeEdge's twin document `last`). */
export type ReportedListener = (device: Device, twin: TwinDocument, changedProperties: string[], previous: Record<string, TwinValue | undefined>) => void;
export type StateListener = (device: Device, state: DeviceState) => void;

interface StoredTwinState {
  uid: string;
  state: DeviceState;
  lastOnlineTime?: string;
  reported: Record<string, TwinValue>;
  /** Edge-local expected values (MQTT twin/update with `expected`): win over the cloud's until it changes. */
  expected: Record<string, TwinValue>;
  /** The cloud desired value and when this edge first saw it (the timestamp the newer-wins rule compares). */
  cloudDesired: Record<string, TwinValue>;
}

interface DeviceEntry {
  device: Device;
  twin: StoredTwinState;
  /** Properties reported since the last upload. */
  dirty: Set<string>;
  /** Last upload time per property (reportCycle pacing). */
  lastUpload: Map<string, number>;
  uploadTimer?: NodeJS.Timeout;
}

export const DEVICES_PREFIX = `/registry/${DEVICE_RESOURCE}/`;
export const MODELS_PREFIX = `/registry/${DEVICE_MODEL_RESOURCE}/`;
export const TWIN_STATE_PREFIX = '/kedge/devices/';

export interface DeviceTwinsOptions {
  store: Store;
  nodeName: string;
  log: Logger;
  /** Reported state goes up here; omitted = kept locally only (tests). */
  sink?: DeviceStatusSink;
  now?: () => number;
}

const key = (namespace: string, name: string): string => `${namespace}/${name}`;

export class DeviceTwins {
  private readonly local: LocalStore;
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly models = new Map<string, DeviceModel>();
  private readonly desiredListeners: DesiredListener[] = [];
  private readonly removedListeners: DeviceRemovedListener[] = [];
  private readonly modelListeners: ModelListener[] = [];
  private readonly reportedListeners: ReportedListener[] = [];
  private readonly stateListeners: StateListener[] = [];
  private watchers: Watcher[] = [];
  private persistChain: Promise<void> = Promise.resolve();
  private readonly dirtyState = new Set<string>();
  private persistScheduled = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: DeviceTwinsOptions) {
    this.local = new LocalStore(o.store);
    this.now = o.now ?? Date.now;
  }

  // ---- lifecycle ----

  /** Load devices, models and twin state from the store, then follow the store. Never waits for the cloud. */
  async start(): Promise<void> {
    const states = new Map<string, StoredTwinState>();
    for (const { key: k, value } of await this.local.listJson<StoredTwinState>(TWIN_STATE_PREFIX)) states.set(k.slice(TWIN_STATE_PREFIX.length), value);
    const models = await this.o.store.list(MODELS_PREFIX);
    for (const kv of models.items) this.acceptModel(kv.key, kv.value);
    const devices = await this.o.store.list(DEVICES_PREFIX);
    for (const kv of devices.items) {
      const device = parseObject<Device>(kv.value);
      if (!device?.metadata?.name) continue;
      const k = key(device.metadata.namespace ?? 'default', device.metadata.name);
      const st = states.get(k);
      if (st && st.uid === device.metadata.uid) this.devices.set(k, newEntry(device, st));
    }
    // Stale twin state (device deleted while the agent was down) goes; current devices are (re)announced.
    for (const k of states.keys()) if (!this.devices.has(k)) this.dropState(k);
    for (const kv of devices.items) this.acceptDevice(kv.key, kv.value);
    // A report still waiting for its reportCycle when the agent stopped goes up now (the hub keeps the newest anyway).
    for (const e of this.devices.values()) {
      if (!Object.keys(e.twin.reported).length) continue;
      for (const p of Object.keys(e.twin.reported)) e.dirty.add(p);
      this.scheduleUpload(e, true);
    }
    this.watch(MODELS_PREFIX, models.revision, (k, v) => this.acceptModel(k, v));
    this.watch(DEVICES_PREFIX, devices.revision, (k, v) => this.acceptDevice(k, v));
    // Buffered-but-unsent reports are in the status reporter's own store; nothing to replay here.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.cancel();
    this.watchers = [];
    for (const e of this.devices.values()) clearTimeout(e.uploadTimer);
    this.flushPersist();
    await this.persistChain;
  }

  /** Wait until every twin change so far is on disk (tests, shutdown). */
  async settle(): Promise<void> {
    this.flushPersist();
    await this.persistChain;
  }

  private watch(prefix: string, fromRevision: number, accept: (key: string, value: string | null) => void): void {
    const w = this.o.store.watch(prefix, { fromRevision }, {
      onEvent: (ev) => accept(ev.kv.key, ev.type === 'delete' ? null : ev.kv.value),
      onError: (err) => {
        if (this.stopped) return;
        this.o.log.warn({ err: err.message, prefix }, 'device twins: store watch ended, relisting');
        setTimeout(() => void this.relist(prefix, accept), 500);
      },
    });
    this.watchers.push(w);
  }

  private async relist(prefix: string, accept: (key: string, value: string | null) => void): Promise<void> {
    if (this.stopped) return;
    try {
      const list = await this.o.store.list(prefix);
      const present = new Set(list.items.map((kv) => kv.key));
      const known = prefix === MODELS_PREFIX ? [...this.models.keys()].map((k) => MODELS_PREFIX + k) : [...this.devices.keys()].map((k) => DEVICES_PREFIX + k);
      for (const k of known) if (!present.has(k)) accept(k, null);
      for (const kv of list.items) accept(kv.key, kv.value);
      this.watch(prefix, list.revision, accept);
    } catch (err) {
      this.o.log.error({ err: String(err), prefix }, 'device twins: relist failed; retrying');
      setTimeout(() => void this.relist(prefix, accept), 2000);
    }
  }

  // ---- subscriptions ----

  /** A device arrived or its spec changed (desired values, visitors, protocol...); also once per device at start. */
  onDesiredChanged(listener: DesiredListener): () => void {
    return subscribe(this.desiredListeners, listener);
  }

  onDeviceRemoved(listener: DeviceRemovedListener): () => void {
    return subscribe(this.removedListeners, listener);
  }

  onModelChanged(listener: ModelListener): () => void {
    return subscribe(this.modelListeners, listener);
  }

  /** Reported values changed (MQTT twin/update/document, DMI GetDevice caches). */
  onReported(listener: ReportedListener): () => void {
    return subscribe(this.reportedListeners, listener);
  }

  onStateChanged(listener: StateListener): () => void {
    return subscribe(this.stateListeners, listener);
  }

  // ---- reads ----

  device(namespace: string, name: string): Device | undefined {
    return this.devices.get(key(namespace, name))?.device;
  }

  model(namespace: string, name: string): DeviceModel | undefined {
    return this.models.get(key(namespace, name));
  }

  /** The model a device uses (same namespace), if this node holds it. */
  modelOf(device: Device): DeviceModel | undefined {
    const m = deviceModelName(device);
    return m ? this.models.get(key(device.metadata.namespace ?? 'default', m)) : undefined;
  }

  listDevices(): Device[] {
    return [...this.devices.values()].map((e) => e.device);
  }

  /** The devices a mapper of `protocolName` handles, and their models (DMI MapperRegister's answer). */
  devicesFor(protocolName: string): { devices: Device[]; models: DeviceModel[] } {
    const devices: Device[] = [];
    const models = new Map<string, DeviceModel>();
    for (const { device } of this.devices.values()) {
      const model = this.modelOf(device);
      if (deviceProtocolName(device, model) !== protocolName) continue;
      devices.push(device);
      if (model) models.set(key(model.metadata.namespace ?? 'default', model.metadata.name!), model);
    }
    return { devices, models: [...models.values()] };
  }

  /** The twin of one device, or undefined when the device is not bound to this node. */
  twin(namespace: string, name: string): TwinDocument | undefined {
    const e = this.devices.get(key(namespace, name));
    return e ? this.document(e) : undefined;
  }

  // ---- writes from the device side ----

  /**
   * Reported values from a mapper or an MQTT client. Values of properties the device does not have, or of the
   * wrong type for the model, are rejected (listed in the outcome); the rest are kept, persisted and uploaded.
   * Throws UnknownDeviceError for a device not bound to this node.
   */
  reportFromMapper(namespace: string, name: string, reported: ReportedValue[], state?: DeviceState): ReportOutcome {
    const e = this.entry(namespace, name);
    const outcome: ReportOutcome = { accepted: [], rejected: [] };
    const props = this.propertiesOf(e.device);
    const now = this.now();
    const previous: Record<string, TwinValue | undefined> = {};
    for (const r of reported) {
      const prop = props.get(r.propertyName);
      if (!prop) {
        outcome.rejected.push({ propertyName: r.propertyName, reason: `device ${namespace}/${name} has no property ${JSON.stringify(r.propertyName)}` });
        continue;
      }
      const problem = prop.type ? propertyValueProblem(prop as ModelProperty, r.value, false) : undefined;
      if (problem) {
        outcome.rejected.push({ propertyName: r.propertyName, reason: `value ${JSON.stringify(r.value)} of ${r.propertyName} ${problem}` });
        continue;
      }
      const timestamp = r.timestamp !== undefined && Number.isFinite(r.timestamp) && r.timestamp > 0 ? Math.floor(r.timestamp) : now;
      const prev = e.twin.reported[r.propertyName];
      // An older reading (a mapper replaying, clocks apart) never replaces a newer one.
      if (prev && prev.timestamp > timestamp) {
        outcome.accepted.push(r.propertyName);
        continue;
      }
      if (!(r.propertyName in previous)) previous[r.propertyName] = prev;
      e.twin.reported[r.propertyName] = { value: r.value, timestamp, ...(r.metadata && Object.keys(r.metadata).length ? { metadata: { ...r.metadata } } : {}) };
      e.dirty.add(r.propertyName);
      outcome.accepted.push(r.propertyName);
    }
    if (state !== undefined) this.applyState(e, state);
    else if (outcome.accepted.length && e.twin.state !== 'online') this.applyState(e, 'online');
    if (outcome.accepted.length) {
      this.markPersist(key(namespace, name));
      this.scheduleUpload(e);
      const doc = this.document(e);
      const changed = Object.keys(previous);
      if (changed.length) for (const l of this.reportedListeners) safely(this.o.log, () => l(e.device, doc, changed, previous));
    }
    return outcome;
  }

  /** The device's state (mapper/DMI ReportDeviceStates, MQTT state/update). */
  reportState(namespace: string, name: string, state: DeviceState): void {
    const e = this.entry(namespace, name);
    this.applyState(e, state);
  }

  /**
   * Edge-local desired values (MQTT twin/update with `expected`, as KubeEdge's edge apps do): they act as desired
   * until the cloud's desired value for that property changes. Checked like the API server checks desired values.
   */
  setExpected(namespace: string, name: string, values: Array<{ propertyName: string; value: string; timestamp?: number }>): ReportOutcome {
    const e = this.entry(namespace, name);
    const props = this.propertiesOf(e.device);
    const outcome: ReportOutcome = { accepted: [], rejected: [] };
    const now = this.now();
    for (const v of values) {
      const prop = props.get(v.propertyName);
      if (!prop) {
        outcome.rejected.push({ propertyName: v.propertyName, reason: `device ${namespace}/${name} has no property ${JSON.stringify(v.propertyName)}` });
        continue;
      }
      if (prop.accessMode === 'ReadOnly') {
        outcome.rejected.push({ propertyName: v.propertyName, reason: `property ${v.propertyName} is ReadOnly in the model: it has no desired value` });
        continue;
      }
      const problem = prop.type ? propertyValueProblem(prop as ModelProperty, v.value) : undefined;
      if (problem) {
        outcome.rejected.push({ propertyName: v.propertyName, reason: `value ${JSON.stringify(v.value)} of ${v.propertyName} ${problem}` });
        continue;
      }
      e.twin.expected[v.propertyName] = { value: v.value, timestamp: v.timestamp && v.timestamp > 0 ? Math.floor(v.timestamp) : now };
      outcome.accepted.push(v.propertyName);
    }
    if (outcome.accepted.length) {
      this.markPersist(key(namespace, name));
      const model = this.modelOf(e.device);
      for (const l of this.desiredListeners) safely(this.o.log, () => l(e.device, model, { created: false, changedProperties: outcome.accepted }));
    }
    return outcome;
  }

  // ---- internals ----

  private entry(namespace: string, name: string): DeviceEntry {
    const e = this.devices.get(key(namespace, name));
    if (!e) throw new UnknownDeviceError(namespace, name);
    return e;
  }

  /** The device's properties with the model's type/access mode (a device property absent from the model has none). */
  private propertiesOf(device: Device): Map<string, Partial<ModelProperty> & { name: string }> {
    const out = new Map<string, Partial<ModelProperty> & { name: string }>();
    const model = this.modelOf(device);
    for (const mp of model?.spec.properties ?? []) out.set(mp.name, mp);
    // Without the model at hand (not yet arrived), the device's own property list still names what exists.
    if (!model) for (const p of device.spec.properties ?? []) out.set(p.name, { name: p.name });
    return out;
  }

  private applyState(e: DeviceEntry, state: DeviceState): void {
    const online = state === 'online' || state === 'ok';
    const lastOnlineTime = online ? new Date(this.now()).toISOString() : e.twin.lastOnlineTime;
    if (e.twin.state === state && (!online || e.twin.lastOnlineTime !== undefined)) return;
    e.twin.state = state;
    if (lastOnlineTime !== undefined) e.twin.lastOnlineTime = lastOnlineTime;
    const ns = e.device.metadata.namespace ?? 'default';
    this.markPersist(key(ns, e.device.metadata.name!));
    this.scheduleUpload(e, true);
    for (const l of this.stateListeners) safely(this.o.log, () => l(e.device, state));
  }

  /** Effective desired per property: the newer of the cloud's and an edge-local expected value. */
  private effectiveDesired(e: DeviceEntry): Record<string, TwinValue> {
    const out: Record<string, TwinValue> = {};
    for (const [p, v] of Object.entries(e.twin.cloudDesired)) out[p] = v;
    for (const [p, v] of Object.entries(e.twin.expected)) if (!out[p] || v.timestamp >= out[p]!.timestamp) out[p] = v;
    return out;
  }

  private document(e: DeviceEntry): TwinDocument {
    const props = this.propertiesOf(e.device);
    const desired = this.effectiveDesired(e);
    const properties: Record<string, PropertyTwin> = {};
    const names = new Set([...props.keys(), ...Object.keys(e.twin.reported), ...Object.keys(desired)]);
    for (const n of names) {
      const mp = props.get(n);
      const t: PropertyTwin = {};
      if (desired[n]) t.desired = desired[n];
      if (e.twin.reported[n]) t.reported = e.twin.reported[n];
      if (mp?.type) t.type = mp.type;
      if (mp?.accessMode) t.accessMode = mp.accessMode;
      properties[n] = t;
    }
    const doc: TwinDocument = { namespace: e.device.metadata.namespace ?? 'default', name: e.device.metadata.name!, state: e.twin.state, properties };
    if (e.twin.lastOnlineTime) doc.lastOnlineTime = e.twin.lastOnlineTime;
    return doc;
  }

  private acceptModel(storeKey: string, value: string | null): void {
    const k = storeKey.slice(MODELS_PREFIX.length);
    if (value === null) {
      const old = this.models.get(k);
      if (!old) return;
      this.models.delete(k);
      for (const l of this.modelListeners) safely(this.o.log, () => l(old, true));
      return;
    }
    const model = parseObject<DeviceModel>(value);
    if (!model?.metadata?.name) return;
    model.spec ??= {};
    this.models.set(k, model);
    for (const l of this.modelListeners) safely(this.o.log, () => l(model, false));
  }

  private acceptDevice(storeKey: string, value: string | null): void {
    const k = storeKey.slice(DEVICES_PREFIX.length);
    const prev = this.devices.get(k);
    if (value === null) {
      if (!prev) return;
      this.removeDevice(k, prev);
      return;
    }
    const device = parseObject<Device>(value);
    if (!device?.metadata?.name) return;
    device.spec ??= {};
    if (device.spec.nodeName && device.spec.nodeName !== this.o.nodeName) {
      // Moved to another node: the hub deletes it here too; do not serve it meanwhile.
      if (prev) this.removeDevice(k, prev);
      return;
    }
    let e = prev;
    let created = false;
    if (!e || e.twin.uid !== device.metadata.uid) {
      if (e) this.removeDevice(k, e);
      e = newEntry(device, { uid: device.metadata.uid ?? '', state: 'unknown', reported: {}, expected: {}, cloudDesired: {} });
      this.devices.set(k, e);
      created = true;
    } else if (!this.announced.has(k)) {
      created = true;
    }
    this.announced.add(k);
    e.device = device;
    const changed = this.updateCloudDesired(e);
    // Reported values of properties the device no longer has are dropped.
    const names = new Set((device.spec.properties ?? []).map((p) => p.name));
    for (const p of Object.keys(e.twin.reported)) if (!names.has(p) && !this.propertiesOf(device).has(p)) delete e.twin.reported[p];
    this.markPersist(k);
    const model = this.modelOf(device);
    for (const l of this.desiredListeners) safely(this.o.log, () => l(device, model, { created, changedProperties: changed }));
  }

  /** Devices announced to listeners in this run (restored entries are announced at their first store sighting). */
  private readonly announced = new Set<string>();

  private updateCloudDesired(e: DeviceEntry): string[] {
    const changed: string[] = [];
    const now = this.now();
    const seen = new Set<string>();
    for (const p of e.device.spec.properties ?? []) {
      const v = p.desired?.value;
      if (v === undefined || v === '') continue;
      seen.add(p.name);
      const cur = e.twin.cloudDesired[p.name];
      if (cur?.value === v) continue;
      e.twin.cloudDesired[p.name] = { value: v, timestamp: now, ...(p.desired?.metadata ? { metadata: { ...p.desired.metadata } } : {}) };
      // A new cloud desired value supersedes an edge-local expected one.
      delete e.twin.expected[p.name];
      changed.push(p.name);
    }
    for (const p of Object.keys(e.twin.cloudDesired)) {
      if (seen.has(p)) continue;
      delete e.twin.cloudDesired[p];
      changed.push(p);
    }
    return changed;
  }

  private removeDevice(k: string, e: DeviceEntry): void {
    clearTimeout(e.uploadTimer);
    this.devices.delete(k);
    this.announced.delete(k);
    this.dropState(k);
    for (const l of this.removedListeners) safely(this.o.log, () => l(e.device));
  }

  private dropState(k: string): void {
    this.dirtyState.delete(k);
    this.persistChain = this.persistChain
      .then(async () => {
        if (!this.devices.has(k)) await this.local.remove(TWIN_STATE_PREFIX + k);
      })
      .catch((err) => this.o.log.error({ err: String(err), device: k }, 'could not drop twin state'));
  }

  /** Twin state writes are coalesced per device and batched per turn of the event loop. */
  private markPersist(k: string): void {
    this.dirtyState.add(k);
    if (this.persistScheduled) return;
    this.persistScheduled = true;
    setImmediate(() => this.flushPersist());
  }

  private flushPersist(): void {
    this.persistScheduled = false;
    if (!this.dirtyState.size) return;
    const batch = [...this.dirtyState];
    this.dirtyState.clear();
    this.persistChain = this.persistChain.then(async () => {
      for (const k of batch) {
        const e = this.devices.get(k);
        if (!e) continue;
        try {
          await this.local.put(TWIN_STATE_PREFIX + k, JSON.stringify(e.twin));
        } catch (err) {
          this.o.log.error({ err: String(err), device: k }, 'could not persist twin state');
        }
      }
    });
  }

  /** Upload after each dirty property's reportCycle since its last upload (immediately for a state change). */
  private scheduleUpload(e: DeviceEntry, now = false): void {
    if (!this.o.sink) return;
    let due = this.now();
    if (!now) {
      const cycles = new Map((e.device.spec.properties ?? []).map((p) => [p.name, cycleMs(p.reportCycle)]));
      due = 0;
      for (const p of e.dirty) due = Math.max(due, Math.min((e.lastUpload.get(p) ?? 0) + (cycles.get(p) ?? 0), Number.MAX_SAFE_INTEGER));
    }
    const delay = Math.max(0, due - this.now());
    if (e.uploadTimer) {
      if (!now) return; // an upload is already planned; it takes every dirty property with it
      clearTimeout(e.uploadTimer);
    }
    e.uploadTimer = setTimeout(() => this.upload(e), delay);
  }

  private upload(e: DeviceEntry): void {
    e.uploadTimer = undefined;
    if (!this.o.sink || this.stopped) return;
    const t = this.now();
    for (const p of e.dirty) e.lastUpload.set(p, t);
    e.dirty.clear();
    const desired = this.effectiveDesired(e);
    const twins: Twin[] = [];
    for (const [p, v] of Object.entries(e.twin.reported)) {
      const twin: Twin = { propertyName: p, reported: { value: v.value, metadata: { ...(v.metadata ?? {}), [TWIN_TIMESTAMP_KEY]: String(v.timestamp) } } };
      const d = desired[p];
      if (d) twin.observedDesired = { value: d.value, metadata: { [TWIN_TIMESTAMP_KEY]: String(d.timestamp) } };
      twins.push(twin);
    }
    twins.sort((a, b) => a.propertyName.localeCompare(b.propertyName));
    const status: DeviceStatusFields = { twins, state: e.twin.state };
    if (e.twin.lastOnlineTime) status.lastOnlineTime = e.twin.lastOnlineTime;
    this.o.sink.setDeviceStatus(e.device.metadata.namespace ?? 'default', e.device.metadata.name!, e.device.metadata.uid ?? '', status);
  }
}

function newEntry(device: Device, twin: StoredTwinState): DeviceEntry {
  return { device, twin: { ...twin, reported: { ...twin.reported }, expected: { ...(twin.expected ?? {}) }, cloudDesired: { ...(twin.cloudDesired ?? {}) } }, dirty: new Set(), lastUpload: new Map() };
}

function parseObject<T>(value: string): T | undefined {
  try {
    const v = JSON.parse(value) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

function subscribe<T>(list: T[], l: T): () => void {
  list.push(l);
  return () => {
    const i = list.indexOf(l);
    if (i >= 0) list.splice(i, 1);
  };
}

function safely(log: Logger, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    log.error({ err: String(err) }, 'device twin listener failed');
  }
}
