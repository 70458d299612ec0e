/**
 * The edge's half of KubeEdge's DMI: serves DeviceManagerService on the node's DMI socket (mappers register and
 * report there) and calls each registered mapper's DeviceMapperService to hand it the devices of its protocol.
 *
 *  - MapperRegister: the mapper serving protocol P (one per protocol, the last to register wins) gets, with
 *    withData, every device of P on this node and their models; Kedge then keeps it current: RegisterDevice /
 *    UpdateDevice (desired values are the twin's effective desired) / CreateDeviceModel / UpdateDeviceModel as
 *    things change, RemoveDevice when a device is deleted, moved to another node or switched to another protocol.
 *  - ReportDeviceStatus / ReportDeviceStates go to the twin module (src/edge/devices/twin.ts).
 *  - A mapper whose socket stops answering (probed every `probeIntervalMs`, and any failed call) is dropped and
 *    its devices go `offline`; when it registers again it is handed everything again.
 * Calls to one mapper are made one at a time in order, so a RemoveDevice never overtakes the RegisterDevice before it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../common/logger.js';
import {
  deviceManagerService,
  deviceMapperClient,
  deviceToDmi,
  grpc,
  grpcError,
  modelToDmi,
  serveConnections,
  serveOnUnixSocket,
  type DeviceMessage,
  type DeviceModelShape,
  type DeviceShape,
  type DmiClient,
  type MapperRegisterRequest,
  type MapperRegisterResponse,
  type ReportDeviceStatesRequest,
  type ReportDeviceStatusRequest,
} from '../../../protocol/dmi/index.js';
import { checkMapperInfo, checkReportedTwins, checkState, deviceKeyOf, type MapperIdentity } from './validate.js';

/** What the DMI server needs of the twin module (DeviceTwins in ../twin.ts provides it). */
export interface DmiTwins {
  onDesiredChanged(listener: (device: DeviceShape, model: DeviceModelShape | undefined) => void): () => void;
  onDeviceRemoved(listener: (device: DeviceShape) => void): () => void;
  onModelChanged(listener: (model: DeviceModelShape, removed: boolean) => void): () => void;
  device(namespace: string, name: string): DeviceShape | undefined;
  /** Every Device bound to this node. */
  listDevices(): DeviceShape[];
  modelOf(device: DeviceShape): DeviceModelShape | undefined;
  devicesFor(protocolName: string): { devices: DeviceShape[]; models: DeviceModelShape[] };
  twin(namespace: string, name: string): { properties: Record<string, { desired?: { value: string; metadata?: Record<string, string> } }> } | undefined;
  reportFromMapper(namespace: string, name: string, reported: Array<{ propertyName: string; value: string; timestamp?: number; metadata?: Record<string, string> }>): {
    accepted: string[];
    rejected: Array<{ propertyName: string; reason: string }>;
  };
  reportState(namespace: string, name: string, state: string): void;
}

export interface DmiServerOptions {
  socketPath: string;
  twins: DmiTwins;
  log: Logger;
  /** How often a registered mapper's socket is checked (default 5 s). */
  probeIntervalMs?: number;
  /** Deadline of each call to a mapper (default 5 s). */
  callTimeoutMs?: number;
  /** How long a registered mapper may take to start serving its socket (default 30 s; see validate.ts). */
  startGraceMs?: number;
  /**
   * Where registered mappers are remembered across agent restarts (as edgecore keeps them in its database):
   * mapper-framework registers once at its own start, so a restarted edge must know it without a new registration.
   */
  statePath?: string;
}

interface MapperEntry extends MapperIdentity {
  client: DmiClient;
  /** Devices (ns/name) and models (ns/name) this mapper has been given. */
  devices: Set<string>;
  models: Set<string>;
  chain: Promise<void>;
  probe?: NodeJS.Timeout;
  lost: boolean;
  registeredAt: number;
  /** Its socket has accepted a connection since it registered. */
  serving: boolean;
}

const keyOf = (o: { metadata: { name?: string; namespace?: string } }) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;

function protocolOf(device: DeviceShape, model: DeviceModelShape | undefined): string {
  return device.spec.protocol?.protocolName || model?.spec.protocol || '';
}

export class DmiServer {
  private readonly mappers = new Map<string, MapperEntry>();
  /** Which mapper (by protocol) holds each device. */
  private readonly home = new Map<string, string>();
  private unsubscribe: Array<() => void> = [];
  private stopServing: (() => Promise<void>) | undefined;
  private stopped = false;

  constructor(private readonly o: DmiServerOptions) {}

