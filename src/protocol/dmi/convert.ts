/**
 * devices.kubeedge.io/v1beta1 objects (as the edge holds them) → DMI messages (as a mapper receives them), the
 * same mapping KubeEdge's device manager makes: a Device's spec with its namespace, configData packed as Anys,
 * the model's properties with their type/access mode/bounds.
 */
import type { Device, DeviceModel, PushMethod } from '../devices.js';
import { encodeCustomizedValue } from './any.js';
import type { DeviceMessage, DeviceModelMessage, DevicePropertyMessage, PushMethodMessage } from './types.js';

/** The KubeEdge objects this mapping reads, under the names the DMI layer uses for them. */
export type DeviceShape = Device;
export type DeviceModelShape = DeviceModel;

function pushMethodToDmi(p: PushMethod | undefined): PushMethodMessage | null {
  if (!p) return null;
  return {
    http: p.http ? { hostname: p.http.hostName ?? '', port: p.http.port ?? 0, requestpath: p.http.requestPath ?? '', timeout: p.http.timeout ?? 0 } : null,
    mqtt: p.mqtt ? { address: p.mqtt.address ?? '', topic: p.mqtt.topic ?? '', qos: p.mqtt.qos ?? 0, retained: p.mqtt.retained ?? false } : null,
    otel: p.otel ? { endpointURL: p.otel.endpointURL ?? '' } : null,
  };
}

export function deviceToDmi(device: DeviceShape): DeviceMessage {
  const spec = device.spec;
  const protocolName = spec.protocol?.protocolName ?? '';
  const properties: DevicePropertyMessage[] = (spec.properties ?? []).map((p) => ({
    name: p.name,
    desired: p.desired ? { value: p.desired.value ?? '', metadata: p.desired.metadata ?? {} } : null,
    visitors: { protocolName: p.visitors?.protocolName || protocolName, configData: encodeCustomizedValue(p.visitors?.configData) },
    reportCycle: p.reportCycle ?? 0,
    collectCycle: p.collectCycle ?? 0,
    reportToCloud: p.reportToCloud ?? false,
    pushMethod: pushMethodToDmi(p.pushMethod),
  }));
  return {
    name: device.metadata.name ?? '',
    namespace: device.metadata.namespace ?? 'default',
    spec: {
      deviceModelReference: spec.deviceModelRef?.name ?? '',
      protocol: { protocolName, configData: encodeCustomizedValue(spec.protocol?.configData) },
      properties,
      methods: (spec.methods ?? []).map((m) => ({ name: m.name, description: m.description ?? '', propertyNames: m.propertyNames ?? [] })),
    },
    status: { twins: [], reportToCloud: device.status?.reportToCloud ?? false, reportCycle: device.status?.reportCycle ?? 0 },
  };
}

export function modelToDmi(model: DeviceModelShape): DeviceModelMessage {
  return {
    name: model.metadata.name ?? '',
    namespace: model.metadata.namespace ?? 'default',
    spec: {
      properties: (model.spec.properties ?? []).map((p) => ({
        name: p.name,
        description: p.description ?? '',
        type: p.type,
        accessMode: p.accessMode,
        minimum: p.minimum ?? '',
        maximum: p.maximum ?? '',
        unit: p.unit ?? '',
      })),
      commands: [],
    },
  };
}
