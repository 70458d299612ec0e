/**
 * KubeEdge DMI v1beta1 messages as @grpc/proto-loader gives and takes them (keepCase: field names exactly as in
 * api.proto; int64 as number; bytes as Buffer). Every field is optional: proto3 has no required fields, and a
 * message from a peer is checked by its receiver (src/edge/devices/dmi/validate.ts, src/mapper), never trusted.
 */

/** google.protobuf.Any on the wire: a type URL and the packed message's bytes. */
export interface AnyMessage {
  type_url?: string;
  value?: Buffer | Uint8Array;
}

export interface CustomizedValueMessage {
  data?: Record<string, AnyMessage>;
}

export interface TwinPropertyMessage {
  value?: string;
  metadata?: Record<string, string>;
}

export interface ModelPropertyMessage {
  name?: string;
  description?: string;
  type?: string;
  accessMode?: string;
  minimum?: string;
  maximum?: string;
  unit?: string;
}

export interface DeviceModelMessage {
  name?: string;
  namespace?: string;
  spec?: { properties?: ModelPropertyMessage[]; commands?: unknown[] } | null;
}

export interface PushMethodMessage {
  http?: { hostname?: string; port?: number; requestpath?: string; timeout?: number } | null;
  mqtt?: { address?: string; topic?: string; qos?: number; retained?: boolean } | null;
  dbMethod?: Record<string, unknown> | null;
  otel?: { endpointURL?: string } | null;
}

export interface DevicePropertyMessage {
  name?: string;
  desired?: TwinPropertyMessage | null;
  visitors?: { protocolName?: string; configData?: CustomizedValueMessage | null } | null;
  reportCycle?: number;
  collectCycle?: number;
  reportToCloud?: boolean;
  pushMethod?: PushMethodMessage | null;
}

export interface TwinMessage {
  propertyName?: string;
  observedDesired?: TwinPropertyMessage | null;
  reported?: TwinPropertyMessage | null;
}

export interface DeviceStatusMessage {
  twins?: TwinMessage[];
  reportToCloud?: boolean;
  reportCycle?: number;
}

export interface DeviceMessage {
  name?: string;
  namespace?: string;
  spec?: {
    deviceModelReference?: string;
    protocol?: { protocolName?: string; configData?: CustomizedValueMessage | null } | null;
    properties?: DevicePropertyMessage[];
    methods?: Array<{ name?: string; description?: string; propertyNames?: string[] }>;
  } | null;
  status?: DeviceStatusMessage | null;
}

export interface MapperInfoMessage {
  name?: string;
  version?: string;
  api_version?: string;
  protocol?: string;
  /** The mapper's DeviceMapperService socket path (bytes on the wire). */
  address?: Buffer | Uint8Array;
  state?: string;
}

export interface MapperRegisterRequest {
  withData?: boolean;
  mapper?: MapperInfoMessage | null;
}

export interface MapperRegisterResponse {
  modelList?: DeviceModelMessage[];
  deviceList?: DeviceMessage[];
}

export interface ReportDeviceStatusRequest {
  deviceName?: string;
  deviceNamespace?: string;
  reportedDevice?: DeviceStatusMessage | null;
}

export interface ReportDeviceStatesRequest {
  deviceName?: string;
  deviceNamespace?: string;
  state?: string;
}

export interface DeviceRef {
  deviceName?: string;
  deviceNamespace?: string;
}

export interface ModelRef {
  modelName?: string;
  modelNamespace?: string;
}

/** KubeEdge's default edge socket (Kedge puts it in the node's data dir). Here, not in load.ts: no gRPC loaded for it. */
export const KUBEEDGE_DMI_SOCKET = '/etc/kubeedge/dmi.sock';
export const DMI_SOCKET_FILE = 'dmi.sock';