  get socketPath(): string {
    return this.o.socketPath;
  }

  /** Registered mappers (protocol → name, socket), for logs and tests. */
  registeredMappers(): Array<{ name: string; protocol: string; address: string; devices: number; serving: boolean }> {
    return [...this.mappers.values()].map((m) => ({ name: m.name, protocol: m.protocol, address: m.address, devices: m.devices.size, serving: m.serving }));
  }

  /** Serve on the own socket (options.socketPath). */
  async start(): Promise<void> {
    await this.begin(() => serveOnUnixSocket(deviceManagerService(), this.handlers(), this.o.socketPath));
    this.o.log.info({ socket: this.o.socketPath }, 'DMI DeviceManagerService listening');
  }

  /** Serve connections accepted on a socket someone else listens on (dmi/index.ts: gRPC loaded at the first one). */
  async startOnConnections(): Promise<(connection: Duplex) => void> {
    const serving = serveConnections(deviceManagerService(), this.handlers());
    await this.begin(async () => serving.stop);
    this.o.log.info({ socket: this.o.socketPath }, 'DMI gRPC server loaded');
    return serving.inject;
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      MapperRegister: this.unary((req: MapperRegisterRequest) => this.register(req)),
      ReportDeviceStatus: this.unary((req: ReportDeviceStatusRequest) => this.reportStatus(req)),
      ReportDeviceStates: this.unary((req: ReportDeviceStatesRequest) => this.reportStates(req)),
    };
  }

  private async begin(serve: () => Promise<() => Promise<void>>): Promise<void> {
    const t = this.o.twins;
    this.unsubscribe.push(
      t.onDesiredChanged((device, model) => this.deviceChanged(device, model)),
      t.onDeviceRemoved((device) => this.deviceRemoved(keyOf(device))),
      t.onModelChanged((model, removed) => this.modelChanged(model, removed)),
    );
    this.stopServing = await serve();
    await this.restore();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    for (const m of this.mappers.values()) {
      clearInterval(m.probe);
      m.client.close();
    }
    this.mappers.clear();
    await this.persistChain;
    await this.stopServing?.();
  }

  /** A handler whose thrown errors become gRPC errors (a non-gRPC one is INTERNAL and logged). */
  private unary<Req, Res>(fn: (req: Req) => Promise<Res> | Res): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then((res) => callback(null, res))
        .catch((err: unknown) => {
          const e = err as Partial<grpc.ServiceError>;
          if (typeof e.code === 'number') return callback(err as grpc.ServiceError);
          this.o.log.error({ err: String(err) }, 'DMI request failed');
          callback(grpcError(grpc.status.INTERNAL, String(err)));
        });
    };
  }

  /** A mapper entry, watched from now on (registered now, or remembered from before a restart). */
  private track(id: MapperIdentity): MapperEntry {
    const entry: MapperEntry = { ...id, client: deviceMapperClient(id.address, this.o.callTimeoutMs ?? 5_000), devices: new Set(), models: new Set(), chain: Promise.resolve(), lost: false, registeredAt: Date.now(), serving: false };
    this.mappers.set(id.protocol, entry);
    entry.probe = setInterval(() => void this.probe(entry), this.o.probeIntervalMs ?? 5_000);
    entry.probe.unref();
    void this.probe(entry);
    return entry;
  }

  private persistChain: Promise<void> = Promise.resolve();

  /** Write the registered mappers (atomically: temp file, rename) for the next agent run. */
  private persist(): void {
    const file = this.o.statePath;
    if (!file || this.stopped) return;
    const ids: MapperIdentity[] = [...this.mappers.values()].map(({ name, protocol, version, apiVersion, address }) => ({ name, protocol, version, apiVersion, address }));
    this.persistChain = this.persistChain
      .then(async () => {
        await writeFile(`${file}.tmp`, JSON.stringify(ids), { mode: 0o600 });
        await rename(`${file}.tmp`, file);
      })
      .catch((err: unknown) => this.o.log.warn({ err: String(err), file }, 'could not record registered mappers'));
  }

  /**
   * Mappers registered before the agent restarted: they still hold their devices and will not register again, so
   * they are handed the current spec of each once they answer; one that does not within the start grace is lost.
   */
  private async restore(): Promise<void> {
    const file = this.o.statePath;
    if (!file) return;
    const raw = await readFile(file, 'utf8').catch(() => undefined);
    if (!raw) return;
    let ids: MapperIdentity[];
    try {
      ids = (JSON.parse(raw) as MapperIdentity[]).filter((i) => typeof i?.protocol === 'string' && typeof i.address === 'string' && path.isAbsolute(i.address));
    } catch {
      this.o.log.warn({ file }, 'unreadable record of registered mappers; ignored');
      return;
    }
    for (const id of ids) {
      const m = this.track(id);
      const { devices } = this.o.twins.devicesFor(id.protocol);
      for (const d of devices) {
        m.devices.add(keyOf(d));
        this.home.set(keyOf(d), id.protocol);
        this.deviceChanged(d, this.o.twins.modelOf(d));
      }
      this.o.log.info({ mapper: id.name, protocol: id.protocol, socket: id.address, devices: devices.length }, 'mapper remembered from the last run');
    }
  }

  // ---- DeviceManagerService ----

  private async register(req: MapperRegisterRequest): Promise<MapperRegisterResponse> {
    if (this.stopped) throw grpcError(grpc.status.UNAVAILABLE, 'the edge agent is stopping');
    const id = await checkMapperInfo(req.mapper);
    const previous = this.mappers.get(id.protocol);
    if (previous) {
      if (previous.name !== id.name) this.o.log.warn({ protocol: id.protocol, previous: previous.name, mapper: id.name }, 'a second mapper registered for a protocol; it replaces the first');
      this.drop(previous);
    }
    const entry = this.track(id);
    this.persist();
    const { devices, models } = this.o.twins.devicesFor(id.protocol);
    this.o.log.info({ mapper: id.name, protocol: id.protocol, socket: id.address, devices: devices.length, withData: !!req.withData }, 'mapper registered');
    if (!req.withData) return { modelList: [], deviceList: [] };
    for (const d of devices) {
      entry.devices.add(keyOf(d));
      this.home.set(keyOf(d), id.protocol);
    }
    for (const m of models) entry.models.add(keyOf(m));
    return { modelList: models.map(modelToDmi), deviceList: devices.map((d) => this.toDmi(d)) };
  }

  private reportStatus(req: ReportDeviceStatusRequest): object {
    const { namespace, name } = deviceKeyOf(req, 'ReportDeviceStatus');
    const device = this.o.twins.device(namespace, name);
    if (!device) throw grpcError(grpc.status.NOT_FOUND, `ReportDeviceStatus: device ${namespace}/${name} is not bound to this node`);
    const model = this.o.twins.modelOf(device);
    const known = new Set((model?.spec.properties ?? device.spec.properties ?? []).map((p) => p.name));
    const reported = checkReportedTwins(req, known, `${namespace}/${name}`);
    if (!reported.length) return {};
    const outcome = this.o.twins.reportFromMapper(namespace, name, reported);
    if (outcome.rejected.length) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `ReportDeviceStatus: ${outcome.rejected.map((r) => r.reason).join('; ')}`);
    }
    return {};
  }

  private reportStates(req: ReportDeviceStatesRequest): object {
    const { namespace, name } = deviceKeyOf(req, 'ReportDeviceStates');
    const state = checkState(req);
    if (!this.o.twins.device(namespace, name)) throw grpcError(grpc.status.NOT_FOUND, `ReportDeviceStates: device ${namespace}/${name} is not bound to this node`);
    this.o.twins.reportState(namespace, name, state);
    return {};
  }

  // ---- keeping mappers current ----

  /** The device as its mapper gets it: desired values are the twin's effective ones (cloud or edge-local). */
  private toDmi(device: DeviceShape): DeviceMessage {
    const msg = deviceToDmi(device);
    const twin = this.o.twins.twin(device.metadata.namespace ?? 'default', device.metadata.name ?? '');
    for (const p of msg.spec?.properties ?? []) {
      const desired = twin?.properties[p.name ?? '']?.desired;
      if (desired) p.desired = { value: desired.value, metadata: desired.metadata ?? {} };
    }
    return msg;
  }

  private deviceChanged(device: DeviceShape, model: DeviceModelShape | undefined): void {
    const k = keyOf(device);
    const protocol = protocolOf(device, model);
    const before = this.home.get(k);
    if (before !== undefined && before !== protocol) this.deviceRemoved(k);
    const m = this.mappers.get(protocol);
    if (!m) return;
    this.home.set(k, protocol);
    const modelKey = model ? keyOf(model) : undefined;
    this.enqueue(m, async () => {
      if (model && modelKey && !m.models.has(modelKey)) {
        await m.client.call('CreateDeviceModel', { model: modelToDmi(model) });
        m.models.add(modelKey);
      }
      // Fresh from the twins at send time: several quick changes collapse into what is current.
      const current = this.o.twins.device(device.metadata.namespace ?? 'default', device.metadata.name ?? '');
      if (!current || this.home.get(k) !== protocol) return;
      const had = m.devices.has(k);
      await m.client.call(had ? 'UpdateDevice' : 'RegisterDevice', { device: this.toDmi(current) });
      m.devices.add(k);
    }, `${k}: register/update`);
  }

  private deviceRemoved(k: string): void {
    const protocol = this.home.get(k);
    this.home.delete(k);
    const m = protocol !== undefined ? this.mappers.get(protocol) : undefined;
    if (!m) return;
    const [namespace, name] = k.split('/') as [string, string];
    // Decided when its turn comes: a RegisterDevice still in flight has then landed (or been skipped).
    this.enqueue(m, async () => {
      if (!m.devices.has(k) || this.home.get(k) === m.protocol) return;
      m.devices.delete(k);
      await m.client.call('RemoveDevice', { deviceName: name, deviceNamespace: namespace });
    }, `${k}: remove`);
  }

  private modelChanged(model: DeviceModelShape, removed: boolean): void {
    const k = keyOf(model);
    for (const m of this.mappers.values()) {
      if (!m.models.has(k)) continue;
      if (removed) {
        m.models.delete(k);
        this.enqueue(m, () => m.client.call('RemoveDeviceModel', { modelName: model.metadata.name, modelNamespace: model.metadata.namespace ?? 'default' }), `model ${k}: remove`);
      } else {
        this.enqueue(m, () => m.client.call('UpdateDeviceModel', { model: modelToDmi(model) }), `model ${k}: update`);
      }
    }
  }

  private enqueue(m: MapperEntry, op: () => Promise<unknown>, what: string): void {
    m.chain = m.chain.then(async () => {
      if (m.lost || !(await this.untilServing(m))) return;
      try {
        await op();
      } catch (err) {
        const code = (err as grpc.ServiceError).code;
        if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) {
          this.lose(m, `call failed: ${String(err)}`);
        } else {
          // The mapper refused this one device or model (its own validation): the rest keep working.
          this.o.log.warn({ mapper: m.name, protocol: m.protocol, op: what, err: String(err) }, 'mapper refused a DMI call');
        }
      }
    });
  }

  // ---- liveness ----

  /** Whether the mapper's socket accepts a connection now. */
  private connects(m: MapperEntry): Promise<true | string> {
    return new Promise((resolve) => {
      const s = net.connect({ path: m.address });
      s.setTimeout(this.o.callTimeoutMs ?? 5_000);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('timeout', () => { s.destroy(); resolve('socket did not accept a connection in time'); });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(`socket ${m.address}: ${err.code ?? err.message}`));
    });
  }

  private inGrace(m: MapperEntry): boolean {
    return !m.serving && Date.now() - m.registeredAt < (this.o.startGraceMs ?? 30_000);
  }

  private async probe(m: MapperEntry): Promise<void> {
    const r = await this.connects(m);
    if (r === true) m.serving = true;
    else if (!this.inGrace(m)) this.lose(m, r);
  }

  /** A mapper that registered before serving (mapper-framework does) is waited for, within the start grace. */
  private async untilServing(m: MapperEntry): Promise<boolean> {
    while (!m.serving && !m.lost) {
      const r = await this.connects(m);
      if (r === true) m.serving = true;
      else if (!this.inGrace(m)) {
        this.lose(m, `${r} (not serving ${Math.round((Date.now() - m.registeredAt) / 1000)} s after registering)`);
        return false;
      } else await new Promise((res) => setTimeout(res, 200));
    }
    return !m.lost;
  }

  /** The mapper is gone: its devices are offline until it (or another mapper of its protocol) registers. */
  private lose(m: MapperEntry, reason: string): void {
    if (m.lost || this.mappers.get(m.protocol) !== m) return;
    this.o.log.warn({ mapper: m.name, protocol: m.protocol, reason }, 'mapper lost; its devices are offline until it registers again');
    this.drop(m);
    for (const d of this.o.twins.devicesFor(m.protocol).devices) {
      try {
        this.o.twins.reportState(d.metadata.namespace ?? 'default', d.metadata.name ?? '', 'offline');
      } catch (err) {
        this.o.log.debug({ device: keyOf(d), err: String(err) }, 'could not mark device offline');
      }
    }
  }

  private drop(m: MapperEntry): void {
    m.lost = true;
    clearInterval(m.probe);
    m.client.close();
    if (this.mappers.get(m.protocol) === m) this.mappers.delete(m.protocol);
    for (const k of m.devices) if (this.home.get(k) === m.protocol) this.home.delete(k);
    this.persist();
  }
}
