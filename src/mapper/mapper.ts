/**
 * A Kedge mapper: a DMI mapper like any third-party one. It serves DeviceMapperService on its own Unix socket,
 * registers with the edge's DeviceManagerService (MapperRegister withData: the edge answers with this
 * protocol's devices and models), runs each device (device-runner.ts) and reports through
 * ReportDeviceStatus/ReportDeviceStates. Registration is retried until the edge answers, and repeated whenever the
 * connection to the edge is lost (a restarted edge has forgotten its mappers).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.js';
import {
  DMI_API_VERSION,
  deviceManagerClient,
  deviceMapperService,
  grpc,
  grpcError,
  serveOnUnixSocket,
  type DeviceMessage,
  type DeviceModelMessage,
  type DeviceRef,
  type DmiClient,
  type MapperRegisterResponse,
  type ModelRef,
  type TwinMessage,
} from '../protocol/dmi/index.js';
import { decodeDevice, modelKey } from './decode.js';
import { DeviceRunner, type RunnerSink } from './device-runner.js';
import { Publisher } from './push.js';
import type { MapperDevice, MapperProtocol } from './types.js';

export interface MapperOptions {
  /** MapperInfo.name (default kedge-<protocol>-mapper). */
  name?: string;
  version?: string;
  protocol: MapperProtocol;
  /** Where this mapper serves DeviceMapperService (registered with the edge as its address). */
  socketPath: string;
  /** The edge's DeviceManagerService socket. */
  dmiSocket: string;
  log: Logger;
}

interface Held {
  message: DeviceMessage;
  runner: DeviceRunner;
}

export class Mapper implements RunnerSink {
  private readonly models = new Map<string, DeviceModelMessage>();
  private readonly devices = new Map<string, Held>();
  private readonly publisher: Publisher;
  private edge!: DmiClient;
  private stopServing: (() => Promise<void>) | undefined;
  private registering: Promise<void> | undefined;
  private registeredOnce = false;
  private stopped = false;
  private readonly name: string;

  constructor(private readonly o: MapperOptions) {
    this.name = o.name ?? `kedge-${o.protocol.name}-mapper`;
    this.publisher = new Publisher(o.log);
  }

  /** Serve, then register in the background (the edge may not be up yet). Resolves once serving. */
  async start(): Promise<void> {
    const h = <Req, Res>(fn: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> => (call, cb) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then((res) => cb(null, res))
        .catch((err: unknown) => cb(typeof (err as grpc.ServiceError).code === 'number' ? (err as grpc.ServiceError) : grpcError(grpc.status.INVALID_ARGUMENT, (err as Error).message ?? String(err))));
    };
    this.stopServing = await serveOnUnixSocket(deviceMapperService(), {
      RegisterDevice: h((req: { device?: DeviceMessage }) => this.upsert(req.device)),
      UpdateDevice: h((req: { device?: DeviceMessage }) => (this.upsert(req.device), {})),
      RemoveDevice: h((req: DeviceRef) => this.remove(req)),
      CreateDeviceModel: h((req: { model?: DeviceModelMessage }) => this.putModel(req.model)),
      UpdateDeviceModel: h((req: { model?: DeviceModelMessage }) => (this.putModel(req.model), {})),
      RemoveDeviceModel: h((req: ModelRef) => (this.models.delete(modelKey(req.modelNamespace, req.modelName)), {})),
      GetDevice: h((req: DeviceRef) => this.get(req)),
    }, this.o.socketPath);
    this.edge = deviceManagerClient(this.o.dmiSocket);
    this.edge.onConnectionLost(() => {
      this.o.log.warn({ dmiSocket: this.o.dmiSocket }, 'connection to the edge lost; registering again');
      this.register();
    });
    this.o.log.info({ socket: this.o.socketPath, protocol: this.o.protocol.name }, 'DeviceMapperService listening');
    this.register();
  }

