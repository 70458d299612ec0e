/**
 * KubeEdge's device API, `devices.kubeedge.io/v1beta1`, as TypeScript types: DeviceModel, Device and (KubeEdge
 * v1.23+) DeviceStatus, a separate object per Device (same namespace and name, owner-referenced to the Device)
 * holding the reported twins. Written from KubeEdge's documented fields (pkg/apis/devices/v1beta1) so objects
 * round-trip unchanged; shared by the API server (schema, validation), the hub (routing, status writes) and the
 * edge (twin module, DMI, mappers). In src/common because the API server (admission) may import nothing else; re-exported
 * by src/protocol/devices.ts, the import point of the hub and the edge.
 */

export const DEVICES_GROUP = 'devices.kubeedge.io';
export const DEVICES_VERSION = 'v1beta1';
export const DEVICES_API_VERSION = `${DEVICES_GROUP}/${DEVICES_VERSION}`;

/** Resource segments of wire/store keys (`/registry/<resource>/<ns>/<name>`), group-qualified like EndpointSlices. */
export const DEVICE_RESOURCE = `devices.${DEVICES_GROUP}`;
export const DEVICE_MODEL_RESOURCE = `devicemodels.${DEVICES_GROUP}`;
export const DEVICE_STATUS_RESOURCE = `devicestatuses.${DEVICES_GROUP}`;

export interface ObjectMetaLite {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  [extra: string]: unknown;
}

// ---- DeviceModel ----
export const PROPERTY_TYPES = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];
export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;
export type PropertyAccessMode = (typeof ACCESS_MODES)[number];

export interface ModelProperty {
  name: string;
  description?: string;
  type: PropertyType;
  accessMode: PropertyAccessMode;
  /** Strings in KubeEdge's API ("0", "100.5"): bounds for INT/FLOAT/DOUBLE values. */
  minimum?: string;
  maximum?: string;
  unit?: string;
}

export interface DeviceModelSpec {
  properties?: ModelProperty[];
  protocol?: string;
}

export interface DeviceModel {
  apiVersion?: string;
  kind?: 'DeviceModel';
  metadata: ObjectMetaLite;
  spec: DeviceModelSpec;
}

// ---- Device ----
/** Opaque, protocol-specific configuration (KubeEdge's CustomizedValue: a free-form JSON object). */
export type CustomizedValue = Record<string, unknown>;

export interface TwinProperty {
  value: string;
  metadata?: Record<string, string>;
}

export interface ProtocolConfig {
  protocolName?: string;
  configData?: CustomizedValue;
}

export interface VisitorConfig {
  protocolName?: string;
  configData?: CustomizedValue;
}

export interface PushMethodHTTP {
  hostName?: string;
  port?: number;
  requestPath?: string;
  timeout?: number;
}

export interface PushMethodMQTT {
  address?: string;
  topic?: string;
  qos?: number;
  retained?: boolean;
}

export interface PushMethod {
  http?: PushMethodHTTP;
  mqtt?: PushMethodMQTT;
  otel?: { endpointURL?: string };
  dbMethod?: Record<string, unknown>;
}

export interface DeviceProperty {
  name: string;
  desired?: TwinProperty;
  visitors?: VisitorConfig;
  /** Nanoseconds between reports (KubeEdge's mapper-framework reads it as a Go time.Duration: 10000000000 = 10 s). */
  reportCycle?: number;
  /** Nanoseconds between reads from the device. */
  collectCycle?: number;
  reportToCloud?: boolean;
  pushMethod?: PushMethod;
}

export interface DeviceMethod {
  name: string;
  description?: string;
  propertyNames?: string[];
}

export interface DeviceSpec {
  deviceModelRef?: { name?: string };
  nodeName?: string;
  properties?: DeviceProperty[];
  protocol?: ProtocolConfig;
  methods?: DeviceMethod[];
}

export interface Twin {
  propertyName: string;
  reported?: TwinProperty;
  /** The desired value the edge (mapper) had received when it reported. */
  observedDesired?: TwinProperty;
}

/** Reported state: `Device.status` in KubeEdge ≤ v1.22, `DeviceStatus.status` from v1.23. */
export interface DeviceStatusFields {
  twins?: Twin[];
  state?: string;
  lastOnlineTime?: string;
  reportToCloud?: boolean;
  reportCycle?: number;
  extensions?: Record<string, unknown>;
}

export interface Device {
  apiVersion?: string;
  kind?: 'Device';
  metadata: ObjectMetaLite;
  spec: DeviceSpec;
  status?: DeviceStatusFields;
}

/** KubeEdge v1.23+: one per Device, same namespace/name, ownerReferences → the Device; spec is empty. */
export interface DeviceStatus {
  apiVersion?: string;
  kind?: 'DeviceStatus';
  metadata: ObjectMetaLite;
  spec?: Record<string, never>;
  status?: DeviceStatusFields;
}

/** Device states as KubeEdge's mappers report them (any other string is carried as is). */
export type DeviceState = 'online' | 'offline' | 'unknown' | 'ok' | 'disconnected' | (string & {});

/** Metadata key of a twin value's report time (ms since epoch, as a decimal string): how the cloud orders reports. */
export const TWIN_TIMESTAMP_KEY = 'timestamp';

/** The model a device names, or undefined when it names none. */
/** A reportCycle/collectCycle (nanoseconds, Go time.Duration) in milliseconds; 0 when absent or not positive. */
export function cycleMs(nanoseconds: number | undefined): number {
  return nanoseconds !== undefined && Number.isFinite(nanoseconds) && nanoseconds > 0 ? nanoseconds / 1e6 : 0;
}

export function deviceModelName(device: Device): string | undefined {
  return device.spec.deviceModelRef?.name || undefined;
}

export function deviceProtocolName(device: Device, model?: DeviceModel): string | undefined {
  return device.spec.protocol?.protocolName || model?.spec.protocol || undefined;
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN_VALUES = new Set(['true', 'false']);
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Why `value` is not a valid value of model property `prop` (its type, then its minimum/maximum), or undefined when
 * it is. One rule for the API server's admission (a Device's desired values) and the edge (reported values from
 * MQTT and mappers: type only, `checkBounds` false — a sensor's reading outside the model's range is still news).
 * BYTES values are base64 as in KubeEdge's JSON.
 */
export function propertyValueProblem(prop: Pick<ModelProperty, 'type' | 'minimum' | 'maximum'>, value: string, checkBounds = true): string | undefined {
  switch (prop.type) {
    case 'INT':
      if (!INT_RE.test(value.trim())) return `must be an integer (type INT)`;
      break;
    case 'FLOAT':
    case 'DOUBLE':
      if (!FLOAT_RE.test(value.trim())) return `must be a number (type ${prop.type})`;
      break;
    case 'BOOLEAN':
      if (!BOOLEAN_VALUES.has(value.trim().toLowerCase())) return `must be true or false (type BOOLEAN)`;
      return undefined;
    case 'BYTES':
      if (!BASE64_RE.test(value)) return `must be base64-encoded bytes (type BYTES)`;
      return undefined;
    default:
      return undefined;
  }
  if (!checkBounds) return undefined;
  const n = Number(value);
  const min = prop.minimum !== undefined && prop.minimum !== '' ? Number(prop.minimum) : undefined;
  const max = prop.maximum !== undefined && prop.maximum !== '' ? Number(prop.maximum) : undefined;
  if (min !== undefined && Number.isFinite(min) && n < min) return `must be at least ${prop.minimum} (the model's minimum)`;
  if (max !== undefined && Number.isFinite(max) && n > max) return `must be at most ${prop.maximum} (the model's maximum)`;
  return undefined;
}