  /** Resolves once registered (tests, `kedge mapper` logs). */
  registered(): Promise<void> {
    return this.registering ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.devices.values()].map((d) => d.runner.stop()));
    this.devices.clear();
    this.edge?.close();
    await this.publisher.close();
    await this.stopServing?.();
  }

  deviceNames(): string[] {
    return [...this.devices.keys()];
  }

  // ---- registration ----

  private register(): void {
    if (this.registering || this.stopped) return;
    this.registering = this.registerLoop().finally(() => (this.registering = undefined));
  }

  private async registerLoop(): Promise<void> {
    let delay = 250;
    let logged = false;
    while (!this.stopped) {
      try {
        const res = await this.edge.call<MapperRegisterResponse>('MapperRegister', {
          withData: true,
          mapper: { name: this.name, version: this.o.version ?? '', api_version: DMI_API_VERSION, protocol: this.o.protocol.name, address: Buffer.from(this.o.socketPath), state: 'ok' },
        });
        this.sync(res);
        this.o.log.info({ dmiSocket: this.o.dmiSocket, devices: this.devices.size, again: this.registeredOnce }, 'registered with the edge');
        this.registeredOnce = true;
        for (const d of this.devices.values()) d.runner.sendState();
        return;
      } catch (err) {
        if (!logged) this.o.log.warn({ dmiSocket: this.o.dmiSocket, err: String(err) }, 'cannot register with the edge yet; retrying');
        logged = true;
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  /** The edge's full answer: these models and devices, no others. */
  private sync(res: MapperRegisterResponse): void {
    this.models.clear();
    for (const m of res.modelList ?? []) this.models.set(modelKey(m.namespace, m.name), m);
    const keep = new Set<string>();
    for (const d of res.deviceList ?? []) {
      try {
        keep.add(this.upsert(d).key);
      } catch (err) {
        this.o.log.error({ device: `${d.namespace || 'default'}/${d.name}`, err: (err as Error).message }, 'cannot run device');
      }
    }
    for (const [k, d] of this.devices) {
      if (keep.has(k)) continue;
      this.devices.delete(k);
      void d.runner.stop();
    }
  }

  // ---- DeviceMapperService ----

  private upsert(message: DeviceMessage | undefined): { deviceName: string; deviceNamespace: string; key: string } {
    if (!message) throw new Error('device is required');
    const protocolName = message.spec?.protocol?.protocolName ?? '';
    if (protocolName !== this.o.protocol.name) throw new Error(`device ${message.name} uses protocol ${JSON.stringify(protocolName)}; this mapper serves ${JSON.stringify(this.o.protocol.name)}`);
    const device = decodeDevice(message, this.models);
    this.o.protocol.check(device);
    const key = `${device.namespace}/${device.name}`;
    const held = this.devices.get(key);
    if (held) {
      held.message = message;
      held.runner.update(device);
    } else {
      const runner = new DeviceRunner(device, this.o.protocol, this, this.publisher, this.o.log.child({ device: key }));
      this.devices.set(key, { message, runner });
      runner.start();
      this.o.log.info({ device: key, properties: device.properties.length }, 'device added');
    }
    return { deviceName: device.name, deviceNamespace: device.namespace, key };
  }

  private remove(req: DeviceRef): object {
    const key = `${req.deviceNamespace || 'default'}/${req.deviceName ?? ''}`;
    const held = this.devices.get(key);
    if (held) {
      this.devices.delete(key);
      void held.runner.stop();
      this.o.log.info({ device: key }, 'device removed');
    }
    return {};
  }

  private putModel(model: DeviceModelMessage | undefined): { deviceModelName: string; deviceModelNamespace: string } {
    if (!model?.name) throw new Error('model with a name is required');
    const k = modelKey(model.namespace, model.name);
    this.models.set(k, model);
    // Devices of this model pick up changed property types and access modes.
    for (const held of this.devices.values()) {
      if (modelKey(held.message.namespace, held.message.spec?.deviceModelReference) !== k) continue;
      try {
        held.runner.update(decodeDevice(held.message, this.models));
      } catch (err) {
        this.o.log.error({ device: held.message.name, err: (err as Error).message }, 'device no longer valid with the updated model');
      }
    }
    return { deviceModelName: model.name, deviceModelNamespace: model.namespace || 'default' };
  }

  private get(req: DeviceRef): { device: DeviceMessage } {
    const key = `${req.deviceNamespace || 'default'}/${req.deviceName ?? ''}`;
    const held = this.devices.get(key);
    if (!held) throw grpcError(grpc.status.NOT_FOUND, `device ${key} is not served by this mapper`);
    const twins: TwinMessage[] = held.runner.readings().map((r) => ({
      propertyName: r.property,
      reported: { value: r.value, metadata: { timestamp: String(r.timestamp) } },
      observedDesired: { value: r.observedDesired ?? '', metadata: {} },
    }));
    return { device: { ...held.message, status: { ...(held.message.status ?? {}), twins } } };
  }

  // ---- reporting to the edge (RunnerSink) ----

  async reportTwins(device: MapperDevice, twins: TwinMessage[]): Promise<void> {
    await this.toEdge('ReportDeviceStatus', { deviceName: device.name, deviceNamespace: device.namespace, reportedDevice: { twins } });
  }

  async reportState(device: MapperDevice, state: 'online' | 'offline'): Promise<void> {
    await this.toEdge('ReportDeviceStates', { deviceName: device.name, deviceNamespace: device.namespace, state });
  }

  private async toEdge(method: string, req: object): Promise<void> {
    try {
      await this.edge.call(method, req);
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (code === grpc.status.UNAVAILABLE) this.register();
      else if (code === grpc.status.NOT_FOUND || code === grpc.status.INVALID_ARGUMENT) this.o.log.warn({ method, err: (err as grpc.ServiceError).details }, 'the edge refused a report');
      throw err;
    }
  }
}
